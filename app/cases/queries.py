"""Reading cases through the user's scope, the SLA summary, and the guarded case actions.

A case is visible to a user holding any role in its unit (or above it with include_below),
or in a unit that one of its tasks went to; auditors and admins see every case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, inspect, or_, select, true
from sqlalchemy.orm import aliased

from app.auth.access import INTAKE_ROLES, Forbidden, Principal
from app.cases.service import MAIN_PROCESS, IntakeError, open_case
from app.core import uow
from app.core.models import Case, HumanTask, ProcessInstance, ProcessVersion
from app.extensions import db
from app.orgs.models import OrgUnit
from app.orgs.service import get_by_code
from app.sla.service import sla_state
from workflows import clock

WITHDRAWAL_MESSAGE = "resident_withdrawal"
# "due soon" once less than this share of the time allowed (opened → due) is left


class InvalidInput(ValueError):
    """Bad input, field by field (HTTP 422): ``errors`` maps each field to its messages."""

    def __init__(self, errors: Mapping[str, list[str]], message: str = "invalid input") -> None:
        self.errors = dict(errors)
        super().__init__(message)


@dataclass(frozen=True)
class CaseQuery:
    status: str | None = None
    mode: str | None = None
    org_unit: str | None = None
    overdue: bool | None = None
    q: str | None = None
    after_id: int | None = None
    limit: int = 50


def visible_condition(p: Principal) -> ColumnElement[bool]:
    if p.reads_all:
        return true()
    own, task_unit = aliased(OrgUnit), aliased(OrgUnit)
    roles = p.case_roles
    on_case = (
        select(own.id).where(own.id == Case.org_unit_id, p.unit_condition(own, roles)).exists()
    )
    via_task = (
        select(HumanTask.id)
        .join(task_unit, task_unit.id == HumanTask.org_unit_id)
        .where(
            HumanTask.case_id == Case.id,
            or_(HumanTask.assignee_id == p.user.id, p.unit_condition(task_unit, roles)),
        )
        .exists()
    )
    return or_(on_case, via_task)


def get_visible(p: Principal, case_id: int) -> Case:
    """The case, or NotFound when it does not exist or the user may not see it."""
    case = db.session.scalar(select(Case).where(Case.id == case_id, visible_condition(p)))
    if case is None:
        raise uow.NotFound(f"case {case_id} not found")
    return case


def list_cases(p: Principal, q: CaseQuery) -> tuple[list[Case], int | None]:
    """One page of visible cases, newest first, and the id to continue after (or None)."""
    stmt = select(Case).where(visible_condition(p))
    if q.status:
        stmt = stmt.where(Case.status == q.status)
    if q.mode:
        stmt = stmt.where(Case.mode == q.mode)
    if q.org_unit:
        target = get_by_code(q.org_unit)
        if target is None:
            raise InvalidInput({"org_unit": [f"unknown org unit {q.org_unit!r}"]})
        unit = aliased(OrgUnit)
        stmt = stmt.join(unit, unit.id == Case.org_unit_id).where(unit.path.startswith(target.path))
    now = clock.now()
    if q.overdue is True:
        stmt = stmt.where(Case.closed_at.is_(None), Case.due_at < now)
    elif q.overdue is False:
        stmt = stmt.where(
            or_(Case.closed_at.is_not(None), Case.due_at.is_(None), Case.due_at >= now)
        )
    if q.q:
        text = q.q.strip()
        stmt = stmt.where(
            or_(
                Case.title.icontains(text, autoescape=True),
                Case.code.icontains(text, autoescape=True),
                Case.tracking_code == text.upper(),
            )
        )
    if q.after_id is not None:
        stmt = stmt.where(Case.id < q.after_id)
    rows = list(db.session.scalars(stmt.order_by(Case.id.desc()).limit(q.limit + 1)))
    if len(rows) > q.limit:
        rows = rows[: q.limit]
        return rows, rows[-1].id
    return rows, None


def sla_of(case: Case, now: datetime | None = None) -> dict[str, Any]:
    """{state, due_at, remaining} as the API contract names them: remaining in whole seconds
    of wall time (negative when overdue; null when closed or without a due time). The state
    comes from the SLA service, so a paused (挂起) or ledgered (挂账) case says so and "due
    soon" is measured in working time, the same everywhere the case is shown."""
    sla = sla_state(case, now)
    return {"state": sla.state, "due_at": sla.due_at, "remaining": sla.remaining}


def process_of(case: Case) -> dict[str, Any] | None:
    """The process key and version a case runs: its version id (a narrow read, not the
    instance's state), then the version's names, which each app keeps (versions never
    change)."""
    if case.instance_id is None:
        return None
    version_id = _loaded_version_id(case)
    if version_id is None:
        version_id = db.session.scalar(
            select(ProcessInstance.version_id).where(ProcessInstance.id == case.instance_id)
        )
    known: dict[int, dict[str, Any]] = current_app.extensions.setdefault(
        "gridcase.process_versions", {}
    )
    if version_id not in known:
        version = db.session.get(ProcessVersion, version_id)
        assert version is not None
        known[version_id] = {"key": version.definition.key, "version": version.version}
    return dict(known[version_id])


def _loaded_version_id(case: Case) -> int | None:
    """The version id of the case's instance when the session holds it loaded already (just
    after a unit of work), without loading anything."""
    instance = inspect(case).attrs.instance.loaded_value
    if not isinstance(instance, ProcessInstance):
        return None
    version_id = inspect(instance).dict.get("version_id")
    return version_id if isinstance(version_id, int) else None


def intake(p: Principal, fields: Mapping[str, Any]) -> Case:
    """Open a case for a grid the user works in (a role in it, or above it)."""
    code = fields["org_unit"]
    unit = get_by_code(code)
    if unit is None:
        raise IntakeError("org_unit", f"unknown org unit {code!r}")
    if unit.kind != "grid":
        raise IntakeError("org_unit", f"{code!r} is a {unit.kind}, not a grid")
    if not (p.is_admin or p.holds(INTAKE_ROLES, unit)):
        raise Forbidden(f"you may not open cases for {code}")
    process = current_app.config.get("INTAKE_PROCESS", MAIN_PROCESS)
    return open_case(intake=fields, actor=p.username, process_key=process)


def withdraw(p: Principal, case_id: int, reason: str) -> Case:
    """Record that the resident withdrew: the process decides what that cancels."""
    case = get_visible(p, case_id)
    if p.read_only or not (p.is_admin or p.holds(INTAKE_ROLES, case.org_unit)):
        raise Forbidden("recording a withdrawal needs a caseworker role in the case's unit")
    if case.closed_at is not None:
        raise uow.Conflict(f"case {case.code} is already {case.status}")
    return uow.deliver_message(
        case_id=case_id, name=WITHDRAWAL_MESSAGE, payload={"reason": reason}, actor=p.username
    )
