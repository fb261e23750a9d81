"""Functions every BPMN script, condition and timer expression may call.

Deadlines are working time on the case's calendar, so these read the calendar of the instance
being run from a context variable that the engine sets for the duration of one action. They
return ISO 8601 UTC strings, the form a BPMN ``timeDate`` expression must evaluate to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta

from workflows import clock
from workflows.calendar import CALENDAR_24_7, WorkingCalendar, default_calendar

# A calendar, or a factory that resolves one on first use: most steps never compute a
# deadline, and finding a unit's calendar may cost the caller a database round trip.
CalendarSource = WorkingCalendar | Callable[[], WorkingCalendar] | None
_calendar: ContextVar[list[CalendarSource]] = ContextVar("gridcase_calendar")


@contextmanager
def using_calendar(calendar: CalendarSource) -> Iterator[None]:
    token = _calendar.set([calendar])
    try:
        yield
    finally:
        _calendar.reset(token)


def current_calendar() -> WorkingCalendar:
    slot = _calendar.get(None)
    source = slot[0] if slot else None
    if source is None:
        return default_calendar()
    if not isinstance(source, WorkingCalendar):
        source = slot[0] = source()  # type: ignore[index]
    return source


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def now() -> datetime:
    return clock.now()


def add_working_hours(hours: float) -> str:
    return _iso(current_calendar().add_working_hours(clock.now(), hours))


def add_working_days(days: int) -> str:
    return _iso(current_calendar().add_working_days(clock.now(), days))


def end_of_working_day() -> str:
    return _iso(current_calendar().end_of_working_day(clock.now()))


def add_calendar_hours(hours: float) -> str:
    return _iso(CALENDAR_24_7.add_working_hours(clock.now(), hours))


def fraction_of(start_iso: str, due_iso: str, fraction: float) -> str:
    """The moment ``fraction`` of the working time from start to due has passed (reminders)."""
    calendar = current_calendar()
    start, due = datetime.fromisoformat(start_iso), datetime.fromisoformat(due_iso)
    budget = calendar.working_time_between(start, due)
    return _iso(calendar.add_working_hours(start, budget * fraction / timedelta(hours=1)))


SCRIPT_FUNCTIONS: dict[str, Callable[..., object]] = {
    "now": now,
    "add_working_hours": add_working_hours,
    "add_working_days": add_working_days,
    "end_of_working_day": end_of_working_day,
    "add_calendar_hours": add_calendar_hours,
    "fraction_of": fraction_of,
}
