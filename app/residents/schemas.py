"""What a resident sees of a case (no personal data) and the rating they send."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from app.cases.queries import sla_of
from app.cases.schemas import SLA_STATES
from app.residents.service import SATISFACTION, Tracked
from app.web.labels import label


class PublicNoteSchema(ma.Schema):
    body = fields.String(metadata={"description": "公开答复 a caseworker's note meant for you"})
    created_at = fields.AwareDateTime()


def tracked_fields(tracked: Tracked) -> dict[str, Any]:
    """Field by field on purpose: never a title, description, address, reporter, resident
    details or caseworker name (any of them may identify someone)."""
    case = tracked.case
    return {
        "tracking_code": case.tracking_code,
        "status": case.status,
        "stage": case.stage,
        "mode": case.mode,
        "category": case.category,
        "category_label": label(case.category, "category"),
        "request_type": case.request_type,
        "opened_at": case.opened_at,
        "due_at": case.due_at,
        "closed_at": case.closed_at,
        "sla_state": sla_of(case)["state"],
        "notes": tracked.notes,
        "rating_open": tracked.rating_open,
    }


class TrackSchema(ma.Schema):
    tracking_code = fields.String()
    status = fields.String(
        metadata={"description": "open, closed, withdrawn, ledgered (挂账) or incident"}
    )
    stage = fields.String(
        metadata={"description": "接单 accept, 派单 dispatch, 督单 supervise, 审单 review, "
                  "回访 revisit or closed"}
    )  # fmt: skip
    mode = fields.String(allow_none=True, metadata={"description": "办理方式 handling mode"})
    category = fields.String(metadata={"description": "subject code (诉求类别)"})
    category_label = fields.String(metadata={"description": "the subject's name"})
    request_type = fields.String()
    opened_at = fields.AwareDateTime()
    due_at = fields.AwareDateTime(allow_none=True, metadata={"description": "办结时限"})
    closed_at = fields.AwareDateTime(allow_none=True)
    sla_state = fields.String(metadata={"enum": list(SLA_STATES)})
    notes = fields.List(
        fields.Nested(PublicNoteSchema), metadata={"description": "public notes, oldest first"}
    )
    rating_open = fields.Boolean(
        metadata={"description": "a 回访 follow-up waits for your rating (POST .../rating)"}
    )

    @ma.pre_dump
    def _expand(self, obj: Any, **_: Any) -> Any:
        return tracked_fields(obj) if isinstance(obj, Tracked) else obj


class RatingSchema(ma.Schema):
    satisfaction = fields.String(
        required=True,
        validate=validate.OneOf(SATISFACTION),
        metadata={
            "description": "满意 satisfied, 基本满意 basically_satisfied, 不满意 unsatisfied "
            "(unsatisfied reopens the case once, 重办)"
        },
    )
    comment = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "required when unsatisfied: what is still wrong"},
    )
    resolved = fields.Boolean(
        load_default=None,
        allow_none=True,
        metadata={"description": "问题已解决; by default true unless unsatisfied"},
    )

    @ma.validates_schema
    def _reason_when_unsatisfied(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("satisfaction") == "unsatisfied" and not (data.get("comment") or "").strip():
            raise ma.ValidationError(
                "不满意时请说明原因 say what is still wrong", field_name="comment"
            )
