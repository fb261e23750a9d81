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

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.database import JSONType, UTCDateTime
from app.extensions import db


class Calendar(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    tz: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # [["09:00", "12:00"], ["13:30", "18:00"]]: local, sorted, non-overlapping
    hours: Mapped[list[list[str]]] = mapped_column(JSONType)
    # the calendar of every org unit that has none of its own, up the tree
    is_default: Mapped[bool] = mapped_column(default=False)
    etag: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(80))


class CalendarDay(db.Model):  # type: ignore[name-defined,misc]
    """An exception to Monday-Friday: a weekday off, or a weekend working day (调休)."""

    __tablename__ = "calendar_days"

    calendar_id: Mapped[int] = mapped_column(
        ForeignKey("calendars.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool]


class CalendarYear(db.Model):  # type: ignore[name-defined,misc]
    """A year whose holiday schedule was entered (seeded or by an admin)."""

    __tablename__ = "calendar_years"

    calendar_id: Mapped[int] = mapped_column(
        ForeignKey("calendars.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(40))  # chinesecalendar | admin
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(80))


class OrgUnitCalendar(db.Model):  # type: ignore[name-defined,misc]
    """An org unit's own calendar; the units below it inherit it unless they have their own."""

    __tablename__ = "org_unit_calendars"

    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id"), index=True)


class SlaDigest(db.Model):  # type: ignore[name-defined,misc]
    """The daily SLA digest of one org unit (its whole subtree), written once per day."""

    __tablename__ = "sla_digests"
    __table_args__ = (UniqueConstraint("org_unit_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    day: Mapped[date] = mapped_column(Date, index=True)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
