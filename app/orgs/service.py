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


def task_unit_id(
    *, case_unit: OrgUnit, role: str | None, properties: Mapping[str, str], data: Mapping[str, Any]
) -> int:
    """The id of the org unit whose people get a task: a level above the case's unit, or a
    department.

    A task whose ``orgUnitVariable`` property names a data key holding a unit code goes to that
    unit; department tasks default to the key ``department``, so that each parallel department
    instance of a whistle lands in its own inbox.
    """
    variable = properties.get("orgUnitVariable")
    if variable:
        code = data.get(variable)
        unit_id = _id_by_code(code) if isinstance(code, str) else None
        if unit_id is not None:
            return unit_id
    level = properties.get("orgLevel") or ROLE_LEVEL.get(role or "", "grid")
    if level == "department":
        code = data.get("department")
        unit_id = _id_by_code(code) if isinstance(code, str) else None
        if unit_id is not None:
            return unit_id
        level = "street"
    for kind, unit_id in _ancestry(case_unit.id, case_unit.path):
        if kind == level:
            return unit_id
    return case_unit.id


# A unit's code and kind never change once created, so these lookups are cached for the life
# of the process: the inbox projection runs them on every engine step. A unit can move (an
# admin's PATCH /org-units/{code}), which rewrites the ``path`` of it and its subtree in one
# transaction; the ancestry is therefore keyed by that path (ids are immutable, so a path
# always names the same chain): a moved unit is a cache miss in every worker process at once,
# with no shared version to check and no staleness window.
_ANCESTRY: dict[str, tuple[tuple[str, int], ...]] = {}
_CODES: dict[str, int] = {}


def reset_caches() -> None:
    """Forget cached units (tests that rebuild the org tree with the same ids call this)."""
    _ANCESTRY.clear()
    _CODES.clear()


def _ancestry(unit_id: int, path: str) -> tuple[tuple[str, int], ...]:
    """(kind, id) of the unit and its ancestors, nearest first (``path`` is the unit's)."""
    cached = _ANCESTRY.get(path)
    if cached is None:
        ids = [int(part) for part in path.strip("/").split("/") if part]
        rows = db.session.execute(select(OrgUnit.id, OrgUnit.kind).where(OrgUnit.id.in_(ids)))
        kinds = {unit_id: kind for unit_id, kind in rows}
        cached = tuple((kinds[i], i) for i in reversed(ids) if i in kinds)
        _ANCESTRY[path] = cached
    return cached


def _id_by_code(code: str) -> int | None:
    unit_id = _CODES.get(code)
    if unit_id is None:
        unit = get_by_code(code)
        if unit is None:
            return None
        unit_id = _CODES[code] = unit.id
    return unit_id
