"""Org units and users: the tree, and which unit a role's task goes to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.orgs.models import ORG_KINDS, OrgUnit, RoleAssignment, User
from workflows import clock

# The level of a case's unit (a grid) that each role's tasks go to, unless the task says
# otherwise with its ``orgLevel`` property.
ROLE_LEVEL: dict[str, str] = {
    "grid_worker": "grid",
    "building_head": "grid",
    "community_staff": "community",
    "community_leader": "community",
    "volunteer": "community",
    "resident": "grid",
    "street_dispatcher": "street",
    "supervisor": "street",
    "department_staff": "department",
}


def get_by_code(code: str) -> OrgUnit | None:
    return db.session.scalar(select(OrgUnit).where(OrgUnit.code == code))


def create_unit(*, code: str, name: str, kind: str, parent: OrgUnit | None = None) -> OrgUnit:
    if kind not in ORG_KINDS:
        raise ValueError(f"unknown org unit kind {kind!r}")
    unit = OrgUnit(code=code, name=name, kind=kind, parent=parent)
    db.session.add(unit)
    db.session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    return unit


def create_user(*, username: str, display_name: str, password_hash: str | None = None) -> User:
    user = User(
        username=username,
        display_name=display_name,
        password_hash=password_hash,
        created_at=clock.now(),
    )
    db.session.add(user)
    return user


def grant(*, user: User, role: str, unit: OrgUnit, include_below: bool = False) -> None:
    user.roles.append(RoleAssignment(role=role, org_unit=unit, include_below=include_below))


def task_unit(
    *, case_unit: OrgUnit, role: str | None, properties: Mapping[str, str], data: Mapping[str, Any]
) -> OrgUnit:
    """The org unit whose people get a task: a level above the case's unit, or a department.

    Department tasks go to the department named in the data (``department``) when there is
    one, so that each parallel department instance of a whistle lands in its own inbox.
    """
    level = properties.get("orgLevel") or ROLE_LEVEL.get(role or "", "grid")
    if level == "department":
        code = data.get("department")
        unit = get_by_code(code) if isinstance(code, str) else None
        if unit is not None:
            return unit
        level = "street"
    for unit in case_unit.ancestors():
        if unit.kind == level:
            return unit
    return case_unit
