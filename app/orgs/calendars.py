"""Working-time calendars from the database: which calendar a case or an org unit runs on.

The arithmetic is :class:`workflows.calendar.WorkingCalendar` (pure); this module feeds it the
rows of ``calendars``/``calendar_days``/``calendar_years``. Each process keeps the built
calendars in memory and re-checks one small query (every calendar's ``etag``) per lookup, so
an admin's edit reaches web workers and schedulers at their next action without a restart.

A year without data never fails: the calendar falls back to Monday-Friday and logs a warning
(once per calendar and year); ``calendar_admin.coverage`` reports the gap ahead of time, and
the scheduler warns when the next 60 days are not covered. Edits live in ``calendar_admin``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.extensions import db
from app.orgs.calendar_models import Calendar, CalendarDay, CalendarYear, OrgUnitCalendar
from app.orgs.models import OrgUnit
from workflows.calendar import CALENDAR_24_7, WorkingCalendar, default_calendar

log = logging.getLogger(__name__)

NATIONAL = "national"


@dataclass(frozen=True)
class LoggedCalendar(WorkingCalendar):
    """A calendar that logs (instead of ``warnings.warn``) when it meets a year without data:
    a server must keep computing deadlines, and the log is where operators look."""

    label: str = field(default="", compare=False)

    def is_working_day(self, day: date) -> bool:
        if (
            not self.around_the_clock
            and not isinstance(day, datetime)
            and day not in self.days
            and day.year not in self.covered_years
            and day.year not in self._warned_years
        ):
            self._warned_years.add(day.year)
            log.warning(
                "calendar %s has no working-day data for %s: Monday-Friday is used until an "
                "admin enters that year's schedule",
                self.label or "?",
                day.year,
            )
        return super().is_working_day(day)


@dataclass
class _Snapshot:
    token: tuple[tuple[int, str], ...] | None = None
    calendars: dict[int, LoggedCalendar] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    units: dict[int, int] = field(default_factory=dict)  # org unit id -> calendar id
    default_id: int | None = None


_snapshot = _Snapshot()
_lock = threading.Lock()
_builtin: LoggedCalendar | None = None


def invalidate() -> None:
    """Forget the built calendars of this process (the etag check catches other processes)."""
    global _snapshot
    with _lock:
        _snapshot = _Snapshot()


def builtin_calendar() -> LoggedCalendar:
    """The package's national calendar, for a database that has no calendar yet."""
    global _builtin
    if _builtin is None:
        package = default_calendar()
        _builtin = LoggedCalendar(
            days=package.days, covered_years=package.covered_years, label="built-in"
        )
    return _builtin


_CHECKED = "gridcase.calendars_checked_in"


def _current() -> _Snapshot:
    """The built calendars, their etags checked once per database transaction (a page of
    fifty cases asks once, not fifty times; a write here invalidates at once)."""
    session = db.session()
    snapshot = _snapshot
    transaction = session.get_transaction()
    fresh = transaction is not None and session.info.get(_CHECKED) is transaction
    if fresh and snapshot.token is not None:
        return snapshot
    with session.no_autoflush:
        snapshot = _load_snapshot()
    session.info[_CHECKED] = session.get_transaction()
    return snapshot


def _load_snapshot() -> _Snapshot:
    global _snapshot
    token = tuple(
        (i, e)
        for i, e in db.session.execute(select(Calendar.id, Calendar.etag).order_by(Calendar.id))
    )
    snapshot = _snapshot
    if snapshot.token == token:
        return snapshot
    with _lock:
        if _snapshot.token == token:
            return _snapshot
        fresh = _Snapshot(token=token)
        days: dict[int, dict[date, bool]] = {}
        for cal_id, day, working in db.session.execute(
            select(CalendarDay.calendar_id, CalendarDay.day, CalendarDay.is_workday)
        ):
            days.setdefault(cal_id, {})[day] = working
        years: dict[int, set[int]] = {}
        for cal_id, year in db.session.execute(select(CalendarYear.calendar_id, CalendarYear.year)):
            years.setdefault(cal_id, set()).add(year)
        for row in db.session.scalars(select(Calendar)):
            fresh.calendars[row.id] = LoggedCalendar(
                days=days.get(row.id, {}),
                covered_years=frozenset(years.get(row.id, ())),
                hours=_periods(row.hours),
                tz=ZoneInfo(row.tz),
                label=row.name,
            )
            fresh.names[row.id] = row.name
            if row.is_default and fresh.default_id is None:
                fresh.default_id = row.id
        fresh.units = {
            unit_id: cal_id
            for unit_id, cal_id in db.session.execute(
                select(OrgUnitCalendar.org_unit_id, OrgUnitCalendar.calendar_id)
            )
        }
        _snapshot = fresh
        return fresh


def _periods(spec: list[list[str]]) -> tuple[tuple[time, time], ...]:
    return tuple((time.fromisoformat(s), time.fromisoformat(e)) for s, e in spec)


def _resolve(path: str) -> tuple[str, WorkingCalendar]:
    snapshot = _current()
    for unit_id in reversed([int(p) for p in path.strip("/").split("/") if p]):
        cal_id = snapshot.units.get(unit_id)
        if cal_id is not None and cal_id in snapshot.calendars:
            return snapshot.names[cal_id], snapshot.calendars[cal_id]
    if snapshot.default_id is not None:
        return snapshot.names[snapshot.default_id], snapshot.calendars[snapshot.default_id]
    return "built-in", builtin_calendar()


def calendar_for(unit: OrgUnit | None) -> WorkingCalendar:
    """The working calendar of ``unit``: its own, else the nearest ancestor's, else the
    default (the seeded national one), else the package's built-in national calendar."""
    return _resolve(unit.path if unit is not None else "/")[1]


def calendar_name_for(unit: OrgUnit | None) -> str:
    return _resolve(unit.path if unit is not None else "/")[0]


def case_calendar(case: Any) -> WorkingCalendar:
    """The calendar a case's SLA clock runs on: around the clock for urgent (紧急) cases,
    the org unit's working time otherwise."""
    if case.urgent or case.mode == "urgent":
        return CALENDAR_24_7
    return calendar_for(case.org_unit)


def working_day_length(calendar: WorkingCalendar) -> timedelta:
    """One working day of ``calendar`` as working time (7.5 h by default, 24 h for 24/7)."""
    if calendar.around_the_clock:
        return timedelta(days=1)
    anchor = date(2000, 1, 3)
    return sum(
        (datetime.combine(anchor, e) - datetime.combine(anchor, s) for s, e in calendar.hours),
        timedelta(0),
    )
