"""/api/v1 SLA routes: 挂起 suspend/resume, 延期 extension and the SLA state of a case;
calendars (coverage, a new year, per-unit assignment); timer incidents; daily digests."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from app.api.errors import invalid
from app.auth.access import DISPATCH_ROLES, INTAKE_ROLES, Forbidden, Principal, current_principal
from app.cases.queries import get_visible
from app.cases.schemas import CaseSchema
from app.core.models import Case
from app.core.uow import NotFound
from app.database import write_transaction
from app.orgs.calendars import calendar_name_for, case_calendar
from app.orgs.service import get_by_code
from app.sla import calendar_admin, service
from app.sla.schemas import (
    CalendarAssignSchema,
    CalendarCreateSchema,
    CalendarSchema,
    CalendarYearSchema,
    DigestArgs,
    DigestSchema,
    ExtendSchema,
    IncidentSchema,
    ResumeSchema,
    SlaStateSchema,
    SuspendSchema,
)

blp = Blueprint(
    "sla", __name__, url_prefix="/api/v1", description="SLA: pauses, extensions, calendars"
)

PAUSE_ROLES = INTAKE_ROLES | DISPATCH_ROLES


def _case_for(p: Principal, case_id: int, roles: frozenset[str], what: str) -> Case:
    case = get_visible(p, case_id)
    if p.read_only or not (p.is_admin or p.holds(roles, case.org_unit)):
        raise Forbidden(f"{what} needs one of {', '.join(sorted(roles))} in the case's unit")
    return case


def _admin(p: Principal) -> None:
    if not p.is_admin:
        raise Forbidden("only an admin may do this")


@blp.route("/cases/<int:case_id>/suspend", methods=["POST"])
@blp.arguments(SuspendSchema)
@blp.response(200, CaseSchema)
@blp.alt_response(409, description="the case is closed or already suspended")
def suspend(body: dict[str, Any], case_id: int) -> Case:
    """挂起: stop the SLA clock (e.g. waiting for the resident's materials)."""
    p = current_principal()
    case = _case_for(p, case_id, PAUSE_ROLES, "suspending a case")
    return service.suspend(case, reason=body["reason"], actor=p.username)


@blp.route("/cases/<int:case_id>/resume", methods=["POST"])
@blp.arguments(ResumeSchema)
@blp.response(200, CaseSchema)
@blp.alt_response(409, description="the case is closed or not suspended")
def resume(body: dict[str, Any], case_id: int) -> Case:
    """Restart the clock; the deadline and every pending timer move by the working time
    paused, so the time left is what it was at the pause."""
    p = current_principal()
    case = _case_for(p, case_id, PAUSE_ROLES, "resuming a case")
    return service.resume(case, actor=p.username, reason=body["reason"])


@blp.route("/cases/<int:case_id>/extend", methods=["POST"])
@blp.arguments(ExtendSchema)
@blp.response(200, CaseSchema)
@blp.alt_response(409, description="closed, suspended, without deadline, or extended already")
def extend(body: dict[str, Any], case_id: int) -> Case:
    """延期: move the deadline (and its reminders) by working days/hours or to ``until``."""
    p = current_principal()
    case = _case_for(p, case_id, DISPATCH_ROLES, "extending a deadline")
    try:
        return service.extend(
            case,
            actor=p.username,
            reason=body["reason"],
            working_days=body["working_days"],
            working_hours=body["working_hours"],
            until=body["until"],
        )
    except service.SlaInputError as exc:
        raise invalid({exc.field: [str(exc)]}) from exc


@blp.route("/cases/<int:case_id>/sla", methods=["GET"])
@blp.response(200, SlaStateSchema)
def sla(case_id: int) -> dict[str, Any]:
    """The case's SLA state: due time, time left (wall and working), state."""
    case = get_visible(current_principal(), case_id)
    state = service.sla_state(case).as_dict()
    around_the_clock = case_calendar(case).around_the_clock
    state["calendar"] = "24/7" if around_the_clock else calendar_name_for(case.org_unit)
    return state


@blp.route("/calendars", methods=["GET"])
@blp.response(200, CalendarSchema(many=True))
def calendars() -> list[dict[str, Any]]:
    """Every calendar, the years it covers and any gap in the next 60 days."""
    return calendar_admin.coverage()


@blp.route("/calendars", methods=["POST"])
@blp.arguments(CalendarCreateSchema)
@blp.response(201, CalendarSchema)
def create_calendar(body: dict[str, Any]) -> dict[str, Any]:
    """A new calendar (admin), optionally copying another's days."""
    p = current_principal()
    _admin(p)
    try:
        with write_transaction():
            calendar_admin.create_calendar(actor=p.username, **body)
    except calendar_admin.CalendarError as exc:
        raise invalid({exc.field: [str(exc)]}) from exc
    return _coverage_of(body["name"])


@blp.route("/calendars/<name>/years/<int:year>", methods=["POST"])
@blp.arguments(CalendarYearSchema)
@blp.response(200, CalendarSchema)
def set_year(body: dict[str, Any], name: str, year: int) -> dict[str, Any]:
    """Enter (or replace) a year (admin): its weekdays off and weekend 调休 working days."""
    p = current_principal()
    _admin(p)
    try:
        with write_transaction():
            calendar_admin.set_year(name=name, year=year, actor=p.username, **body)
    except calendar_admin.CalendarError as exc:
        if exc.field == "calendar":
            raise NotFound(str(exc)) from exc
        raise invalid({exc.field: [str(exc)]}) from exc
    return _coverage_of(name)


@blp.route("/calendars/units/<code>", methods=["PUT"])
@blp.arguments(CalendarAssignSchema)
@blp.response(200, CalendarSchema(many=True))
def assign(body: dict[str, Any], code: str) -> list[dict[str, Any]]:
    """Give an org unit (and the units below it) a calendar (admin); null: inherit."""
    p = current_principal()
    _admin(p)
    try:
        with write_transaction():
            unit = get_by_code(code)
            if unit is None:
                raise NotFound(f"org unit {code} not found")
            calendar_admin.assign_calendar(unit=unit, name=body["calendar"], actor=p.username)
    except calendar_admin.CalendarError as exc:
        raise invalid({exc.field: [str(exc)]}) from exc
    return calendar_admin.coverage()


def _coverage_of(name: str) -> dict[str, Any]:
    return next(c for c in calendar_admin.coverage() if c["name"] == name)


@blp.route("/sla/incidents", methods=["GET"])
@blp.response(200, IncidentSchema(many=True))
@blp.alt_response(403, description="only admins and auditors see incidents")
def incidents() -> list[dict[str, Any]]:
    """Timers whose retries ran out (admins and auditors)."""
    if not current_principal().reads_all:
        raise Forbidden("only admins and auditors see incidents")
    return service.incidents()


@blp.route("/sla/incidents/<timer_id>/retry", methods=["POST"])
@blp.response(200, IncidentSchema(many=True))
@blp.alt_response(409, description="the timer is not an incident")
def retry(timer_id: str) -> list[dict[str, Any]]:
    """Send an incident back to the scheduler with fresh retries (admin); audited."""
    p = current_principal()
    _admin(p)
    service.retry_incident(timer_id, actor=p.username)
    return service.incidents()


@blp.route("/sla/digests", methods=["GET"])
@blp.arguments(DigestArgs, location="query")
@blp.response(200, DigestSchema(many=True))
def digests(args: dict[str, Any]) -> list[dict[str, Any]]:
    """The daily SLA digests of a day, for the units the user works in (or one subtree)."""
    p = current_principal()
    unit = None
    if args["org_unit"]:
        unit = get_by_code(args["org_unit"])
        if unit is None:
            raise invalid({"org_unit": [f"unknown org unit {args['org_unit']!r}"]})
        if not (p.reads_all or p.in_unit(unit)):
            raise Forbidden(f"you do not work in {unit.code}")
    rows = service.digests(day=args["day"], unit=unit)
    if unit is None and not p.reads_all:
        rows = [r for r in rows if p.in_unit(get_by_code(r["org_unit"]))]  # type: ignore[arg-type]
    return rows
