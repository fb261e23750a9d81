"""Case schemas: intake, the case as the API shows it, list arguments."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from app.api.pagination import PageArgs
from app.cases.queries import process_of, sla_of
from app.core.models import Case
from app.tasks.schemas import TaskSchema
from app.tasks.service import open_tasks_of

REQUEST_TYPES = ("consult", "help", "complaint", "report", "suggestion")
CHANNELS = ("front_desk", "grid_patrol", "resident_online", "hotline", "building_head")
MODES = ("immediate", "proxy", "accompany", "home_visit", "urgent", "green_channel", "escalated")
SLA_STATES = ("on_track", "due_soon", "overdue", "paused", "ledgered", "closed")


class ReporterSchema(ma.Schema):
    name = fields.String(validate=validate.Length(max=100), load_default="")
    phone = fields.String(
        validate=validate.Regexp(r"^[0-9+\- ()]{0,30}$", error="not a phone number"),
        load_default="",
    )


class ResidentSchema(ma.Schema):
    age = fields.Integer(validate=validate.Range(min=0, max=150), allow_none=True)
    mobility = fields.String(
        validate=validate.Length(max=20),
        load_default="normal",
        metadata={"description": "normal, or how limited (the triage table reads it)"},
    )
    vulnerable = fields.Boolean(load_default=False)


class IntakeSchema(ma.Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=10000))
    category = fields.String(required=True, validate=validate.Length(min=1, max=20))
    request_type = fields.String(required=True, validate=validate.OneOf(REQUEST_TYPES))
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    org_unit = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "the grid's code"},
    )
    address = fields.String(load_default="", validate=validate.Length(max=300))
    reporter = fields.Nested(ReporterSchema, load_default=dict)
    resident = fields.Nested(ResidentSchema, load_default=dict)
    urgent = fields.Boolean(load_default=False)
    mode = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(MODES),
        metadata={"description": "a caseworker's choice; otherwise triage picks it"},
    )


class SlaSchema(ma.Schema):
    state = fields.String(metadata={"enum": list(SLA_STATES)})
    due_at = fields.AwareDateTime(allow_none=True)
    remaining = fields.Integer(
        allow_none=True, metadata={"description": "seconds of wall time left (negative: late)"}
    )


class ProcessRefSchema(ma.Schema):
    key = fields.String()
    version = fields.Integer()


def case_fields(case: Case, *, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        name: getattr(case, name)
        for name in (
            "id", "code", "tracking_code", "title", "category", "request_type", "channel",
            "status", "mode", "stage", "priority", "urgent", "opened_at", "due_at", "closed_at",
        )
    }  # fmt: skip
    out["org_unit"] = case.org_unit.code
    out["sla"] = sla_of(case)
    if detail:
        out.update(
            description=case.description,
            address=case.address,
            reporter=case.reporter,
            resident=case.resident,
            process=process_of(case),
            tasks=open_tasks_of(case.id),
        )
    return out


class CaseSummarySchema(ma.Schema):
    id = fields.Integer()
    code = fields.String()
    tracking_code = fields.String()
    title = fields.String()
    category = fields.String()
    request_type = fields.String()
    channel = fields.String()
    status = fields.String()
    mode = fields.String(allow_none=True)
    stage = fields.String()
    priority = fields.Integer()
    urgent = fields.Boolean()
    org_unit = fields.String(metadata={"description": "org unit code"})
    opened_at = fields.AwareDateTime()
    due_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    sla = fields.Nested(SlaSchema)

    @ma.pre_dump
    def _expand(self, obj: Any, **_: Any) -> Any:
        return case_fields(obj, detail=False) if isinstance(obj, Case) else obj


class CaseSchema(CaseSummarySchema):
    description = fields.String()
    address = fields.String()
    reporter = fields.Nested(ReporterSchema)
    resident = fields.Dict()
    process = fields.Nested(ProcessRefSchema, allow_none=True)
    tasks = fields.List(fields.Nested(TaskSchema), metadata={"description": "open tasks"})

    @ma.pre_dump
    def _expand(self, obj: Any, **_: Any) -> Any:
        return case_fields(obj, detail=True) if isinstance(obj, Case) else obj


class CaseListArgs(PageArgs):
    status = fields.String(load_default=None)
    mode = fields.String(load_default=None)
    org_unit = fields.String(load_default=None, metadata={"description": "unit code and below"})
    overdue = fields.Boolean(load_default=None)
    q = fields.String(load_default=None, validate=validate.Length(max=200))


class CaseListSchema(ma.Schema):
    items = fields.List(fields.Nested(CaseSummarySchema))
    next_cursor = fields.String(allow_none=True)


class WithdrawSchema(ma.Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=2000))
