"""SLA service: the SLA state of a case, pause/resume/extension with their rules, the overdue
flags, the daily digest per org unit, and the timer incidents an admin sees.

The state is computed, never stored: the due time, the working time left on the case's
calendar (around the clock for urgent cases), and one of ``on_track``, ``due_soon``,
``overdue``, ``paused``, ``ledgered`` (``closed`` for other closed cases). Writes go through
the unit of work (``app.core.sla_actions``).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from app.core import sla_actions, uow
from app.core.models import Case, Timer
from app.database import end_read, write_transaction
from app.extensions import db
from app.orgs.calendars import case_calendar, working_day_length
from app.orgs.models import OrgUnit
from app.sla.models import SlaDigest
from workflows import clock

log = logging.getLogger(__name__)

DUE_SOON_SHARE = 0.25  # "due soon" once less than this share of the allowed working time is left
FLAG_AFTER_DAYS = 5  # overdue this many working days more: flagged to the street supervisor
MAX_EXTENSIONS = 1  # 延期 at most once by default (DOMAIN.md)
LOCAL = ZoneInfo("Asia/Shanghai")


class SlaInputError(ValueError):
    """Bad input for an SLA action; ``field`` names it (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class SlaState:
    state: str
    due_at: datetime | None
    remaining: int | None  # wall-clock seconds to the due time (negative: overdue)
    remaining_working: int | None  # working seconds on the case's calendar (negative: overdue)
    paused_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "due_at": self.due_at,
            "remaining": self.remaining,
            "remaining_working": self.remaining_working,
            "paused_at": self.paused_at,
        }


def sla_state(case: Case, now: datetime | None = None) -> SlaState:
    """The case's SLA state at ``now``; a paused case's clock reads as at its pause."""
    now = now or clock.now()
    due, paused_at = case.due_at, case.paused_at
    if case.status == "ledgered":
        return SlaState("ledgered", due, None, None, None)
    if case.closed_at is not None:
        return SlaState("closed", due, None, None, None)
    if due is None:
        return SlaState("paused" if paused_at else "on_track", None, None, None, paused_at)
    calendar = case_calendar(case)
    at = paused_at or now
    if at <= due:
        working = calendar.working_time_between(at, due)
    else:
        working = -calendar.working_time_between(due, at)
    wall = int((due - at).total_seconds())
    if paused_at is not None:
        state = "paused"
    elif due < now:
        state = "overdue"
    else:
        allowed = calendar.working_time_between(case.opened_at, due) - timedelta(
            seconds=case.paused_seconds
        )
        state = "due_soon" if working <= allowed * DUE_SOON_SHARE else "on_track"
    return SlaState(state, due, wall, int(working.total_seconds()), paused_at)


# -- actions with their rules ------------------------------------------------------------------


def suspend(case: Case, *, reason: str, actor: str) -> Case:
    return sla_actions.suspend_case(case_id=case.id, reason=reason, actor=actor)


def resume(case: Case, *, actor: str, reason: str = "") -> Case:
    return sla_actions.resume_case(case_id=case.id, actor=actor, reason=reason)


def extend(
    case: Case,
    *,
    actor: str,
    reason: str,
    working_days: int = 0,
    working_hours: float = 0.0,
    until: datetime | None = None,
) -> Case:
    """延期: ``working_days``/``working_hours`` more, or a new deadline ``until``."""
    if until is not None and (working_days or working_hours):
        raise SlaInputError("until", "give either until or working days/hours, not both")
    by = None
    if until is None:
        by = working_days * working_day_length(case_calendar(case)) + timedelta(hours=working_hours)
        if by <= timedelta(0):
            raise SlaInputError("working_days", "an extension must add some working time")
    elif case.due_at is not None and until <= case.due_at:
        raise SlaInputError("until", f"the new deadline must be after {case.due_at.isoformat()}")
    limit = current_app.config.get("SLA_MAX_EXTENSIONS", MAX_EXTENSIONS)
    return sla_actions.extend_deadline(
        case_id=case.id, actor=actor, reason=reason, by=by, until=until, max_extensions=limit
    )


# -- periodic jobs (the scheduler runs them) ---------------------------------------------------


def flag_overdue_cases(now: datetime | None = None) -> Counter[str]:
    """Raise the overdue flag of every open, running case past its due time (one audit event
    each), and ``flagged`` once it is FLAG_AFTER_DAYS working days overdue."""
    now = now or clock.now()
    days = current_app.config.get("SLA_FLAG_AFTER_DAYS", FLAG_AFTER_DAYS)
    end_read()
    candidates = db.session.scalars(
        select(Case).where(
            Case.closed_at.is_(None),
            Case.paused_at.is_(None),
            Case.due_at < now,
            Case.sla_flag.is_distinct_from("flagged"),
        )
    ).all()
    todo = []
    for case in candidates:
        calendar = case_calendar(case)
        late = calendar.working_time_between(case.due_at, now)
        flag = "flagged" if late >= days * working_day_length(calendar) else "overdue"
        if sla_actions.FLAGS[flag] > sla_actions.FLAGS[case.sla_flag]:
            todo.append((case.id, flag, {"overdue_working_seconds": late.total_seconds()}))
    end_read()
    done: Counter[str] = Counter()
    for case_id, flag, detail in todo:
        try:
            if sla_actions.flag_overdue(
                case_id=case_id, flag=flag, actor="scheduler", detail=detail
            ):
                done[flag] += 1
        except uow.Conflict:
            continue  # someone acted on the case meanwhile: the next run looks again
    return done


def local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL).date()


def write_digests(day: date, now: datetime | None = None) -> int:
    """The SLA digest of ``day`` (Beijing) for every org unit with cases, rolled up the tree:
    cases opened, closed (late), ledgered that day, and the open cases by SLA state at
    ``now``. Written once: a second scheduler (or a rerun) finds it there. Returns rows."""
    now = now or clock.now()
    end_read()
    if db.session.scalar(select(exists().where(SlaDigest.day == day))):
        return 0
    start = datetime.combine(day, time(0), tzinfo=LOCAL)
    end = start + timedelta(days=1)
    counts: dict[int, Counter[str]] = defaultdict(Counter)

    def add(case: Case, key: str) -> None:
        for part in case.org_unit.path.strip("/").split("/"):
            if part:
                counts[int(part)][key] += 1

    for case in db.session.scalars(select(Case).where(Case.closed_at.is_(None))):
        add(case, "open")
        add(case, sla_state(case, now).state)
    for case in db.session.scalars(
        select(Case).where(Case.closed_at >= start, Case.closed_at < end)
    ):
        add(case, "ledgered" if case.status == "ledgered" else "closed")
        if case.due_at is not None and case.closed_at > case.due_at:
            add(case, "closed_late")
    for case in db.session.scalars(
        select(Case).where(Case.opened_at >= start, Case.opened_at < end)
    ):
        add(case, "opened")
    rows = [
        {"org_unit_id": unit_id, "day": day, "counts": dict(c), "created_at": now}
        for unit_id, c in sorted(counts.items())
    ]
    if not rows:
        return 0
    try:
        with write_transaction() as session:
            session.execute(SlaDigest.__table__.insert(), rows)
    except IntegrityError:
        return 0  # another scheduler wrote it first
    return len(rows)


def digests(*, day: date, unit: OrgUnit | None = None) -> list[dict[str, Any]]:
    query = (
        select(SlaDigest, OrgUnit.code)
        .join(OrgUnit, OrgUnit.id == SlaDigest.org_unit_id)
        .where(SlaDigest.day == day)
        .order_by(OrgUnit.path)
    )
    if unit is not None:
        query = query.where(OrgUnit.path.startswith(unit.path))
    return [
        {"org_unit": code, "day": row.day, "counts": row.counts, "created_at": row.created_at}
        for row, code in db.session.execute(query)
    ]


# -- incidents --------------------------------------------------------------------------------


def incidents() -> list[dict[str, Any]]:
    """Timers whose retries ran out, oldest due first, with their case."""
    query = (
        select(Timer, Case.code)
        .join(Case, Case.id == Timer.case_id)
        .where(Timer.status == "incident")
        .order_by(Timer.due_at, Timer.id)
    )
    return [
        {
            "id": t.id,
            "case_id": t.case_id,
            "case_code": code,
            "bpmn_id": t.bpmn_id,
            "due_at": t.due_at,
            "retries": t.retries,
            "last_error": t.last_error,
        }
        for t, code in db.session.execute(query)
    ]


def retry_incident(timer_id: str, *, actor: str) -> Timer:
    return sla_actions.retry_timer(timer_id=timer_id, actor=actor)
