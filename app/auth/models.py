"""API tokens (stored as hashes) and the login failure counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import UTCDateTime
from app.extensions import db
from app.orgs.models import User


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    """A bearer token: only its sha256 is stored, so a leaked table grants nothing."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")


class LoginFailure(db.Model):  # type: ignore[name-defined,misc]
    """Recent failed logins of one username ("user:<name>") or address ("addr:<ip>").

    A table rather than a per-process counter so that every worker process sees the same
    count; a success deletes the username's row and stale rows are purged as failures come in.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_last", "last_failed_at"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
