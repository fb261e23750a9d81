"""Calendar administration: seeding from chinesecalendar, new calendars, a year's schedule
entered by an admin, per-unit assignment, and the coverage report.

Writes use ``db.session`` and leave the transaction to the caller (the CLI, the API views and
the demo seed each wrap them in one ``write_transaction``). Every write changes the calendar's
``etag``, which is how every process's cached calendars (``app.sla.calendars``) notice it, and
appends its event to the admin log (管理日志, ``app.admin.events``) in the same transaction:
a calendar decides every deadline, so who changed which day when is an auditor's question.
Like every admin change, each takes the log's head lock first.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, insert, select

from app.admin import events as admin_log
from app.admin.models import AdminEventHead
from app.extensions import db
from app.orgs.calendar_models import Calendar, CalendarDay, CalendarYear, OrgUnitCalendar
from app.orgs.calendars import NATIONAL, invalidate
from app.orgs.models import OrgUnit
from workflows import clock
from workflows.calendar import DEFAULT_HOURS, WorkingCalendar, default_calendar

log = logging.getLogger(__name__)

COVERAGE_HORIZON = timedelta(days=60)


class CalendarError(ValueError):
    """Bad calendar input; ``field`` names what is wrong (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


# -- input -----------------------------------------------------------------------------------


def parse_hours(spec: Sequence[Sequence[str]] | None) -> tuple[tuple[time, time], ...]:
    """``[["09:00", "12:00"], ...]`` → periods, checked the way WorkingCalendar checks them."""
    if spec is None:
        return DEFAULT_HOURS
    try:
        periods = tuple((time.fromisoformat(s), time.fromisoformat(e)) for s, e in spec)
        WorkingCalendar(days={}, covered_years=frozenset(), hours=periods)
    except (TypeError, ValueError) as exc:
        raise CalendarError("hours", f"bad working hours {spec!r}: {exc}") from exc
    return periods


def _hours_json(periods: Iterable[tuple[time, time]]) -> list[list[str]]:
    return [[s.strftime("%H:%M"), e.strftime("%H:%M")] for s, e in periods]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError("tz", f"unknown time zone {name!r}") from exc


def get_calendar(name: str) -> Calendar | None:
    return db.session.scalar(select(Calendar).where(Calendar.name == name))


def _touch(calendar: Calendar, actor: str) -> None:
    calendar.etag = uuid.uuid4().hex
    calendar.updated_at = clock.now()
    calendar.updated_by = actor
    invalidate()


# -- writes (the caller owns the transaction) ------------------------------------------------


def _lock_log() -> AdminEventHead:
    """The admin log's head, locked first as every admin change does (one lock order)."""
    return admin_log.lock_head(db.session())


def _days(days: Iterable[date]) -> list[str]:
    return [d.isoformat() for d in sorted(days)]


def create_calendar(
    *,
    name: str,
    actor: str,
    tz: str = "Asia/Shanghai",
    hours: Sequence[Sequence[str]] | None = None,
    copy_from: str | None = None,
    is_default: bool = False,
) -> Calendar:
    """A new calendar; ``copy_from`` copies another calendar's days and covered years."""
    head = _lock_log()
    if get_calendar(name) is not None:
        raise CalendarError("name", f"calendar {name!r} already exists")
    _zone(tz)
    calendar = Calendar(name=name, tz=tz, hours=_hours_json(parse_hours(hours)))
    calendar.is_default = is_default
    _touch(calendar, actor)
    db.session.add(calendar)
    db.session.flush()
    if copy_from is not None:
        source = get_calendar(copy_from)
        if source is None:
            raise CalendarError("copy_from", f"unknown calendar {copy_from!r}")
        days = db.session.execute(
            select(CalendarDay.day, CalendarDay.is_workday).where(
                CalendarDay.calendar_id == source.id
            )
        )
        _insert_days(calendar.id, {d: w for d, w in days})
        for row in db.session.scalars(
            select(CalendarYear).where(CalendarYear.calendar_id == source.id)
        ):
            db.session.add(
                CalendarYear(
                    calendar_id=calendar.id,
                    year=row.year,
                    source=row.source,
                    updated_at=calendar.updated_at,
                    updated_by=actor,
                )
            )
    admin_log.append(
        head,
        type="calendar.created",
        actor=actor,
        data={
            "calendar": name,
            "tz": tz,
            "hours": calendar.hours,
            "copy_from": copy_from,
            "is_default": is_default,
        },
    )
    return calendar


def _insert_days(calendar_id: int, days: dict[date, bool]) -> None:
    if days:
        db.session.execute(
            insert(CalendarDay),
            [{"calendar_id": calendar_id, "day": d, "is_workday": w} for d, w in days.items()],
        )


def seed_national(*, actor: str = "seed") -> int:
    """The national calendar from ``chinesecalendar`` (2004-2026 in the installed release):
    created when missing, and every packaged year it lacks is added. Returns years added;
    years an admin entered are never overwritten."""
    head = _lock_log()
    package = default_calendar()
    calendar = get_calendar(NATIONAL)
    if calendar is None:
        has_default = db.session.scalar(select(Calendar.id).where(Calendar.is_default))
        calendar = create_calendar(name=NATIONAL, actor=actor, is_default=has_default is None)
    have = set(
        db.session.scalars(select(CalendarYear.year).where(CalendarYear.calendar_id == calendar.id))
    )
    missing = sorted(package.covered_years - have)
    if not missing:
        return 0
    wanted = set(missing)
    _insert_days(calendar.id, {d: w for d, w in package.days.items() if d.year in wanted})
    now = clock.now()
    for year in missing:
        db.session.add(
            CalendarYear(
                calendar_id=calendar.id,
                year=year,
                source="chinesecalendar",
                updated_at=now,
                updated_by=actor,
            )
        )
    _touch(calendar, actor)
    admin_log.append(
        head,
        type="calendar.years_seeded",
        actor=actor,
        data={"calendar": NATIONAL, "years": missing, "source": "chinesecalendar"},
    )
    return len(missing)


def set_year(
    *,
    name: str,
    year: int,
    days_off: Iterable[date],
    workdays: Iterable[date],
    actor: str,
) -> Calendar:
    """Enter (or replace) a year's schedule: weekdays off and weekend 调休 working days."""
    head = _lock_log()
    calendar = get_calendar(name)
    if calendar is None:
        raise CalendarError("calendar", f"unknown calendar {name!r}")
    if not 1900 <= year <= 2200:
        raise CalendarError("year", f"year {year} is out of range")
    off, work = set(days_off), set(workdays)
    for label, days in (("days_off", off), ("workdays", work)):
        strays = sorted(d for d in days if d.year != year)
        if strays:
            raise CalendarError(label, f"{strays[0].isoformat()} is not in {year}")
    both = sorted(off & work)
    if both:
        raise CalendarError("workdays", f"{both[0].isoformat()} is both a day off and a workday")
    db.session.execute(
        delete(CalendarDay).where(
            CalendarDay.calendar_id == calendar.id,
            CalendarDay.day >= date(year, 1, 1),
            CalendarDay.day <= date(year, 12, 31),
        )
    )
    _insert_days(calendar.id, {**dict.fromkeys(off, False), **dict.fromkeys(work, True)})
    row = db.session.get(CalendarYear, (calendar.id, year))
    replaced = None if row is None else row.source
    if row is None:
        row = CalendarYear(calendar_id=calendar.id, year=year)
        db.session.add(row)
    row.source, row.updated_at, row.updated_by = "admin", clock.now(), actor
    _touch(calendar, actor)
    admin_log.append(
        head,
        type="calendar.year_set",
        actor=actor,
        data={
            "calendar": name,
            "year": year,
            "days_off": _days(off),
            "workdays": _days(work),
            "replaced": replaced,  # the source of the schedule it replaced, if any
        },
    )
    log.info(
        "calendar %s: %s entered by %s (%d off, %d worked)", name, year, actor, len(off), len(work)
    )
    return calendar


def assign_calendar(*, unit: OrgUnit, name: str | None, actor: str) -> None:
    """Give ``unit`` (and the units below it without their own) a calendar; None: inherit."""
    head = _lock_log()
    calendar = get_calendar(name) if name is not None else None
    if name is not None and calendar is None:
        raise CalendarError("calendar", f"unknown calendar {name!r}")
    row = db.session.get(OrgUnitCalendar, unit.id)
    previous = None if row is None else db.session.get(Calendar, row.calendar_id)
    before = None if previous is None else previous.name
    if before == name:
        return  # nothing changes, nothing is written (nor logged)
    if row is not None:
        if previous is not None:
            _touch(previous, actor)
        if calendar is None:
            db.session.delete(row)
        else:
            row.calendar_id = calendar.id
    elif calendar is not None:
        db.session.add(OrgUnitCalendar(org_unit_id=unit.id, calendar_id=calendar.id))
    if calendar is not None:
        _touch(calendar, actor)
    admin_log.append(
        head,
        type="calendar.assigned",
        actor=actor,
        data={"unit": unit.code, "calendar": name, "previous": before},
    )


def coverage(
    *, today: date | None = None, horizon: timedelta = COVERAGE_HORIZON
) -> list[dict[str, Any]]:
    """Every calendar with its covered years and the years missing before ``today + horizon``."""
    if today is None:
        today = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    end = today + horizon
    units: dict[int, list[str]] = {}
    for cal_id, code in db.session.execute(
        select(OrgUnitCalendar.calendar_id, OrgUnit.code).join(
            OrgUnit, OrgUnit.id == OrgUnitCalendar.org_unit_id
        )
    ):
        units.setdefault(cal_id, []).append(code)
    years: dict[int, list[int]] = {}
    for cal_id, year in db.session.execute(
        select(CalendarYear.calendar_id, CalendarYear.year).order_by(CalendarYear.year)
    ):
        years.setdefault(cal_id, []).append(year)
    result = []
    for row in db.session.scalars(select(Calendar).order_by(Calendar.id)):
        covered = years.get(row.id, [])
        missing = [y for y in range(today.year, end.year + 1) if y not in covered]
        result.append(
            {
                "name": row.name,
                "tz": row.tz,
                "hours": row.hours,
                "is_default": row.is_default,
                "org_units": sorted(units.get(row.id, [])),
                "years": covered,
                "first_year": covered[0] if covered else None,
                "last_year": covered[-1] if covered else None,
                "missing": missing,
                "warning": (
                    f"no holiday schedule for {', '.join(map(str, missing))}: Monday-Friday "
                    f"is used until an admin enters it"
                    if missing
                    else None
                ),
                "updated_at": row.updated_at,
                "updated_by": row.updated_by,
            }
        )
    return result


def warn_uncovered(*, today: date | None = None) -> list[str]:
    """Log one warning per calendar not covering the next 60 days; returns the messages."""
    messages = [
        f"calendar {c['name']}: {c['warning']}" for c in coverage(today=today) if c["warning"]
    ]
    for message in messages:
        log.warning(message)
    return messages
