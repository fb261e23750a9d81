"""The inbox: scoped task lists, task forms, and claim / assign / complete.

Reads come from the ``human_tasks`` projection (never from deserialized instances, except
the prefill of one task's form). Writes go through the unit of work. A task the user may not
see is reported as not found (404), whoever asks; a task they see but may not act on is
Forbidden (403): an auditor's, or a dispatcher's task of another role (they may assign it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from flask import current_app
from jsonschema import Draft202012Validator
from sqlalchemy import select

from app.auth.access import DISPATCH_ROLES, Forbidden, Principal
from app.cases.queries import InvalidInput
from app.core import hashchain, uow
from app.core.models import Case, HumanTask, ProcessInstance, ProcessVersion
from app.extensions import db
from app.orgs.models import User
from app.tasks import inbox as inbox_query
from workflows import engine
from workflows.calendar import default_calendar
from workflows.errors import TaskNotReady

SORTS = ("due_at", "-due_at", "created_at", "-created_at")
SCOPES = ("mine", "group", "all")


@dataclass(frozen=True)
class InboxQuery:
    scope: str = "all"
    status: str = "open"
    mode: str | None = None
    org_unit: str | None = None
    overdue: bool | None = None
    due_before: datetime | None = None
    sort: str = "due_at"
    after: tuple[int, datetime | None, str] | None = None  # (nulls-last flag, value, id)
    limit: int = 50


# -- access ---------------------------------------------------------------------------------
def can_see(p: Principal, task: HumanTask) -> bool:
    """Its role in its unit, assigned to me or delegated by me, or a dispatching role over
    its unit."""
    return (
        p.reads_all
        or task.assignee_id == p.user.id
        or task.owner_id == p.user.id
        or p.holds(task.role, task.org_unit)
        or p.holds(DISPATCH_ROLES, task.org_unit)
    )


def can_act(p: Principal, task: HumanTask) -> bool:
    if p.read_only:
        return False
    return p.is_admin or task.assignee_id == p.user.id or p.holds(task.role, task.org_unit)


def visible_task(p: Principal, task_id: str) -> HumanTask:
    task = db.session.get(HumanTask, task_id)
    if task is None or not can_see(p, task):
        raise uow.NotFound(f"task {task_id} not found")
    return task


def actionable_task(p: Principal, task_id: str) -> HumanTask:
    task = visible_task(p, task_id)
    if not can_act(p, task):
        raise Forbidden(f"you may not act on task {task_id}")
    if task.status != "open":
        raise uow.Conflict(f"task {task_id} is already {task.status}")
    return task


# -- inbox ----------------------------------------------------------------------------------
def inbox(p: Principal, q: InboxQuery) -> tuple[list[HumanTask], tuple[Any, ...] | None, int]:
    """One page of the user's tasks, the key of the next page (or None) and the total; the
    query, shaped for the inbox indexes, is in app/tasks/inbox.py."""
    return inbox_query.page(p, q)


# -- forms ----------------------------------------------------------------------------------
def form_schema(task: HumanTask) -> dict[str, Any] | None:
    """The task's JSON Schema, from the files of the version its case runs.

    Read once per version and form and kept by the app (a version never changes): a narrow
    read of the instance's version id, not its state or the version's files, per call."""
    if not task.form:
        return None
    version_id = db.session.scalar(
        select(ProcessInstance.version_id).where(ProcessInstance.id == task.instance_id)
    )
    known: dict[tuple[int, str], str | None] = current_app.extensions.setdefault(
        "gridcase.form_schemas", {}
    )
    key = (version_id, task.form)
    if key not in known:
        version = db.session.get(ProcessVersion, version_id)
        assert version is not None
        known[key] = next(
            (text for path, text in version.files.items() if PurePosixPath(path).name == task.form),
            None,
        )
    text = known[key]
    if text is None:
        return None
    schema: dict[str, Any] = json.loads(text)  # a fresh dict: callers may change theirs
    return schema


def prefill(task: HumanTask, schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The current values of the form's fields, read from the engine's task data."""
    if schema is None or task.status != "open":
        return {}
    row = db.session.get(ProcessInstance, task.instance_id)
    assert row is not None
    instance = engine.load_instance(
        uow.version_spec(row.version), row.state, calendar=default_calendar()
    )
    try:
        data = instance.task_data(task.id)
    except TaskNotReady:
        return {}
    fields = schema.get("properties") or {}
    return dict(hashchain.plain({k: data[k] for k in fields if k in data}))


def form_errors(schema: Mapping[str, Any], data: Any) -> dict[str, list[str]]:
    """Each bad field (dotted path) with its messages, by JSON Schema Draft 2020-12."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    out: dict[str, list[str]] = {}
    for err in validator.iter_errors(data):
        base = [str(part) for part in err.absolute_path]
        names: list[str] = []
        message = err.message
        if err.validator == "required" and isinstance(err.instance, dict):
            names = [".".join([*base, m]) for m in err.validator_value if m not in err.instance]
            message = "this field is required"
        elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
            known = set(err.schema.get("properties", {}))
            patterns = list(err.schema.get("patternProperties", {}))
            names = [
                ".".join([*base, k])
                for k in err.instance
                if k not in known and not any(re.search(pat, k) for pat in patterns)
            ]
            message = "unknown field"
        for name in names or [".".join(base) or "data"]:
            out.setdefault(name, []).append(message)
    return out


# -- actions --------------------------------------------------------------------------------
def claim(p: Principal, task_id: str) -> HumanTask:
    task = actionable_task(p, task_id)
    if task.assignee_id is not None:
        raise uow.Conflict(f"task {task_id} is already claimed")
    return uow.claim_task(task_id=task_id, user=p.user, actor=p.username)


def unclaim(p: Principal, task_id: str) -> HumanTask:
    task = actionable_task(p, task_id)
    if task.assignee_id is None:
        raise uow.Conflict(f"task {task_id} is not claimed")
    manager = p.is_admin or p.holds(DISPATCH_ROLES, task.org_unit)
    if task.assignee_id != p.user.id and not manager:
        raise uow.Conflict(f"task {task_id} is claimed by someone else")
    if task.owner_id is not None and task.assignee_id == p.user.id:  # 委派: see delegation.py
        raise uow.Conflict(f"task {task_id} is delegated to you: resolve it to give it back")
    return uow.assign_task(
        task_id=task_id, user=None, actor=p.username, expect_assignee=task.assignee_id
    )


def assign(p: Principal, task_id: str, username: str) -> HumanTask:
    task = visible_task(p, task_id)
    if p.read_only or not (p.is_admin or p.holds(DISPATCH_ROLES, task.org_unit)):
        raise Forbidden("assigning tasks needs a dispatching role in the task's unit")
    if task.status != "open":
        raise uow.Conflict(f"task {task_id} is already {task.status}")
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise InvalidInput({"username": [f"no active user {username!r}"]}, "cannot assign")
    if not Principal.of(user).holds(task.role, task.org_unit):
        raise InvalidInput(
            {"username": [f"{username} does not hold {task.role} in {task.org_unit.code}"]},
            "cannot assign",
        )
    return uow.assign_task(task_id=task_id, user=user, actor=p.username)


def complete(p: Principal, task_id: str, data: Mapping[str, Any]) -> Case:
    """Validate ``data`` against the task's form, then complete it; nothing is written on
    any error."""
    task = actionable_task(p, task_id)
    if task.assignee_id not in (None, p.user.id):
        raise uow.Conflict(f"task {task_id} is claimed by someone else")
    if task.owner_id is not None:  # 委派: the delegate resolves, the owner completes
        raise uow.Conflict(f"task {task_id} is delegated: the delegate resolves it first")
    schema = form_schema(task)
    if schema is not None:
        errors = form_errors(schema, data)
        if errors:
            raise InvalidInput(errors, "the form data is invalid")
    return uow.complete_task(task_id=task_id, data=data, actor=p.username, as_user=p.user.id)


def open_tasks_of(case_id: int) -> list[HumanTask]:
    return list(
        db.session.scalars(
            select(HumanTask)
            .where(HumanTask.case_id == case_id, HumanTask.status == "open")
            .order_by(HumanTask.created_at, HumanTask.id)
        )
    )
