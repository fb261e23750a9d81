"""Keep the relational projections (inbox tasks, timers, case row) in step with the engine.

Called by the unit of work after every engine step, in the same transaction; it returns what
it changed so the step's audit event can say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.core.models import Case, HumanTask, ProcessInstance, Timer
from app.extensions import db
from app.orgs.service import task_unit_id
from workflows import clock
from workflows.engine import Instance, Step

END_OUTCOMES = {"closed", "withdrawn", "ledgered"}


def sync(case: Case, row: ProcessInstance, instance: Instance, step: Step) -> dict[str, Any]:
    with db.session.no_autoflush:  # read everything first, then let the commit write once
        return _sync(case, row, instance, step)


def _sync(case: Case, row: ProcessInstance, instance: Instance, step: Step) -> dict[str, Any]:
    data = instance.data
    changes: dict[str, Any] = {}
    before = _case_fields(case)
    _sync_case_data(case, data)
    timers = instance.waiting_timers()
    changes["tasks"] = _sync_tasks(case, row, instance, step, timers)
    changes["timers"] = _sync_timers(case, row, timers)
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
) -> dict[str, list[str]]:
    ready = {t.id: t for t in instance.ready_tasks()}
    open_rows = {
        t.id: t
        for t in db.session.scalars(
            select(HumanTask).where(HumanTask.instance_id == row.id, HumanTask.status == "open")
        )
    }
    finished = {f.id: f.state for f in step.finished}
    now = clock.now()
    closed = []
    for task_id, task_row in open_rows.items():
        if task_id in ready:
            continue
        task_row.status = "completed" if finished.get(task_id) == "COMPLETED" else "cancelled"
        task_row.completed_at = now
        closed.append(task_id)
    created = []
    due_by_timer = {t.bpmn_id: t.due_at for t in timers}
    for task_id, task in ready.items():
        if task_id in open_rows:
            continue
        props = task.properties
        own_data = instance.task_data(task_id)  # a multi-instance task has its own department
        unit_id = task_unit_id(
            case_unit=case.org_unit, role=task.lane, properties=props, data=own_data
        )
        priority = props.get("priority")
        db.session.add(
            HumanTask(
                id=task_id,
                case_id=case.id,
                instance_id=row.id,
                bpmn_id=task.bpmn_id,
                name=task.name,
                role=task.lane,
                org_unit_id=unit_id,
                stage=props.get("stage"),
                form=task.form,
                priority=int(priority) if priority and priority.isdigit() else case.priority,
                created_at=now,
                due_at=_task_due(props, own_data, due_by_timer) or case.due_at,
            )
        )
        created.append(task_id)
    stages = [t.properties.get("stage") for t in ready.values() if t.properties.get("stage")]
    if stages:
        case.stage = stages[0]
    return {"created": created, "closed": closed}


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


def _sync_timers(case: Case, row: ProcessInstance, timers: list[Any]) -> dict[str, list[str]]:
    existing = {
        t.id: t for t in db.session.scalars(select(Timer).where(Timer.instance_id == row.id))
    }
    waiting = {t.task_id: t for t in timers}
    removed = []
    for timer_id, timer_row in existing.items():
        if timer_id not in waiting:
            db.session.delete(timer_row)
            removed.append(timer_id)
    scheduled = []
    for timer_id, timer in waiting.items():
        timer_row = existing.get(timer_id)
        if timer_row is None:
            db.session.add(
                Timer(
                    id=timer_id,
                    instance_id=row.id,
                    case_id=case.id,
                    bpmn_id=timer.bpmn_id,
                    kind=timer.kind,
                    interrupting=timer.interrupting,
                    due_at=timer.due_at,
                )
            )
            scheduled.append(timer_id)
        elif timer_row.due_at != timer.due_at:  # a cycle moved on, or an extension moved it
            timer_row.due_at = timer.due_at
            timer_row.retries, timer_row.last_error, timer_row.status = 0, None, "pending"
            scheduled.append(timer_id)
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
