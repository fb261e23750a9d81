"""/api/v1/cases/{id}/events: the audit trail and its verification."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from app.audit import service
from app.audit.schemas import EventSchema, VerifySchema
from app.auth.access import current_principal
from app.cases.queries import get_visible
from app.core.models import CaseEvent

blp = Blueprint("audit", __name__, url_prefix="/api/v1/cases", description="Audit trail")


@blp.route("/<int:case_id>/events", methods=["GET"])
@blp.response(200, EventSchema(many=True))
def events(case_id: int) -> list[CaseEvent]:
    """The case's audit trail, oldest first."""
    get_visible(current_principal(), case_id)
    return service.events_of(case_id)


@blp.route("/<int:case_id>/events/verify", methods=["GET"])
@blp.response(200, VerifySchema)
def verify(case_id: int) -> dict[str, Any]:
    """Recompute the hash chain: ok, or the first seq that was altered or removed."""
    get_visible(current_principal(), case_id)
    return service.verify(case_id)
