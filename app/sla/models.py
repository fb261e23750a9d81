"""SLA tables: working-time calendars (per org unit, admin-extended) and the daily digest.

Only the exceptions to Monday-Friday are stored (weekday holidays, weekend 调休 working days),
the same shape :class:`workflows.calendar.WorkingCalendar` takes. ``calendar_years`` says which
years have real data: any other year falls back to Monday-Friday with a warning. ``etag``
changes on every edit of a calendar or of its assignments, so every process (web workers,
schedulers) notices a change with one small query and rebuilds its cached calendar.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.database import JSONType, UTCDateTime
from app.extensions import db


class SlaDigest(db.Model):  # type: ignore[name-defined,misc]
    """The daily SLA digest of one org unit (its whole subtree), written once per day."""

    __tablename__ = "sla_digests"
    __table_args__ = (UniqueConstraint("org_unit_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    day: Mapped[date] = mapped_column(Date, index=True)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
