"""Intake, the case page (SLA, open tasks, audit timeline) and the residents' tracking page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.api.errors import flatten
from app.audit import service as audit
from app.auth.access import INTAKE_ROLES, Forbidden, Principal
from app.cases import queries
from app.cases.schemas import CHANNELS, MODES, REQUEST_TYPES, IntakeSchema
from app.cases.service import IntakeError
from app.core.models import Case, CaseEvent, HumanTask
from app.extensions import db
from app.orgs.models import OrgUnit
from app.tasks.service import open_tasks_of
from app.web import bp
from app.web.auth import current
from app.web.forms import errors_by_field
from app.web.labels import CATEGORY, CHANNEL, MOBILITY, MODE, REQUEST_TYPE

INTAKE_FIELDS = (
    "title", "description", "category", "request_type", "channel", "org_unit", "address",
    "reporter.name", "reporter.phone", "resident.age", "resident.mobility",
    "resident.vulnerable", "urgent", "mode",
)  # fmt: skip
CHECKBOXES = ("resident.vulnerable", "urgent")
TRACK_LENGTH = 20


def intake_grids(p: Principal) -> list[OrgUnit]:
    """The grids the user may open cases for."""
    grids = db.session.scalars(select(OrgUnit).where(OrgUnit.kind == "grid").order_by(OrgUnit.code))
    return [g for g in grids if p.is_admin or p.holds(INTAKE_ROLES, g)]


def intake_body(form: MultiDict[str, str]) -> dict[str, Any]:
    """The API's intake body from the form; empty inputs are left out so that a missing
    required field is reported as missing."""

    def text(name: str) -> str | None:
        value = form.get(name, "").strip()
        return value or None

    body: dict[str, Any] = {}
    for name in ("title", "description", "category", "request_type", "channel", "org_unit",
                 "address", "mode"):  # fmt: skip
        value = text(name)
        if value is not None:
            body[name] = value
    body["reporter"] = {k: v for k in ("name", "phone") if (v := text(f"reporter.{k}"))}
    resident: dict[str, Any] = {"vulnerable": form.get("resident.vulnerable") is not None}
    if (age := text("resident.age")) is not None:
        resident["age"] = age
    if (mobility := text("resident.mobility")) is not None:
        resident["mobility"] = mobility
    body["resident"] = resident
    body["urgent"] = form.get("urgent") is not None
    return body


def _intake_page(
    p: Principal,
    values: Mapping[str, Any],
    errors: Mapping[str, list[str]] | None = None,
    general: list[str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    page = render_template(
        "web/case_new.html",
        grids_options=[(g.code, f"{g.name} ({g.code})") for g in intake_grids(p)],
        values=values,
        errors=errors or {},
        general=general or [],
        request_types=[(k, REQUEST_TYPE.get(k, k)) for k in REQUEST_TYPES],
        channels=[(k, CHANNEL.get(k, k)) for k in CHANNELS],
        modes=[(k, MODE.get(k, k)) for k in MODES],
        mobilities=list(MOBILITY.items()),
        categories=list(CATEGORY.items()),
    )
    return page, status


@bp.route("/cases/new", methods=["GET", "POST"])
def case_new() -> Any:
    p = current()
    if not (p.is_admin or p.has_role(INTAKE_ROLES)):
        abort(403, description="立案需要网格员、社区或街道的岗位 Intake needs a caseworker role")
    if request.method == "GET":
        grids = intake_grids(p)
        defaults = {"channel": "front_desk", "request_type": "help", "resident.mobility": "normal"}
        if len(grids) == 1:
            defaults["org_unit"] = grids[0].code
        return _intake_page(p, defaults)
    values: dict[str, Any] = {name: request.form.get(name, "") for name in INTAKE_FIELDS}
    for name in CHECKBOXES:
        values[name] = request.form.get(name) is not None
    try:
        fields = IntakeSchema().load(intake_body(request.form))
        case = queries.intake(p, fields)
    except ma.ValidationError as exc:
        return _fail(p, values, flatten(exc.messages))
    except IntakeError as exc:
        return _fail(p, values, {exc.field: [str(exc)]})
    except Forbidden as exc:
        return _fail(p, values, {"org_unit": [str(exc)]}, status=403)
    flash(
        f"已立案 {case.code}，查询码 {case.tracking_code} "
        f"Case opened; tracking code {case.tracking_code}",
        "success",
    )
    return redirect(url_for("web.case_page", case_id=case.id))


def _fail(
    p: Principal, values: Mapping[str, Any], errors: Mapping[str, list[str]], status: int = 422
) -> tuple[str, int]:
    by_field, general = errors_by_field(list(INTAKE_FIELDS), errors)
    return _intake_page(p, values, by_field, general, status)


def _event_summary(event: CaseEvent, names: Mapping[str, str]) -> str:
    data = event.data or {}
    task = data.get("task")
    if isinstance(task, Mapping):
        name = names.get(str(task.get("id"))) or str(task.get("bpmn_id") or "")
        assignee = data.get("assignee")
        if isinstance(assignee, list) and len(assignee) == 2 and assignee[1]:
            return f"{name} → {assignee[1]}"
        return name
    if event.type == "case.opened" and isinstance(data.get("process"), Mapping):
        process = data["process"]
        return f"{process.get('key')} v{process.get('version')}"
    if event.type == "message.received":
        return str(data.get("message") or "")
    if event.type == "timer.fired" and isinstance(data.get("fired"), list):
        return ", ".join(str(t.get("bpmn_id")) for t in data["fired"] if isinstance(t, Mapping))
    return ""


@bp.route("/cases/<int:case_id>", methods=["GET"])
def case_page(case_id: int) -> str:
    p = current()
    case = queries.get_visible(p, case_id)
    events = audit.events_of(case_id)
    rows = db.session.execute(
        select(HumanTask.id, HumanTask.name).where(HumanTask.case_id == case_id)
    )
    names = {task_id: name for task_id, name in rows}
    timeline = [{"event": e, "summary": _event_summary(e, names)} for e in events]
    return render_template(
        "web/case.html",
        case=case,
        sla=queries.sla_of(case),
        process=queries.process_of(case),
        tasks=open_tasks_of(case_id),
        timeline=timeline,
        chain=audit.verify(case_id),
    )


# -- residents (no login) -------------------------------------------------------------------
@bp.route("/track", methods=["GET"])
def track_lookup() -> Any:
    code = request.args.get("code", "").strip().upper()[:TRACK_LENGTH]
    if code:
        return redirect(url_for("web.track", tracking_code=code))
    return render_template("web/track.html", case=None, code="")


@bp.route("/track/<tracking_code>", methods=["GET"])
def track(tracking_code: str) -> tuple[str, int]:
    code = tracking_code.strip().upper()[:TRACK_LENGTH]
    case = db.session.scalar(select(Case).where(Case.tracking_code == code))
    if case is None:
        return render_template("web/track.html", case=None, code=code, missing=True), 404
    public = {
        "tracking_code": case.tracking_code,
        "status": case.status,
        "stage": case.stage,
        "mode": case.mode,
        "request_type": case.request_type,
        "opened_at": case.opened_at,
        "due_at": case.due_at,
        "closed_at": case.closed_at,
        "sla": queries.sla_of(case),
    }
    return render_template("web/track.html", case=public, code=code), 200
