"""Working-time calendar for SLA deadlines (pure: no database, no Flask).

Why a class of its own: every deadline in Gridcase ("2 working hours", "1 working day", 即办) is
measured in a Chinese government office's working time, which follows the State Council holiday
schedule including 调休 make-up days on weekends. The app stores calendar days in a table and
hands them to :class:`WorkingCalendar`; this module only does the arithmetic.

Semantics:

- Inputs must be timezone-aware (naive datetimes raise ``ValueError``); results are in UTC.
  Internally days and clock times are those of ``tz``; durations are measured in UTC, so a DST
  zone would still count real elapsed time.
- A day is a working day if ``days`` says so, otherwise Monday-Friday. For a year not in
  ``covered_years`` the Monday-Friday rule is used and a :class:`CalendarGapWarning` is emitted
  once per (calendar, year): an unknown year must never stop deadline computation, and
  ``chinese_calendar`` is never consulted at query time (it raises for years it lacks).
- Working periods are half-open ``[start, end)``: 12:00 and 18:00 are not working moments, so
  :meth:`~WorkingCalendar.next_working_moment` of 12:00 is 13:30.
- ``add_working_hours(m, h)`` returns the *earliest* instant by which ``h`` working hours have
  elapsed since ``m``: 09:00 + 3 h = 12:00 (not 13:30), and ``h = 0`` returns ``m`` itself.
- ``add_working_days(m, n)`` first normalises ``m`` to ``next_working_moment(m)`` (before
  hours -> first period start; lunch break -> 13:30; after hours or a day off -> the next working
  day's first start), then keeps that clock time on the n-th following working day.
- ``end_of_working_day(m)`` (即办) is the end of the last period of the working day that contains
  ``next_working_moment(m)``: a case arriving after hours or on a day off closes the next
  working day.
- ``working_time_between(a, b)`` is the working time inside ``[a, b]`` (zero when ``b <= a``),
  the exact inverse of ``add_working_hours`` (microsecond arithmetic, no rounding).
- ``around_the_clock`` (紧急 cases): every day works and every minute counts; adding days adds
  ``n * 24h`` and the end of the working day is the next local midnight.
- Arithmetic loops over days, never minutes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from types import MappingProxyType
from zoneinfo import ZoneInfo

__all__ = [
    "CALENDAR_24_7",
    "DEFAULT_HOURS",
    "DEFAULT_TZ",
    "CalendarGapWarning",
    "WorkingCalendar",
    "chinese_calendar_exceptions",
    "default_calendar",
]

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_HOURS: tuple[tuple[time, time], ...] = (
    (time(9, 0), time(12, 0)),
    (time(13, 30), time(18, 0)),
)

# A run of non-working days this long means the calendar data is broken; fail loudly instead of
# looping forever.
_MAX_DAYS_OFF = 3660
_ONE_DAY = timedelta(days=1)


class CalendarGapWarning(UserWarning):
    """A year has no holiday data; Monday-Friday is used until an admin enters the schedule."""


def _require_aware(moment: datetime) -> datetime:
    """Return ``moment`` in UTC; naive input is refused because its instant is ambiguous."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timezone-aware datetime required, got naive {moment!r}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days and hours of one org unit; exceptions only, Monday-Friday otherwise."""

    days: Mapping[date, bool]
    covered_years: frozenset[int]
    hours: tuple[tuple[time, time], ...] = DEFAULT_HOURS
    tz: ZoneInfo = DEFAULT_TZ
    around_the_clock: bool = False
    _warned_years: set[int] = field(
        default_factory=set, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        # Freeze the inputs so a cached calendar cannot be changed behind its users' backs.
        object.__setattr__(self, "days", MappingProxyType(dict(self.days)))
        object.__setattr__(self, "covered_years", frozenset(self.covered_years))
        object.__setattr__(self, "hours", tuple((s, e) for s, e in self.hours))
        if not self.around_the_clock:
            if not self.hours:
                raise ValueError("at least one working period is required")
            previous_end: time | None = None
            for start, end in self.hours:
                if start.tzinfo or end.tzinfo or not start < end:
                    raise ValueError(f"bad working period {start}-{end}: naive, start < end")
                if previous_end is not None and start < previous_end:
                    raise ValueError("working periods must be sorted and must not overlap")
                previous_end = end

    # -- days ------------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` (a local calendar date) is a working day."""
        if isinstance(day, datetime):
            raise TypeError("is_working_day takes a date; convert the datetime to local time first")
        if self.around_the_clock:
            return True
        explicit = self.days.get(day)
        if explicit is not None:
            return explicit
        if day.year not in self.covered_years and day.year not in self._warned_years:
            self._warned_years.add(day.year)
            warnings.warn(
                f"no working-day data for {day.year}: falling back to Monday-Friday",
                CalendarGapWarning,
                stacklevel=2,
            )
        return day.weekday() < 5

    def uncovered_years(self, start: date, end: date) -> list[int]:
        """Years in ``[start, end]`` without data, so the app can warn before it matters."""
        if self.around_the_clock:
            return []
        return [y for y in range(start.year, end.year + 1) if y not in self.covered_years]

    # -- internals -------------------------------------------------------------------------------

    def _local_day(self, moment_utc: datetime) -> date:
        return moment_utc.astimezone(self.tz).date()

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.tz).astimezone(UTC)

    def _periods(self, day: date) -> list[tuple[datetime, datetime]]:
        """The UTC working periods of ``day``; empty on a day off."""
        if not self.is_working_day(day):
            return []
        return [(self._at(day, s), self._at(day, e)) for s, e in self.hours]

    def _periods_from(self, moment_utc: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Periods that end after ``moment_utc``, day by day; lazy so it never peeks ahead."""
        day = self._local_day(moment_utc)
        days_off = 0
        while True:
            periods = self._periods(day)
            days_off = 0 if periods else days_off + 1
            if days_off > _MAX_DAYS_OFF:
                raise ValueError(f"no working day within {_MAX_DAYS_OFF} days of {moment_utc}")
            for start, end in periods:
                if end > moment_utc:
                    yield start, end
            day += _ONE_DAY

    def _next_working_day(self, day: date) -> date:
        for _ in range(_MAX_DAYS_OFF):
            day += _ONE_DAY
            if self.is_working_day(day):
                return day
        raise ValueError(f"no working day within {_MAX_DAYS_OFF} days of {day}")

    # -- queries ---------------------------------------------------------------------------------

    def next_working_moment(self, moment: datetime) -> datetime:
        """``moment`` itself if it is working time, else the start of the next period."""
        moment_utc = _require_aware(moment)
        if self.around_the_clock:
            return moment_utc
        start, _ = next(self._periods_from(moment_utc))
        return max(start, moment_utc)

    def add_working_hours(self, moment: datetime, hours: float) -> datetime:
        """The earliest instant at which ``hours`` working hours have elapsed since ``moment``."""
        moment_utc = _require_aware(moment)
        if not math.isfinite(hours) or hours < 0:
            raise ValueError(f"hours must be a finite non-negative number, got {hours!r}")
        remaining = timedelta(hours=hours)
        if self.around_the_clock or not remaining:
            return moment_utc + remaining
        for start, end in self._periods_from(moment_utc):
            start = max(start, moment_utc)
            if remaining <= end - start:
                return start + remaining
            remaining -= end - start
        raise AssertionError("unreachable: _periods_from is infinite")  # pragma: no cover

    def add_working_days(self, moment: datetime, days: int) -> datetime:
        """The normalised moment's clock time on the ``days``-th following working day."""
        moment_utc = _require_aware(moment)
        if days < 0:
            raise ValueError(f"days must be non-negative, got {days!r}")
        if self.around_the_clock:
            return moment_utc + days * _ONE_DAY
        local = self.next_working_moment(moment_utc).astimezone(self.tz)
        day = local.date()
        for _ in range(days):
            day = self._next_working_day(day)
        return datetime.combine(day, local.time(), tzinfo=self.tz).astimezone(UTC)

    def end_of_working_day(self, moment: datetime) -> datetime:
        """Deadline for 即办: the close of the working day ``moment`` falls in (or the next one)."""
        moment_utc = _require_aware(moment)
        if self.around_the_clock:
            return self._at(self._local_day(moment_utc) + _ONE_DAY, time(0))
        day = self._local_day(self.next_working_moment(moment_utc))
        return self._at(day, self.hours[-1][1])

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time inside ``[start, end]``; used for remaining time and 挂起 pauses."""
        start_utc, end_utc = _require_aware(start), _require_aware(end)
        if end_utc <= start_utc:
            return timedelta(0)
        if self.around_the_clock:
            return end_utc - start_utc
        total = timedelta(0)
        day, last_day = self._local_day(start_utc), self._local_day(end_utc)
        while day <= last_day:
            for p_start, p_end in self._periods(day):
                overlap = min(p_end, end_utc) - max(p_start, start_utc)
                if overlap > timedelta(0):
                    total += overlap
            day += _ONE_DAY
        return total


CALENDAR_24_7 = WorkingCalendar(days={}, covered_years=frozenset(), around_the_clock=True)


def chinese_calendar_exceptions(first_year: int = 2004, last_year: int = 2026) -> dict[date, bool]:
    """Exceptions to Monday-Friday from ``chinese_calendar``, for seeding the calendar table.

    Weekday holidays map to False, weekend 调休 working days to True. Raises ValueError for a year
    the package has no data for, so a seed never silently stores a Monday-Friday guess.
    """
    import chinese_calendar  # imported here: only seeding needs it, never a query

    try:
        chinese_calendar.is_workday(date(first_year, 1, 1))
        chinese_calendar.is_workday(date(last_year, 12, 31))
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from exc
    result: dict[date, bool] = {}
    day, stop = date(first_year, 1, 1), date(last_year, 12, 31)
    while day <= stop:
        working = chinese_calendar.is_workday(day)
        if working != (day.weekday() < 5):
            result[day] = working
        day += _ONE_DAY
    return result


def _chinese_calendar_years() -> tuple[int, int]:
    """The first and last year ``chinese_calendar`` has data for (it grows with each release)."""
    from chinese_calendar import constants

    years = [d.year for d in constants.holidays]
    return min(years), max(years)


@cache
def default_calendar() -> WorkingCalendar:
    """The national calendar for every year ``chinese_calendar`` covers; built once."""
    first, last = _chinese_calendar_years()
    return WorkingCalendar(
        days=chinese_calendar_exceptions(first, last),
        covered_years=frozenset(range(first, last + 1)),
    )
