"""Tests for workflows.calendar against the real 2025-2026 State Council holiday schedule.

Every hand-written expected value in the tables is also re-derived in the test from
``chinese_calendar.is_workday`` with a deliberately naive minute-by-minute reference, so a
wrong hand value (or a wrong implementation) fails loudly.
"""

from __future__ import annotations

import time as perf
import warnings
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.calendar import (
    CALENDAR_24_7,
    DEFAULT_HOURS,
    CalendarGapWarning,
    WorkingCalendar,
    chinese_calendar_exceptions,
    default_calendar,
)

CST = ZoneInfo("Asia/Shanghai")
CAL = default_calendar()
MINUTE = timedelta(minutes=1)
WORKING_DAY = timedelta(hours=7.5)


def bj(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    """A Beijing wall-clock moment."""
    return datetime(y, m, d, hh, mm, tzinfo=CST)


# -- independent reference (minute by minute, straight from chinese_calendar) ------------------


def ref_is_working_minute(moment: datetime) -> bool:
    local = moment.astimezone(CST)
    t = local.time()
    in_hours = time(9) <= t < time(12) or time(13, 30) <= t < time(18)
    return in_hours and chinese_calendar.is_workday(local.date())


def ref_normalise(moment: datetime) -> datetime:
    while not ref_is_working_minute(moment):
        moment = (moment + MINUTE).replace(second=0, microsecond=0)
    return moment


def ref_working_minutes(start: datetime, end: datetime) -> int:
    count, moment = 0, start
    while moment < end:
        count += ref_is_working_minute(moment)
        moment += MINUTE
    return count


# -- tables ------------------------------------------------------------------------------------

DAY_CASES = [
    # 春节 2025: 01-28..02-04 off, 01-26 (Sun) and 02-08 (Sat) are 调休 working days
    ("2025 春节 Fri -> Sun 调休", bj(2025, 1, 24, 10), 1, bj(2025, 1, 26, 10)),
    ("2025 春节 Sun 调休 -> Mon", bj(2025, 1, 26, 16), 1, bj(2025, 1, 27, 16)),
    ("2025 春节 eve -> after holiday", bj(2025, 1, 27, 10), 1, bj(2025, 2, 5, 10)),
    ("2025 春节 inside holiday, n=0", bj(2025, 1, 29, 10), 0, bj(2025, 2, 5, 9)),
    ("2025 春节 inside holiday, n=1", bj(2025, 1, 30, 15), 1, bj(2025, 2, 6, 9)),
    ("2025 春节 Fri -> Sat 调休", bj(2025, 2, 7, 11), 1, bj(2025, 2, 8, 11)),
    ("2025 春节 Sat 调休 -> Mon", bj(2025, 2, 8, 11), 1, bj(2025, 2, 10, 11)),
    # 春节 2026 (chinese_calendar): 02-15..02-23 off, 02-14 (Sat) and 02-28 (Sat) working
    ("2026 春节 Fri -> Sat 调休", bj(2026, 2, 13, 15), 1, bj(2026, 2, 14, 15)),
    ("2026 春节 Sat 调休 -> after holiday", bj(2026, 2, 14, 15), 1, bj(2026, 2, 24, 15)),
    ("2026 春节 Fri -> Sat 02-28 调休", bj(2026, 2, 27, 10), 1, bj(2026, 2, 28, 10)),
    ("2026 春节 5 days from 02-12", bj(2026, 2, 12, 9, 30), 5, bj(2026, 2, 26, 9, 30)),
    # 清明: 2025-04-04 (Fri) off; 2026-04-06 (Mon) off; no 调休
    ("2025 清明 Thu -> Mon", bj(2025, 4, 3, 10), 1, bj(2025, 4, 7, 10)),
    ("2026 清明 Fri -> Tue", bj(2026, 4, 3, 14), 1, bj(2026, 4, 7, 14)),
    # 五一 2025: 05-01..05-05 off, 04-27 (Sun) working
    ("2025 五一 Fri -> Sun 调休", bj(2025, 4, 25, 16), 1, bj(2025, 4, 27, 16)),
    ("2025 五一 5 days from 04-30", bj(2025, 4, 30, 9), 5, bj(2025, 5, 12, 9)),
    # 五一 2026: 05-01..05-05 off, 05-09 (Sat) working
    ("2026 五一 Thu -> Thu", bj(2026, 4, 30, 10), 2, bj(2026, 5, 7, 10)),
    ("2026 五一 Fri -> Sat 调休", bj(2026, 5, 8, 10), 1, bj(2026, 5, 9, 10)),
    # 国庆 2025: 10-01..10-08 off, 09-28 (Sun) and 10-11 (Sat) working.
    # (Mon 09-29 is an ordinary working day, so +3 from Thu 09-25 lands on Mon 09-29.)
    ("2025 国庆 +1 Fri", bj(2025, 9, 25, 15), 1, bj(2025, 9, 26, 15)),
    ("2025 国庆 +2 Sun 调休", bj(2025, 9, 25, 15), 2, bj(2025, 9, 28, 15)),
    ("2025 国庆 +3 Mon", bj(2025, 9, 25, 15), 3, bj(2025, 9, 29, 15)),
    ("2025 国庆 +5 after holiday", bj(2025, 9, 25, 15), 5, bj(2025, 10, 9, 15)),
    ("2025 国庆 eve -> Thu 10-09", bj(2025, 9, 30, 15), 1, bj(2025, 10, 9, 15)),
    ("2025 国庆 Fri -> Sat 调休", bj(2025, 10, 10, 10), 1, bj(2025, 10, 11, 10)),
    ("2025 国庆 lunch break n=0", bj(2025, 9, 30, 12, 30), 0, bj(2025, 9, 30, 13, 30)),
    # 中秋+国庆 2026: 09-25, 10-01..10-07 off, 09-20 (Sun) and 10-10 (Sat) working
    ("2026 国庆 Fri -> Sun 调休", bj(2026, 9, 18, 10), 1, bj(2026, 9, 20, 10)),
    ("2026 中秋 Thu -> Mon", bj(2026, 9, 24, 10), 1, bj(2026, 9, 28, 10)),
    ("2026 国庆 eve -> Thu 10-08", bj(2026, 9, 30, 10), 1, bj(2026, 10, 8, 10)),
    ("2026 国庆 Fri -> Sat 调休", bj(2026, 10, 9, 11), 1, bj(2026, 10, 10, 11)),
    # ordinary weeks and the normalisation rules
    ("weekend Fri -> Mon", bj(2025, 3, 14, 10), 1, bj(2025, 3, 17, 10)),
    ("Sat -> Mon 09:00 normalised, +1", bj(2025, 3, 15, 10), 1, bj(2025, 3, 18, 9)),
    ("Fri after hours -> Mon 09:00, +1", bj(2025, 6, 6, 18, 30), 1, bj(2025, 6, 10, 9)),
    ("exactly 18:00 counts as after hours", bj(2025, 6, 5, 18), 1, bj(2025, 6, 9, 9)),
    ("before hours -> 09:00 same day", bj(2025, 6, 5, 7, 45), 1, bj(2025, 6, 6, 9)),
    ("lunch break -> 13:30", bj(2025, 6, 5, 12, 15), 1, bj(2025, 6, 6, 13, 30)),
    ("17:59 stays", bj(2025, 6, 5, 17, 59), 1, bj(2025, 6, 6, 17, 59)),
    ("UTC input", datetime(2025, 6, 5, 2, 0, tzinfo=UTC), 1, bj(2025, 6, 6, 10)),
]

HOUR_CASES = [
    ("2025 春节 across holiday", bj(2025, 1, 27, 17), 2, bj(2025, 2, 5, 10)),
    ("2025 春节 Fri -> Sun 调休", bj(2025, 1, 24, 17), 3, bj(2025, 1, 26, 11)),
    ("2026 春节 lands on period end", bj(2026, 2, 14, 17), 4, bj(2026, 2, 24, 12)),
    ("2025 五一 across holiday", bj(2025, 4, 30, 17), 2, bj(2025, 5, 6, 10)),
    ("2025 国庆 across holiday", bj(2025, 9, 30, 16), 10, bj(2025, 10, 10, 9, 30)),
    ("2026 国庆 Sat 调休 end", bj(2026, 10, 10, 16), 2, bj(2026, 10, 10, 18)),
    ("weekend Fri -> Mon", bj(2025, 3, 14, 17), 2, bj(2025, 3, 17, 10)),
    ("09:00 + 3h stays at 12:00", bj(2025, 3, 17, 9), 3, bj(2025, 3, 17, 12)),
    ("11:00 + 1h stays at 12:00", bj(2025, 3, 17, 11), 1, bj(2025, 3, 17, 12)),
    ("lunch skipped", bj(2025, 3, 17, 11), 2, bj(2025, 3, 17, 14, 30)),
    ("start in lunch", bj(2025, 3, 17, 12, 15), 1, bj(2025, 3, 17, 14, 30)),
    ("start before hours", bj(2025, 3, 17, 6), 7.5, bj(2025, 3, 17, 18)),
    ("start after hours", bj(2025, 3, 17, 20), 0.5, bj(2025, 3, 18, 9, 30)),
    ("40 hours Mon 09:00", bj(2025, 3, 17, 9), 40, bj(2025, 3, 24, 11, 30)),
    ("zero hours is the moment itself", bj(2025, 3, 15, 10), 0, bj(2025, 3, 15, 10)),
]


@pytest.mark.parametrize(
    ("label", "start", "n", "expected"), DAY_CASES, ids=[c[0] for c in DAY_CASES]
)
def test_add_working_days_real_schedule(
    label: str, start: datetime, n: int, expected: datetime
) -> None:
    result = CAL.add_working_days(start, n)
    assert result == expected
    assert result.tzinfo is UTC
    # cross-check the hand value against chinese_calendar
    normalised = ref_normalise(start)
    assert expected.astimezone(CST).time() == normalised.astimezone(CST).time()
    first, last = normalised.astimezone(CST).date(), expected.astimezone(CST).date()
    assert chinese_calendar.is_workday(last)
    between = [first + timedelta(days=i) for i in range(1, (last - first).days + 1)]
    assert sum(chinese_calendar.is_workday(d) for d in between) == n


@pytest.mark.parametrize(
    ("label", "start", "hours", "expected"), HOUR_CASES, ids=[c[0] for c in HOUR_CASES]
)
def test_add_working_hours_real_schedule(
    label: str, start: datetime, hours: float, expected: datetime
) -> None:
    result = CAL.add_working_hours(start, hours)
    assert result == expected
    assert result.tzinfo is UTC
    # cross-check: exactly `hours` of reference working minutes, and nothing earlier would do
    assert ref_working_minutes(start, expected) == hours * 60
    if hours:
        assert ref_is_working_minute(expected - MINUTE)
    assert CAL.working_time_between(start, expected) == timedelta(hours=hours)


def test_default_calendar_agrees_with_chinese_calendar_every_day() -> None:
    day = date(2004, 1, 1)
    while day <= date(2026, 12, 31):
        assert CAL.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
    assert CAL.covered_years == frozenset(range(2004, 2027))
    assert default_calendar() is CAL


def test_chinese_calendar_exceptions_holds_only_exceptions() -> None:
    exc = chinese_calendar_exceptions(2025, 2025)
    assert exc[date(2025, 1, 26)] is True  # Sunday 调休
    assert exc[date(2025, 10, 11)] is True  # Saturday 调休
    assert exc[date(2025, 1, 28)] is False  # Tuesday, 春节
    assert exc[date(2025, 10, 6)] is False  # Monday, 中秋
    assert date(2025, 2, 1) not in exc  # Saturday holiday: already a day off
    assert date(2025, 3, 17) not in exc  # ordinary Monday
    assert all(d.year == 2025 for d in exc)
    assert all(working == (d.weekday() >= 5) for d, working in exc.items())
    with pytest.raises(ValueError, match="2027"):
        chinese_calendar_exceptions(2026, 2027)


def test_next_working_moment_and_end_of_day() -> None:
    assert CAL.next_working_moment(bj(2025, 3, 17, 10)) == bj(2025, 3, 17, 10)
    assert CAL.next_working_moment(bj(2025, 3, 17, 12)) == bj(2025, 3, 17, 13, 30)
    assert CAL.next_working_moment(bj(2025, 3, 17, 18)) == bj(2025, 3, 18, 9)
    assert CAL.next_working_moment(bj(2025, 1, 25, 10)) == bj(2025, 1, 26, 9)  # Sat -> Sun 调休
    assert CAL.end_of_working_day(bj(2025, 3, 17, 10)) == bj(2025, 3, 17, 18)
    assert CAL.end_of_working_day(bj(2025, 3, 17, 7)) == bj(2025, 3, 17, 18)
    assert CAL.end_of_working_day(bj(2025, 3, 17, 18, 30)) == bj(2025, 3, 18, 18)
    assert CAL.end_of_working_day(bj(2025, 9, 30, 19)) == bj(2025, 10, 9, 18)
    assert CAL.end_of_working_day(bj(2025, 2, 8, 10)).tzinfo is UTC


def test_working_time_between_basics() -> None:
    assert CAL.working_time_between(bj(2025, 3, 14, 17), bj(2025, 3, 17, 10)) == timedelta(hours=2)
    assert CAL.working_time_between(bj(2025, 3, 17, 10), bj(2025, 3, 14, 17)) == timedelta(0)
    assert CAL.working_time_between(bj(2025, 3, 17, 12), bj(2025, 3, 17, 13, 30)) == timedelta(0)
    # 国庆 2025: Tue 09-30 09:00 to Sat 10-11 18:00 = 09-30, 10-09, 10-10, 10-11
    assert CAL.working_time_between(bj(2025, 9, 30, 9), bj(2025, 10, 11, 18)) == 4 * WORKING_DAY


def test_around_the_clock() -> None:
    start = bj(2025, 10, 1, 23, 30)  # a holiday, at night
    assert CALENDAR_24_7.is_working_day(date(2025, 10, 1))
    assert CALENDAR_24_7.add_working_hours(start, 2) == bj(2025, 10, 2, 1, 30)
    assert CALENDAR_24_7.add_working_hours(start, 0.5).tzinfo is UTC
    assert CALENDAR_24_7.add_working_days(start, 3) == bj(2025, 10, 4, 23, 30)
    assert CALENDAR_24_7.end_of_working_day(start) == bj(2025, 10, 2, 0, 0)
    assert CALENDAR_24_7.next_working_moment(start) == start
    assert CALENDAR_24_7.working_time_between(start, bj(2025, 10, 2, 0)) == timedelta(minutes=30)
    assert CALENDAR_24_7.uncovered_years(date(2027, 1, 1), date(2030, 1, 1)) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CALENDAR_24_7.add_working_days(bj(2031, 1, 1, 9), 5)  # no gap warning, ever


def test_uncovered_year_falls_back_to_weekdays_and_warns_once() -> None:
    cal = WorkingCalendar(chinese_calendar_exceptions(2025, 2026), frozenset({2025, 2026}))
    assert cal.uncovered_years(date(2026, 11, 1), date(2028, 2, 1)) == [2027, 2028]
    assert cal.uncovered_years(date(2025, 1, 1), date(2026, 12, 31)) == []
    with pytest.warns(CalendarGapWarning, match="2027") as record:
        # Thu 2026-12-31 + 1 working day: 2027-01-01 (元旦) is unknown, so Mon-Fri counts it
        assert cal.add_working_days(bj(2026, 12, 31, 10), 1) == bj(2027, 1, 1, 10)
        assert cal.add_working_hours(bj(2027, 1, 8, 17), 2) == bj(2027, 1, 11, 10)
    assert len(record) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cal.is_working_day(date(2027, 1, 4))  # same calendar, same year: silent


def test_queries_stay_inside_the_needed_days() -> None:
    # Ending on 2026-12-31 must not peek into 2027 (it would warn, and warnings are errors).
    assert CAL.working_time_between(bj(2026, 12, 31, 9), bj(2026, 12, 31, 18)) == WORKING_DAY
    assert CAL.add_working_hours(bj(2026, 12, 31, 9), 7.5) == bj(2026, 12, 31, 18)


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2025, 3, 17, 10)
    for call in (
        lambda: CAL.add_working_hours(naive, 1),
        lambda: CAL.add_working_days(naive, 1),
        lambda: CAL.end_of_working_day(naive),
        lambda: CAL.next_working_moment(naive),
        lambda: CAL.working_time_between(naive, bj(2025, 3, 18)),
        lambda: CAL.working_time_between(bj(2025, 3, 16), naive),
        lambda: CALENDAR_24_7.add_working_hours(naive, 1),
    ):
        with pytest.raises(ValueError, match="timezone-aware"):
            call()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        CAL.add_working_hours(bj(2025, 3, 17), -1)
    with pytest.raises(ValueError):
        CAL.add_working_hours(bj(2025, 3, 17), float("nan"))
    with pytest.raises(ValueError):
        CAL.add_working_days(bj(2025, 3, 17), -1)
    with pytest.raises(TypeError):
        CAL.is_working_day(bj(2025, 3, 17))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        WorkingCalendar({}, frozenset(), hours=())
    with pytest.raises(ValueError):
        WorkingCalendar({}, frozenset(), hours=((time(12), time(9)),))
    with pytest.raises(ValueError):
        WorkingCalendar({}, frozenset(), hours=((time(13), time(18)), (time(9), time(14))))


def test_calendar_inputs_are_frozen() -> None:
    days = {date(2030, 1, 1): False}
    cal = WorkingCalendar(days, frozenset({2030}))
    days[date(2030, 1, 2)] = False  # the caller's dict changes; the calendar does not
    assert cal.is_working_day(date(2030, 1, 2))
    assert not cal.is_working_day(date(2030, 1, 1))
    assert cal.hours == DEFAULT_HOURS


def test_custom_hours_and_timezone() -> None:
    cal = WorkingCalendar({}, frozenset({2025}), hours=((time(8), time(16)),), tz=ZoneInfo("UTC"))
    start = datetime(2025, 3, 14, 15, tzinfo=UTC)  # Friday
    assert cal.add_working_hours(start, 2) == datetime(2025, 3, 17, 9, tzinfo=UTC)
    assert cal.end_of_working_day(start) == datetime(2025, 3, 14, 16, tzinfo=UTC)


def test_long_spans_loop_over_days_not_minutes() -> None:
    cal = WorkingCalendar({}, frozenset(range(2000, 2100)))
    started = perf.perf_counter()
    for _ in range(200):
        CAL.add_working_hours(bj(2025, 9, 25, 15), 40)
        CAL.add_working_days(bj(2025, 9, 25, 15), 5)
    # ten years of working hours: about 3,650 days, i.e. over a million minutes
    end = cal.add_working_hours(bj(2030, 1, 7, 9), 7.5 * 5 * 52 * 10)
    assert cal.working_time_between(bj(2030, 1, 7, 9), end) == timedelta(hours=7.5 * 5 * 52 * 10)
    assert perf.perf_counter() - started < 2.0


# -- properties --------------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2026, 11, 15),
    timezones=st.sampled_from([UTC, CST]),
)
hour_counts = st.floats(min_value=0, max_value=100, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(start=moments, hours=hour_counts)
def test_working_time_between_inverts_add_working_hours(start: datetime, hours: float) -> None:
    end = CAL.add_working_hours(start, hours)
    assert end >= start
    assert CAL.working_time_between(start, end) == timedelta(hours=hours)
    if end > start:  # earliest: one microsecond less is not enough
        tick = timedelta(microseconds=1)
        assert CAL.working_time_between(start, end - tick) < timedelta(hours=hours)


@settings(max_examples=200, deadline=None)
@given(a=moments, b=moments, c=moments)
def test_working_time_between_is_additive(a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted((a, b, c))
    whole = CAL.working_time_between(a, c)
    assert whole == CAL.working_time_between(a, b) + CAL.working_time_between(b, c)
    assert timedelta(0) <= whole <= c - a


@settings(max_examples=200, deadline=None)
@given(start=moments, n=st.integers(min_value=0, max_value=20))
def test_add_working_days_is_n_full_days_of_working_time(start: datetime, n: int) -> None:
    normalised = CAL.next_working_moment(start)
    end = CAL.add_working_days(start, n)
    assert CAL.working_time_between(normalised, end) == n * WORKING_DAY
    assert CAL.is_working_day(end.astimezone(CST).date())
