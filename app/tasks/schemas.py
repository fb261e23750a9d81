"""Inbox schemas: task items, the inbox page, task actions."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from app.api.pagination import PageArgs
from app.core.models import HumanTask
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
