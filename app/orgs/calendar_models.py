"""Working-time calendars in the database: per org unit, inherited down the tree.

They sit with the org units (below the core package) because the unit of work needs the
calendar of a case's unit on every step.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String
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
