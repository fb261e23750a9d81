"""Keep the relational projections (inbox tasks, timers, case row) in step with the engine.

Called by the unit of work after every engine step, in the same transaction; it returns what
it changed so the step's audit event can say so. The hot path (a task completion) reads
nothing here: the caller passes the open task ids it loaded with the task, and the engine's
waiting timers from before the action, so only the differences are written, as plain SQL
statements rather than ORM objects (the ORM flush cost more than the engine step).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update

from app.core import writes
from app.core.models import Case, HumanTask, ProcessInstance, Timer
from app.extensions import db
from app.orgs.service import task_unit_id
from workflows import clock
from workflows.engine import Instance, Step

END_OUTCOMES = {"closed", "withdrawn", "ledgered"}


TASKS = HumanTask.__table__
TIMERS = Timer.__table__


class Known:
    """What the caller already knows of the projection, so that sync need not read it.

    ``open_tasks``: the ids of the instance's open task rows; ``completed``: the task being
    completed, its revision as loaded and who completes it; ``timers``: the engine's waiting
    timers before the action (the timer rows mirror them); ``fired``: a timer row to drop
    whatever the engine says, so a row can never outlive its timer and fire forever.
    """

    def __init__(
        self,
        *,
        open_tasks: Collection[str] | None = None,
        completed: tuple[str, int, str] | None = None,
        timers: Sequence[Any] | None = None,
        fired: str | None = None,
    ) -> None:
        self.open_tasks = open_tasks
        self.completed = completed
        self.timers = timers
        self.fired = fired


def sync(
    case: Case,
    row: ProcessInstance,
    instance: Instance,
    step: Step,
    known: Known | None = None,
) -> dict[str, Any]:
    with db.session.no_autoflush:  # read everything first, then let the commit write once
        return _sync(case, row, instance, step, known or Known())


def _sync(
    case: Case, row: ProcessInstance, instance: Instance, step: Step, known: Known
) -> dict[str, Any]:
    data = instance.data
    changes: dict[str, Any] = {}
    before = _case_fields(case)
    _sync_case_data(case, data)
    timers = instance.waiting_timers()
    changes["tasks"] = _sync_tasks(case, row, instance, step, timers, known)
    changes["timers"] = _sync_timers(case, row, timers, known)
    changes["incident"] = _sync_status(case, row, instance, step, data)
    after = _case_fields(case)
    changes["case"] = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    return changes


def _case_fields(case: Case) -> dict[str, Any]:
    return {
        "mode": case.mode,
        "stage": case.stage,
        "status": case.status,
        "priority": case.priority,
        "due_at": case.due_at.isoformat() if case.due_at else None,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
    }


def _parse_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo else None
    return None


def _sync_case_data(case: Case, data: dict[str, Any]) -> None:
    mode = data.get("mode") or data.get("proposed_mode")
    if isinstance(mode, str):
        case.mode = mode
    due = _parse_time(data.get("case_due_at"))
    if due is not None:
        case.due_at = due
    priority = data.get("priority")
    if isinstance(priority, int) and not isinstance(priority, bool):
        case.priority = priority


def _sync_tasks(
    case: Case,
    row: ProcessInstance,
    instance: Instance,
    step: Step,
    timers: list[Any],
    known: Known,
) -> dict[str, list[str]]:
    ready = {t.id: t for t in instance.ready_tasks()}
    if known.open_tasks is None:
        open_ids = set(
            db.session.scalars(
                select(HumanTask.id).where(
                    HumanTask.instance_id == row.id, HumanTask.status == "open"
                )
            )
        )
    else:
        open_ids = set(known.open_tasks)
    finished = {f.id: f.state for f in step.finished}
    now = clock.now()
    closed = sorted(i for i in open_ids if i not in ready)
    _close_tasks(closed, finished, now, known.completed)
    created = []
    due_by_timer = {t.bpmn_id: t.due_at for t in timers}
    rows = []
    for task_id, task in ready.items():
        if task_id in open_ids:
            continue
        props = task.properties
        own_data = instance.task_data(task_id)  # a multi-instance task has its own department
        unit_id = task_unit_id(
            case_unit=case.org_unit, role=task.lane, properties=props, data=own_data
        )
        priority = props.get("priority")
        rows.append(
            {
                "id": task_id,
                "case_id": case.id,
                "instance_id": row.id,
                "bpmn_id": task.bpmn_id,
                "name": task.name,
                "role": task.lane,
                "org_unit_id": unit_id,
                "stage": props.get("stage"),
                "form": task.form,
                "priority": int(priority) if priority and priority.isdigit() else case.priority,
                "created_at": now,
                "due_at": _task_due(props, own_data, due_by_timer) or case.due_at,
                "status": "open",
                "revision": 1,
            }
        )
        created.append(task_id)
    if rows:
        writes.queue(_INSERT_TASKS, rows)
    stages = [t.properties.get("stage") for t in ready.values() if t.properties.get("stage")]
    if stages:
        case.stage = stages[0]
    return {"created": created, "closed": closed}


# Built once: constructing a statement costs more than running it.
_INSERT_TASKS = insert(TASKS)
_COMPLETE_ONE = (
    update(TASKS)
    .where(
        TASKS.c.id == bindparam("task_id"),
        TASKS.c.revision == bindparam("revision"),
        TASKS.c.status == "open",
    )
    .values(
        status=bindparam("status"),
        completed_at=bindparam("now"),
        completed_by=bindparam("actor"),
        revision=TASKS.c.revision + 1,
    )
)
_CLOSE_ONE = (
    update(TASKS)
    .where(TASKS.c.id == bindparam("task_id"), TASKS.c.status == "open")
    .values(
        status=bindparam("status"), completed_at=bindparam("now"), revision=TASKS.c.revision + 1
    )
)


def _close_tasks(
    closed: list[str],
    finished: Mapping[str, str],
    now: datetime,
    completed: tuple[str, int, str] | None,
) -> None:
    """Mark the rows of tasks that left the ready list; a row changed by someone else since
    it was read (a claim racing the completion, a second completion) is a stale revision."""

    def status_of(task_id: str) -> str:
        return "completed" if finished.get(task_id) == "COMPLETED" else "cancelled"

    plain = list(closed)
    if completed is not None and completed[0] in plain:
        task_id, revision, actor = completed
        plain.remove(task_id)
        params = {"task_id": task_id, "revision": revision, "actor": actor, "now": now}
        writes.queue(
            _COMPLETE_ONE,
            {**params, "status": status_of(task_id)},
            expect=1,
            stale=f"task {task_id} was changed by someone else",
        )
    for task_id in plain:
        writes.queue(
            _CLOSE_ONE,
            {"task_id": task_id, "status": status_of(task_id), "now": now},
            expect=1,
            stale=f"open task {task_id} was changed by someone else",
        )


def _task_due(
    props: Mapping[str, str], data: Mapping[str, Any], due_by_timer: Mapping[str, datetime]
) -> datetime | None:
    """A task's own due time: the data key its ``dueVariable`` names, or its ``dueTimer``."""
    variable = props.get("dueVariable")
    if variable:
        due = _parse_time(data.get(variable))
        if due is not None:
            return due
    return due_by_timer.get(props.get("dueTimer", ""))


_INSERT_TIMERS = insert(TIMERS)
_DELETE_TIMER = delete(TIMERS).where(TIMERS.c.id == bindparam("timer_id"))
_MOVE_TIMER = (
    update(TIMERS)
    .where(TIMERS.c.id == bindparam("timer_id"))
    .values(
        due_at=bindparam("due_at"),
        retries=0,
        last_error=None,
        status="pending",
        revision=TIMERS.c.revision + 1,
    )
)


def _sync_timers(
    case: Case, row: ProcessInstance, timers: list[Any], known: Known
) -> dict[str, list[str]]:
    if known.timers is None:
        existing = {
            t.id: t.due_at
            for t in db.session.execute(
                select(Timer.id, Timer.due_at).where(Timer.instance_id == row.id)
            )
        }
    else:
        existing = {t.task_id: t.due_at for t in known.timers}
    if known.fired is not None:
        existing.setdefault(known.fired, None)
    waiting = {t.task_id: t for t in timers}
    removed = [i for i in existing if i not in waiting]
    for timer_id in removed:
        writes.queue(_DELETE_TIMER, {"timer_id": timer_id})
    scheduled, rows = [], []
    for timer_id, timer in waiting.items():
        if timer_id not in existing:
            rows.append(
                {
                    "id": timer_id,
                    "instance_id": row.id,
                    "case_id": case.id,
                    "bpmn_id": timer.bpmn_id,
                    "kind": timer.kind,
                    "interrupting": timer.interrupting,
                    "due_at": timer.due_at,
                    "status": "pending",
                    "retries": 0,
                    "revision": 1,
                }
            )
            scheduled.append(timer_id)
        elif existing[timer_id] != timer.due_at:  # a cycle moved on, or an extension moved it
            writes.queue(_MOVE_TIMER, {"timer_id": timer_id, "due_at": timer.due_at})
            scheduled.append(timer_id)
    if rows:
        writes.queue(_INSERT_TIMERS, rows)
    return {"scheduled": scheduled, "removed": removed}


def _sync_status(
    case: Case, row: ProcessInstance, instance: Instance, step: Step, data: dict[str, Any]
) -> str | None:
    """Close the case only at a real end event; anything else that stopped is an incident."""
    status = instance.status
    if status == "running":
        row.status = "running"
        return None
    if status == "completed" and step.ended_at is not None:
        outcome = data.get("outcome")
        case.status = outcome if outcome in END_OUTCOMES else "closed"
        case.stage = "closed"
        case.closed_at = clock.now()
        row.status = "completed"
        return None
    row.status = "incident"
    case.status = "incident"
    if status == "completed":
        return "engine reported completion without reaching an end event"
    return "no ready, waiting or started work and no end event reached"
