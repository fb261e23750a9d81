"""Inbox schemas: task items, the inbox page, task actions."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from app.api.pagination import PageArgs
from app.core.models import HumanTask
from app.tasks.bulk import ACTIONS, MAX_IDS
from app.tasks.service import SCOPES, SORTS


def task_fields(task: HumanTask) -> dict[str, Any]:
    return {
        "id": task.id,
        "case_id": task.case_id,
        "case_code": task.case.code,
        "name": task.name,
        "bpmn_id": task.bpmn_id,
        "role": task.role,
        "org_unit": task.org_unit.code,
        "assignee": task.assignee.username if task.assignee else None,
        "owner": task.owner.username if task.owner else None,
        "status": task.status,
        "stage": task.stage,
        "created_at": task.created_at,
        "due_at": task.due_at,
        "priority": task.priority,
        "completed_at": task.completed_at,
        "completed_by": task.completed_by,
    }


class TaskSchema(ma.Schema):
    id = fields.String(metadata={"description": "the engine's task id"})
    case_id = fields.Integer()
    case_code = fields.String()
    name = fields.String()
    bpmn_id = fields.String()
    role = fields.String(allow_none=True)
    org_unit = fields.String(metadata={"description": "code of the unit whose people get it"})
    assignee = fields.String(allow_none=True, metadata={"description": "username"})
    owner = fields.String(
        allow_none=True,
        metadata={"description": "委派: username of the owner who delegated it to the assignee"},
    )
    status = fields.String(metadata={"description": "open, completed or cancelled"})
    stage = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    due_at = fields.AwareDateTime(allow_none=True)
    priority = fields.Integer()
    completed_at = fields.AwareDateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)

    @ma.pre_dump
    def _flatten(self, obj: Any, **_: Any) -> Any:
        return task_fields(obj) if isinstance(obj, HumanTask) else obj


class TaskDetailSchema(TaskSchema):
    form = fields.Dict(allow_none=True, metadata={"description": "the form's JSON Schema"})
    data = fields.Dict(metadata={"description": "current values of the form's fields"})


class InboxArgs(PageArgs):
    scope = fields.String(load_default="all", validate=validate.OneOf(SCOPES))
    status = fields.String(
        load_default="open", validate=validate.OneOf(("open", "completed", "cancelled"))
    )
    mode = fields.String(load_default=None)
    org_unit = fields.String(load_default=None, metadata={"description": "unit code and below"})
    overdue = fields.Boolean(load_default=None)
    due_before = fields.AwareDateTime(load_default=None)
    sort = fields.String(load_default="due_at", validate=validate.OneOf(SORTS))


class InboxSchema(ma.Schema):
    items = fields.List(fields.Nested(TaskSchema))
    next_cursor = fields.String(allow_none=True)
    total = fields.Integer()


class AssignSchema(ma.Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))


class CompleteSchema(ma.Schema):
    data = fields.Dict(keys=fields.String(), required=True)


class BulkSchema(ma.Schema):
    """批量领取/指派: each id is its own transaction (one failing id undoes no other)."""

    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=36)),
        required=True,
        validate=validate.Length(min=1, max=MAX_IDS),
        metadata={"description": f"task ids, at most {MAX_IDS}, no repeats"},
    )
    username = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=80),
        metadata={"description": "the user to assign to: required for assign, not for claim"},
    )

    @ma.validates("ids")
    def _distinct(self, value: list[str], **_: Any) -> None:
        if len(set(value)) != len(value):
            raise ma.ValidationError("each id may appear only once")

    @ma.validates_schema
    def _username(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("action") == "assign" and not data.get("username"):
            raise ma.ValidationError("required to assign", "username")
        if data.get("action") == "claim" and data.get("username") is not None:
            raise ma.ValidationError("not allowed with claim (you claim for yourself)", "username")


class BulkResultSchema(ma.Schema):
    id = fields.String()
    status = fields.Integer(
        metadata={"description": "what the single call would answer: 200, 403, 404, 409, 422"}
    )
    detail = fields.String(metadata={"description": "why it failed"})
    task = fields.Nested(TaskSchema, metadata={"description": "the task after the action"})


class BulkResultsSchema(ma.Schema):
    results = fields.List(fields.Nested(BulkResultSchema), metadata={"description": "in order"})


class DelegateSchema(ma.Schema):
    username = fields.String(
        required=True,
        validate=validate.Length(min=1, max=80),
        metadata={"description": "the delegate: holds the task's role in its unit"},
    )
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class ResolveSchema(ma.Schema):
    note = fields.String(load_default="", validate=validate.Length(max=2000))
