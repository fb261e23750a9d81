"""SLA schemas: pause/resume/extension bodies, the SLA state, calendars, incidents, digests."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

SLA_STATES = ("on_track", "due_soon", "overdue", "paused", "ledgered", "closed")
TIME = r"^([01]\d|2[0-3]):[0-5]\d$"


class SuspendSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ResumeSchema(ma.Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class ExtendSchema(ma.Schema):
    """More working days/hours, or a new deadline (``until``)."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    working_days = fields.Integer(load_default=0, validate=validate.Range(min=0, max=365))
    working_hours = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=10000))
    until = fields.AwareDateTime(load_default=None, allow_none=True)

    @ma.validates_schema
    def _one_kind(self, data: dict[str, Any], **_: Any) -> None:
        amount = data.get("working_days") or data.get("working_hours")
        if data.get("until") is None and not amount:
            raise ma.ValidationError("give working_days, working_hours or until", "working_days")


class SlaStateSchema(ma.Schema):
    state = fields.String(metadata={"enum": list(SLA_STATES)})
    due_at = fields.AwareDateTime(allow_none=True)
    remaining = fields.Integer(
        allow_none=True, metadata={"description": "wall-clock seconds left (negative: late)"}
    )
    remaining_working = fields.Integer(
        allow_none=True,
        metadata={"description": "working seconds left on the case's calendar (negative: late)"},
    )
    paused_at = fields.AwareDateTime(allow_none=True)
    calendar = fields.String(metadata={"description": "the calendar the clock runs on"})


class CalendarCreateSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,80}$"))
    tz = fields.String(load_default="Asia/Shanghai", validate=validate.Length(max=64))
    hours = fields.List(
        fields.List(
            fields.String(validate=validate.Regexp(TIME)), validate=validate.Length(equal=2)
        ),
        load_default=None,
        validate=validate.Length(min=1, max=6),
        metadata={"description": 'working periods, e.g. [["09:00", "12:00"], ["13:30", "18:00"]]'},
    )
    copy_from = fields.String(load_default=None, allow_none=True)


class CalendarYearSchema(ma.Schema):
    """A year's schedule as the State Council publishes it."""

    days_off = fields.List(
        fields.Date(), load_default=list, validate=validate.Length(max=366),
        metadata={"description": "weekdays off (holidays)"},
    )  # fmt: skip
    workdays = fields.List(
        fields.Date(), load_default=list, validate=validate.Length(max=366),
        metadata={"description": "weekend days worked (调休)"},
    )  # fmt: skip


class CalendarAssignSchema(ma.Schema):
    calendar = fields.String(
        required=True, allow_none=True, metadata={"description": "a calendar name; null: inherit"}
    )


class CalendarSchema(ma.Schema):
    name = fields.String()
    tz = fields.String()
    hours = fields.List(fields.List(fields.String()))
    is_default = fields.Boolean()
    org_units = fields.List(fields.String())
    years = fields.List(fields.Integer())
    first_year = fields.Integer(allow_none=True)
    last_year = fields.Integer(allow_none=True)
    missing = fields.List(
        fields.Integer(), metadata={"description": "years without data in the next 60 days"}
    )
    warning = fields.String(allow_none=True)
    updated_at = fields.AwareDateTime()
    updated_by = fields.String()


class IncidentSchema(ma.Schema):
    id = fields.String()
    case_id = fields.Integer()
    case_code = fields.String()
    bpmn_id = fields.String()
    due_at = fields.AwareDateTime()
    retries = fields.Integer()
    last_error = fields.String(allow_none=True)


class DigestArgs(ma.Schema):
    day = fields.Date(required=True)
    org_unit = fields.String(load_default=None)


class DigestSchema(ma.Schema):
    org_unit = fields.String()
    day = fields.Date()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    created_at = fields.AwareDateTime()
