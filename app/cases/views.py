"""/api/v1/cases: intake, read, list, withdraw."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from app.api.pagination import bad_cursor, decode_cursor, encode_cursor
from app.auth.access import current_principal
from app.cases import queries
from app.cases.schemas import (
    CaseListArgs,
    CaseListSchema,
    CaseSchema,
    IntakeSchema,
    WithdrawSchema,
)
from app.core.models import Case

blp = Blueprint("cases", __name__, url_prefix="/api/v1/cases", description="Cases")


@blp.route("", methods=["POST"])
@blp.arguments(IntakeSchema)
@blp.response(201, CaseSchema)
@blp.alt_response(403, description="no caseworker role in that grid")
def create_case(body: dict[str, Any]) -> Case:
    """Open a case (intake) for a grid; its process starts at once."""
    return queries.intake(current_principal(), body)


@blp.route("", methods=["GET"])
@blp.arguments(CaseListArgs, location="query")
@blp.response(200, CaseListSchema)
def list_cases(args: dict[str, Any]) -> dict[str, Any]:
    """Cases the user may see, newest first, a page at a time."""
    key = decode_cursor(args["cursor"])
    if key is not None and (len(key) != 1 or not isinstance(key[0], int)):
        raise bad_cursor()
    query = queries.CaseQuery(
        status=args["status"],
        mode=args["mode"],
        org_unit=args["org_unit"],
        overdue=args["overdue"],
        q=args["q"],
        after_id=key[0] if key else None,
        limit=args["limit"],
    )
    items, after = queries.list_cases(current_principal(), query)
    return {"items": items, "next_cursor": encode_cursor([after]) if after else None}


@blp.route("/<int:case_id>", methods=["GET"])
@blp.response(200, CaseSchema)
def get_case(case_id: int) -> Case:
    """One case with its SLA state, process version and open tasks."""
    return queries.get_visible(current_principal(), case_id)


@blp.route("/<int:case_id>/withdraw", methods=["POST"])
@blp.arguments(WithdrawSchema)
@blp.response(200, CaseSchema)
@blp.alt_response(409, description="the case is closed or not waiting for a withdrawal")
def withdraw_case(body: dict[str, Any], case_id: int) -> Case:
    """Record that the resident withdrew the request."""
    return queries.withdraw(current_principal(), case_id, body["reason"])
