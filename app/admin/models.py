"""The admin audit log (管理日志): append-only and hash chained, like a case's events.

Admin changes (users, roles, org units) belong to no case, so they get a chain of their own.
``admin_event_head`` is one row holding the chain's head (its last seq and hash): every admin
write locks it first, which serializes admin changes across processes, makes appending read
nothing else, and lets verification notice rows cut off the end of the chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.database import JSONType, UTCDateTime
from app.extensions import db


class AdminEvent(db.Model):  # type: ignore[name-defined,misc]
    """One admin change: who, when, what (the data before and after; never a password)."""

    __tablename__ = "admin_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)
    type: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AdminEventHead(db.Model):  # type: ignore[name-defined,misc]
    """The chain's head: a single row (id 1), created by the first admin change."""

    __tablename__ = "admin_event_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
