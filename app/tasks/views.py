"""/api/v1/tasks: the inbox, one task with its form, claim / unclaim / assign / complete,
bulk claim / assign, and 委派 delegate / resolve."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_smorest import Blueprint

from app.api.pagination import bad_cursor, decode_cursor, encode_cursor
from app.auth.access import current_principal
from app.cases.schemas import CaseSchema
from app.core.models import Case, HumanTask
from app.tasks import bulk, delegation, service
from app.tasks.schemas import (
    AssignSchema,
    BulkResultsSchema,
    BulkSchema,
    CompleteSchema,
    DelegateSchema,
    InboxArgs,
    InboxSchema,
    ResolveSchema,
    TaskDetailSchema,
    TaskSchema,
    task_fields,
)

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="The inbox")


def _after(cursor: str | None) -> tuple[int, datetime | None, str] | None:
    key = decode_cursor(cursor)
    if key is None:
        return None
    try:
        flag, value, last_id = key
        moment = datetime.fromisoformat(value) if value is not None else None
    except (TypeError, ValueError) as exc:
        raise bad_cursor() from exc
    if flag not in (0, 1) or not isinstance(last_id, str) or (moment and not moment.tzinfo):
        raise bad_cursor()
    return flag, moment, last_id


@blp.route("", methods=["GET"])
@blp.arguments(InboxArgs, location="query")
@blp.response(200, InboxSchema)
def inbox(args: dict[str, Any]) -> dict[str, Any]:
    """My tasks (mine), my roles' unassigned tasks in my units (group), or both (all)."""
    query = service.InboxQuery(
        scope=args["scope"],
        status=args["status"],
        mode=args["mode"],
        org_unit=args["org_unit"],
        overdue=args["overdue"],
        due_before=args["due_before"],
        sort=args["sort"],
        after=_after(args["cursor"]),
        limit=args["limit"],
    )
    items, key, total = service.inbox(current_principal(), query)
    cursor = None
    if key is not None:
        flag, value, last_id = key
        cursor = encode_cursor([flag, value.isoformat() if value else None, last_id])
    return {"items": items, "next_cursor": cursor, "total": total}


@blp.route("/<task_id>", methods=["GET"])
@blp.response(200, TaskDetailSchema)
def get_task(task_id: str) -> dict[str, Any]:
    """One task, its form (JSON Schema) and the form's current values."""
    task = service.visible_task(current_principal(), task_id)
    form = service.form_schema(task)
    return {**task_fields(task), "form": form, "data": service.prefill(task, form)}


@blp.route("/<task_id>/claim", methods=["POST"])
@blp.response(200, TaskSchema)
@blp.alt_response(409, description="already claimed or no longer open")
def claim(task_id: str) -> HumanTask:
    """Take an unassigned task of one of my roles."""
    return service.claim(current_principal(), task_id)


@blp.route("/<task_id>/unclaim", methods=["POST"])
@blp.response(200, TaskSchema)
@blp.alt_response(409, description="not claimed, claimed by someone else, or no longer open")
def unclaim(task_id: str) -> HumanTask:
    """Give a claimed task back to the group."""
    return service.unclaim(current_principal(), task_id)


@blp.route("/<task_id>/assign", methods=["POST"])
@blp.arguments(AssignSchema)
@blp.response(200, TaskSchema)
@blp.alt_response(409, description="the task is no longer open")
def assign(body: dict[str, Any], task_id: str) -> HumanTask:
    """Hand a task to a user who holds its role in its unit (dispatching roles only)."""
    return service.assign(current_principal(), task_id, body["username"])


@blp.route("/<task_id>/complete", methods=["POST"])
@blp.arguments(CompleteSchema)
@blp.response(200, CaseSchema)
@blp.alt_response(409, description="already completed, or claimed by someone else")
def complete(body: dict[str, Any], task_id: str) -> Case:
    """Submit the task's form; the data is checked against its JSON Schema first."""
    return service.complete(current_principal(), task_id, body["data"])


@blp.route("/bulk", methods=["POST"])
@blp.arguments(BulkSchema)
@blp.response(200, BulkResultsSchema)
@blp.alt_response(422, description="bad action, ids (none, repeated, over 100) or username")
def bulk_action(body: dict[str, Any]) -> dict[str, Any]:
    """批量领取/指派: claim or assign many tasks. Each id is its own transaction: one that
    fails (its own status 403/404/409/422 in ``results``) undoes none of the others."""
    results = bulk.run(
        current_principal(), action=body["action"], ids=body["ids"], username=body["username"]
    )
    return {"results": results}


@blp.route("/<task_id>/delegate", methods=["POST"])
@blp.arguments(DelegateSchema)
@blp.response(200, TaskSchema)
@blp.alt_response(403, description="only the task's assignee (the owner) may delegate it")
@blp.alt_response(409, description="not open, not claimed, already delegated, or changed")
@blp.alt_response(422, description="username: unknown, yourself, or cannot hold the task")
def delegate(body: dict[str, Any], task_id: str) -> HumanTask:
    """委派: lend my task to a colleague who holds its role; they resolve it, I complete it."""
    return delegation.delegate(current_principal(), task_id, body["username"], body["note"])


@blp.route("/<task_id>/resolve", methods=["POST"])
@blp.arguments(ResolveSchema)
@blp.response(200, TaskSchema)
@blp.alt_response(403, description="only the delegate may resolve")
@blp.alt_response(409, description="not open, not delegated, or changed")
def resolve(body: dict[str, Any], task_id: str) -> HumanTask:
    """委派 done: the delegate gives the task back to its owner, who completes it."""
    return delegation.resolve(current_principal(), task_id, body["note"])
