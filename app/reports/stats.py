"""统计 Stats: the seeds' figures and the rates of ../shared/DOMAIN.md for a period and an org
unit, computed from the case rows and the audit events (never from engine state).

Every figure has one signal, listed in ``docs/reports.md`` and in the API schema:
counts of cases by their own timestamps (opened, closed, due), counts of audit events by
the task they completed (``task.completed`` with ``data.task.bpmn_id``) or the end event
their step reached (``data.ended_at``). The period is whole Asia/Shanghai days, both ends
included; the org unit means the cases of that unit and every unit below it. Rates are
``None`` when their denominator is 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, func, literal_column, null, select, true
from sqlalchemy import case as sql_case

from app.auth.access import Forbidden, Principal
from app.cases.queries import InvalidInput
from app.core.models import (
    Case,
    CaseEvent,
    ProcessDefinition,
    ProcessInstance,
    ProcessVersion,
)
from app.extensions import db
from app.orgs.models import OrgUnit
from app.orgs.service import get_by_code
from workflows import clock

SHANGHAI = ZoneInfo("Asia/Shanghai")
COMPLETED = "task.completed"
RESPONSE_EVENTS = ("task.claimed", "task.completed")  # 签收: a handler claims or acts
SOLVED_MODE = "escalated"  # 提级办: the hard problems (协调解决 when closed)
MEDIATION = ("mediation", "end_resolved")  # 调解纠纷: process key, end event of an agreement
SATISFIED = "satisfied"
BASICALLY = "basically_satisfied"


@dataclass(frozen=True)
class Period:
    """Whole Shanghai days ``first``..``last`` as the UTC interval [start, end)."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=SHANGHAI)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=SHANGHAI)

    def holds(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= self.start, column < self.end)


def period(first: date | None, last: date | None) -> Period:
    """The asked period; by default from the first of this month to today (Shanghai)."""
    today = clock.now().astimezone(SHANGHAI).date()
    last = last or today
    first = first or last.replace(day=1)
    if first > last:
        raise InvalidInput({"from": ["开始日期晚于结束日期 from is after to"]}, "bad period")
    return Period(first, last)


def scope(p: Principal, unit_code: str | None) -> tuple[ColumnElement[bool], OrgUnit | None]:
    """SQL on ``OrgUnit`` (joined as the case's unit): the cases these stats count. By
    default the caller's own units; a unit they do not cover is Forbidden (auditors and
    admins cover every unit)."""
    unit: OrgUnit | None = None
    if unit_code:
        unit = get_by_code(unit_code)
        if unit is None:
            raise InvalidInput({"org_unit": [f"未知的组织单元 unknown org unit {unit_code!r}"]})
        if not (p.reads_all or p.in_unit(unit)):
            raise Forbidden(f"您无权查看 {unit_code} 的统计 you do not cover {unit_code}")
    own = true() if p.reads_all else p.unit_condition(OrgUnit)
    if unit is None:
        return own, None
    return and_(OrgUnit.path.startswith(unit.path), own), unit


def _scoped_cases(condition: ColumnElement[bool]) -> Select[tuple[int]]:
    return select(Case.id).join(OrgUnit, OrgUnit.id == Case.org_unit_id).where(condition)


def _bpmn_id() -> Any:
    return CaseEvent.data[("task", "bpmn_id")].as_string()


# respond_due_at from the dispatch step's finished tasks (plan_pass writes it), in SQL: reading
# the whole ``finished`` list into Python cost more than every other figure together.
_RESPOND_DUE = {
    "postgresql": "jsonb_path_query_first(case_events.data, "
    "'$.finished[*].data.respond_due_at') #>> '{}'",
    "sqlite": "(SELECT json_extract(f.value, '$.data.respond_due_at') "
    "FROM json_each(case_events.data, '$.finished') AS f "
    "WHERE json_extract(f.value, '$.data.respond_due_at') IS NOT NULL LIMIT 1)",
}


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class _Completions:
    """What one scan of the period's task completions yields."""

    whistles: int = 0
    answers: int = 0
    dispatches: dict[int, tuple[int, datetime]] = field(default_factory=dict)  # seq, respond by
    ratings: dict[int, tuple[str | None, bool]] = field(default_factory=dict)  # last per case


def compute(p: Principal, *, first: date | None, last: date | None, org_unit: str | None) -> dict:
    """Every figure of ``GET /api/v1/stats`` (see the module docstring for the rules)."""
    when = period(first, last)
    condition, unit = scope(p, org_unit)
    cases = _scoped_cases(condition)
    in_scope = Case.id.in_(cases)
    received = _count(select(func.count(Case.id)).where(in_scope, when.holds(Case.opened_at)))
    closed = and_(in_scope, Case.status == "closed", when.holds(Case.closed_at))
    handled = _count(select(func.count(Case.id)).where(closed))
    hard_solved = _count(select(func.count(Case.id)).where(closed, Case.mode == SOLVED_MODE))
    done_tasks = _completions(CaseEvent.case_id.in_(cases), when)
    dispatched, responded = _response(done_tasks.dispatches, CaseEvent.case_id.in_(cases), when)
    rated, solved, satisfied = _ratings(done_tasks.ratings)
    due, on_time, done = _deadlines(in_scope, when)
    return {
        "from": when.first,
        "to": when.last,
        "org_unit": unit.code if unit else None,
        "received": received,
        "handled": handled,
        "whistles": done_tasks.whistles,
        "answers": done_tasks.answers,
        "hard_solved": hard_solved,
        "mediated": _mediated(in_scope, when),
        "response_rate": _rate(responded, dispatched),
        "resolution_rate": _rate(solved, rated),
        "satisfaction_rate": _rate(satisfied, rated),
        "on_time_rate": _rate(on_time, due),
        "closure_rate": _rate(done, due),
        "overdue": due - on_time,
        "basis": {
            "dispatched": dispatched,
            "responded": responded,
            "rated": rated,
            "solved": solved,
            "satisfied": satisfied,
            "due": due,
            "on_time": on_time,
            "closed": done,
        },
    }


def _count(stmt: Select[Any]) -> int:
    return int(db.session.scalar(stmt) or 0)


def _completions(on_case: ColumnElement[bool], when: Period) -> _Completions:
    """One scan of the completions of 吹哨 ``whistle``, 答卷 ``answer``, 派单 ``dispatch`` and
    回访 ``revisit`` in the period (each JSON field is read once, in SQL)."""
    bpmn_id = _bpmn_id()
    respond_due = literal_column(_RESPOND_DUE[db.engine.dialect.name])
    rows = db.session.execute(
        select(
            CaseEvent.case_id,
            CaseEvent.seq,
            bpmn_id,
            CaseEvent.data[("input", "satisfaction")].as_string(),
            CaseEvent.data[("input", "resolved")].as_boolean(),
            sql_case((bpmn_id == "dispatch", respond_due), else_=null()),
        )
        .where(on_case, CaseEvent.type == COMPLETED, when.holds(CaseEvent.at))
        .where(bpmn_id.in_(("whistle", "answer", "dispatch", "revisit")))
        .order_by(CaseEvent.case_id, CaseEvent.seq)
    ).all()
    out = _Completions()
    for case_id, seq, task, satisfaction, resolved, due in rows:
        if task == "whistle":
            out.whistles += 1
        elif task == "answer":
            out.answers += 1
        elif task == "revisit":
            out.ratings[case_id] = (satisfaction, bool(resolved))
        elif isinstance(due, str) and case_id not in out.dispatches:
            moment = datetime.fromisoformat(due)
            if moment.tzinfo:
                out.dispatches[case_id] = (seq, moment)
    return out


def _mediated(in_scope: ColumnElement[bool], when: Period) -> int:
    """调解纠纷: mediation cases whose step reached ``end_resolved`` (an agreement kept) in
    the period."""
    key, end = MEDIATION
    mediation = (
        select(ProcessInstance.id)
        .join(ProcessVersion, ProcessVersion.id == ProcessInstance.version_id)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessVersion.definition_id)
        .where(ProcessDefinition.key == key)
    )
    disputes = select(Case.id).where(in_scope, Case.instance_id.in_(mediation))
    return _count(
        select(func.count(func.distinct(CaseEvent.case_id))).where(
            CaseEvent.case_id.in_(disputes),
            when.holds(CaseEvent.at),
            CaseEvent.data["ended_at"].as_string() == end,
        )
    )


def _response(
    dispatches: dict[int, tuple[int, datetime]], on_case: ColumnElement[bool], when: Period
) -> tuple[int, int]:
    """响应率: of the cases dispatched (派单) in the period, those whose handler signed for
    them (the first claim or completion after the dispatch) by ``respond_due_at``. A case
    still within its limit and not yet signed for is left out until it is decided."""
    if not dispatches:
        return 0, 0
    latest = max(due for _seq, due in dispatches.values())
    rows = db.session.execute(  # no JSON: only what can still decide a response
        select(CaseEvent.case_id, CaseEvent.seq, CaseEvent.at)
        .where(on_case, CaseEvent.type.in_(RESPONSE_EVENTS))
        .where(CaseEvent.at >= when.start, CaseEvent.at <= latest)
        .order_by(CaseEvent.case_id, CaseEvent.seq)
    ).all()
    first: dict[int, datetime] = {}
    for case_id, seq, at in rows:
        dispatch = dispatches.get(case_id)
        if dispatch is not None and seq > dispatch[0] and case_id not in first:
            first[case_id] = at
    now = clock.now()
    dispatched = responded = 0
    for case_id, (_seq, due) in dispatches.items():
        at = first.get(case_id)
        if at is None and due >= now:
            continue  # still within its limit: not decided yet
        dispatched += 1
        responded += int(at is not None and at <= due)
    return dispatched, responded


def _ratings(last: dict[int, tuple[str | None, bool]]) -> tuple[int, int, int]:
    """解决率 and 满意率: the cases rated at a 回访 revisit in the period (each case's last
    rating in the period counts once); solved = ``resolved`` true; satisfied = 满意, plus
    基本满意 when the setting ``STATS_BASICALLY_SATISFIED_COUNTS`` is on (the default)."""
    counted = {SATISFIED}
    if current_app.config.get("STATS_BASICALLY_SATISFIED_COUNTS", True):
        counted.add(BASICALLY)
    solved = sum(1 for _s, resolved in last.values() if resolved)
    satisfied = sum(1 for s, _r in last.values() if s in counted)
    return len(last), solved, satisfied


def _deadlines(in_scope: ColumnElement[bool], when: Period) -> tuple[int, int, int]:
    """按期结案率: the cases due in the period, less those ledgered (挂账) or withdrawn, and
    less those still open within their limit; on time when their work was approved (审单通过,
    not undone by a reopen) or, without a review, the case closed by the due time."""
    due_in_period = and_(in_scope, Case.due_at.is_not(None), when.holds(Case.due_at))
    rows = db.session.execute(
        select(Case.id, Case.due_at, Case.status, Case.closed_at).where(due_in_period)
    ).all()
    candidates = {
        case_id: (due_at, status, closed_at)
        for case_id, due_at, status, closed_at in rows
        if status not in ("ledgered", "withdrawn")
    }
    if not candidates:
        return 0, 0, 0
    approved = _approved_at(select(Case.id).where(due_in_period))
    now = clock.now()
    due = on_time = done = 0
    for case_id, (due_at, status, closed_at) in candidates.items():
        finished = approved.get(case_id, closed_at if status == "closed" else None)
        if finished is None and due_at >= now:
            continue  # open and still within its limit
        due += 1
        done += int(finished is not None)
        on_time += int(finished is not None and finished <= due_at)
    return due, on_time, done


def _approved_at(case_ids: Select[tuple[int]]) -> dict[int, datetime]:
    """When each case's work was last approved at 审单 review, unless a 回访 revisit since
    reopened it (重办: that revisit's step reached no end event)."""
    bpmn_id = _bpmn_id()
    rows = db.session.execute(
        select(
            CaseEvent.case_id,
            CaseEvent.at,
            bpmn_id,
            CaseEvent.data[("input", "review_decision")].as_string(),
            CaseEvent.data["ended_at"].as_string(),
        )
        .where(
            CaseEvent.case_id.in_(case_ids),
            CaseEvent.type == COMPLETED,
            bpmn_id.in_(("review", "revisit")),
        )
        .order_by(CaseEvent.case_id, CaseEvent.seq)
    ).all()
    approved: dict[int, datetime] = {}
    for case_id, at, task, decision, ended in rows:
        if task == "review" and decision == "approve":
            approved[case_id] = at
        elif task == "revisit" and ended is None:
            approved.pop(case_id, None)
    return approved
