"""The unit of work's SLA actions: 挂起 suspend and resume, 延期 extension, overdue flags, and
the timer incident and its retry.

They follow the unit of work's rule (``uow._unit`` + exactly one ``uow.append_event`` per
action, all in one transaction) and live beside it only to keep ``uow.py`` short.

Moving the clock (resume, extension) is done in the engine itself — each waiting timer's due
time and the planned moments in the live data — and the projection (timer rows, case row,
inbox due times) follows in the same transaction, so the engine, the rows and the audit
event always agree. Resume moves what was still ahead at the pause by the working time
paused; an extension moves what is still ahead (and the deadline) by the time granted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.core.models import Case, HumanTask, Timer
from app.core.projection import sync
from app.core.uow import Conflict, NotFound, _load, _save, _unit, append_event
from app.extensions import db
from app.orgs.calendars import case_calendar
from workflows import clock, timeshift
from workflows.calendar import WorkingCalendar
from workflows.engine import Step

FLAGS = {None: 0, "overdue": 1, "flagged": 2}  # flagged: overdue long enough for the street


def _open_case(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or case.instance is None:
        raise NotFound(f"case {case_id} not found")
    if case.closed_at is not None:
        raise Conflict(f"case {case.code} is already {case.status}")
    return case


def suspend_case(*, case_id: int, reason: str, actor: str) -> Case:
    """Stop the case's SLA clock (e.g. waiting for the resident's materials)."""
    with _unit("suspend"):
        case = _open_case(case_id)
        if case.paused_at is not None:
            raise Conflict(f"case {case.code} is already suspended")
        case.paused_at = clock.now()
        append_event(
            case,
            type="case.suspended",
            actor=actor,
            data={"reason": reason, "paused_at": case.paused_at, "due_at": case.due_at},
        )
    return case


def resume_case(*, case_id: int, actor: str, reason: str = "") -> Case:
    """Restart the clock: what was ahead at the pause moves by the working time paused."""
    with _unit("resume"):
        case = _open_case(case_id)
        paused_at = case.paused_at
        if paused_at is None:
            raise Conflict(f"case {case.code} is not suspended")
        now = clock.now()
        calendar = case_calendar(case)
        paused = calendar.working_time_between(paused_at, now)
        moved = _move_clock(case, calendar, paused, since=paused_at)
        case.paused_at = None
        case.paused_seconds += int(paused.total_seconds())
        append_event(
            case,
            type="case.resumed",
            actor=actor,
            data={
                "reason": reason,
                "paused_at": paused_at,
                "resumed_at": now,
                "paused_working_seconds": paused.total_seconds(),
                **moved,
            },
        )
    return case


def extend_deadline(
    *,
    case_id: int,
    actor: str,
    reason: str,
    by: timedelta | None = None,
    until: datetime | None = None,
    max_extensions: int | None = None,
) -> Case:
    """Grant more time: ``by`` working time, or a new deadline ``until``. The deadline and
    every reminder still ahead move by the same working time."""
    if (by is None) == (until is None):
        raise ValueError("give exactly one of by and until")
    with _unit("extend"):
        case = _open_case(case_id)
        old_due = case.due_at
        if case.paused_at is not None:
            raise Conflict(f"case {case.code} is suspended: resume it first")
        if old_due is None:
            raise Conflict(f"case {case.code} has no deadline to extend")
        if max_extensions is not None and case.extension_count >= max_extensions:
            raise Conflict(f"case {case.code} was already extended {case.extension_count}x")
        if until is not None and until <= old_due:
            raise Conflict(f"the new deadline must be after {old_due.isoformat()}")
        calendar = case_calendar(case)
        amount = calendar.working_time_between(old_due, until) if until is not None else by
        assert amount is not None
        since = min(clock.now(), old_due)
        pinned = {old_due: until} if until is not None else {}
        moved = _move_clock(case, calendar, amount, since=since, pinned=pinned)
        case.extension_count += 1
        append_event(
            case,
            type="case.extended",
            actor=actor,
            data={"reason": reason, "working_seconds": amount.total_seconds(), **moved},
        )
    return case


def _move_clock(
    case: Case,
    calendar: WorkingCalendar,
    amount: timedelta,
    *,
    since: datetime,
    pinned: Mapping[datetime, datetime | None] | None = None,
) -> dict[str, Any]:
    """Move timers, live data, the case's and its open tasks' due times at/after ``since``."""
    hours = amount / timedelta(hours=1)

    def move(moment: datetime) -> datetime:
        exact = (pinned or {}).get(moment)
        return exact if exact is not None else calendar.add_working_hours(moment, hours)

    row = case.instance
    assert row is not None
    old_due = case.due_at
    instance = _load(row, case)
    timers = timeshift.shift_timers(instance, move, since=since)
    keys = timeshift.shift_data_times(instance, move, since=since)
    changes = sync(case, row, instance, Step())
    if old_due is not None and old_due >= since:
        case.due_at = move(old_due)
    tasks = []
    for task in db.session.scalars(
        select(HumanTask).where(
            HumanTask.case_id == case.id, HumanTask.status == "open", HumanTask.due_at >= since
        )
    ):
        task.due_at = move(task.due_at)
        tasks.append(task.id)
    if case.sla_flag and case.due_at is not None and case.due_at > clock.now():
        case.sla_flag = None
    _save(row, instance)
    return {
        "moved": {
            "due_at": [old_due, case.due_at],
            "timers": [
                {"id": t.task_id, "bpmn_id": t.bpmn_id, "from": t.due_at, "to": new}
                for t, new in timers
            ],
            "data": keys,
            "tasks": tasks,
        },
        **changes,
    }


def flag_overdue(
    *, case_id: int, flag: str, actor: str, detail: Mapping[str, Any] | None = None
) -> Case | None:
    """Raise the case's overdue flag (``overdue``, then ``flagged`` for the street
    supervisor); None, writing nothing, when the case no longer qualifies or has it."""
    with _unit("flag"):
        case = db.session.get(Case, case_id)
        if (
            case is None
            or case.closed_at is not None
            or case.paused_at is not None
            or case.due_at is None
            or case.due_at >= clock.now()
            or FLAGS[case.sla_flag] >= FLAGS[flag]
        ):
            return None
        before, case.sla_flag = case.sla_flag, flag
        append_event(
            case,
            type=f"sla.{flag}",
            actor=actor,
            data={"flag": [before, flag], "due_at": case.due_at, **(detail or {})},
        )
    return case


def record_timer_failure(
    *,
    timer_id: str,
    error: str,
    max_retries: int,
    backoff: Callable[[int], timedelta],
    actor: str = "scheduler",
) -> Timer | None:
    """Count a failed firing: retry after ``backoff(failures so far)``, or become an incident
    (audited) when the retries run out."""
    with _unit("timer-failure"):
        timer = db.session.get(Timer, timer_id)
        if timer is None:
            return None
        timer.retries += 1
        timer.last_error = error[:2000]
        timer.lock_owner = None
        if timer.retries < max_retries:
            timer.lock_expires_at = clock.now() + backoff(timer.retries)
            return timer
        timer.status, timer.lock_expires_at = "incident", None
        case = db.session.get(Case, timer.case_id)
        assert case is not None
        append_event(
            case,
            type="timer.incident",
            actor=actor,
            data={"timer": _timer_record(timer), "retries": timer.retries, "error": error},
        )
    return timer


def retry_timer(*, timer_id: str, actor: str) -> Timer:
    """An admin sends an incident back to the scheduler with fresh retries."""
    with _unit("timer-retry"):
        timer = db.session.get(Timer, timer_id)
        if timer is None:
            raise NotFound(f"timer {timer_id} not found")
        if timer.status != "incident":
            raise Conflict(f"timer {timer_id} is not an incident")
        case = db.session.get(Case, timer.case_id)
        assert case is not None
        append_event(
            case,
            type="timer.retried",
            actor=actor,
            data={"timer": _timer_record(timer), "last_error": timer.last_error},
        )
        timer.status, timer.retries, timer.last_error = "pending", 0, None
        timer.lock_owner = timer.lock_expires_at = None
    return timer


def _timer_record(timer: Timer) -> dict[str, Any]:
    return {"id": timer.id, "bpmn_id": timer.bpmn_id, "due_at": timer.due_at}
