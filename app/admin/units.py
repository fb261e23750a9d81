"""Admin changes to the org tree (组织架构): new units, renames and moves.

A unit's code and kind never change (processes, data and caches refer to them); its name and
its parent may. Moving a unit rewrites the materialised ``path`` of its whole subtree in one
UPDATE, in the same transaction as its audit event. Everything that reads the tree follows at
once, in every process: grants are resolved from the rows on each request, and the cached
ancestry (``app.orgs.service``) is keyed by path. Open tasks stay in the unit they were routed
to; tasks created after the move are routed along the new tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import String, func, literal, select, update

from app.admin.service import AdminError, admin_change
from app.core.uow import NotFound
from app.extensions import db
from app.orgs import service as orgs
from app.orgs.models import OrgUnit

# The kinds a unit of each kind may hang from; a district is a root.
PARENT_KINDS: dict[str, tuple[str, ...]] = {
    "district": (),
    "street": ("district",),
    "community": ("street",),
    "grid": ("community",),
    "building": ("grid",),
    "department": ("street", "district"),
}
KIND_LABELS = {
    "district": "区 district",
    "street": "街道 street",
    "community": "社区 community",
    "grid": "网格 grid",
    "building": "楼栋 building",
    "department": "部门 department",
}


def _ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def unit_fields(unit: OrgUnit, codes: Mapping[int, str]) -> dict[str, Any]:
    """The unit as the API shows it; ``codes`` maps the ids on its path to their codes."""
    ancestors = [codes[i] for i in _ids(unit.path)[:-1] if i in codes]
    return {
        "code": unit.code,
        "name": unit.name,
        "kind": unit.kind,
        "parent": ancestors[-1] if ancestors else None,
        "depth": len(ancestors),
        "ancestors": ancestors,
    }


def _codes_on(path: str) -> dict[int, str]:
    rows = db.session.execute(select(OrgUnit.id, OrgUnit.code).where(OrgUnit.id.in_(_ids(path))))
    return {unit_id: code for unit_id, code in rows}


def get_unit(code: str) -> dict[str, Any]:
    unit = orgs.get_by_code(code)
    if unit is None:
        raise NotFound(f"org unit {code!r} not found")
    return unit_fields(unit, _codes_on(unit.path))


def list_units(*, under: str | None, kind: str | None) -> list[dict[str, Any]]:
    """Every unit (or those at and below ``under``) depth first, siblings by code."""
    units = list(db.session.scalars(select(OrgUnit)))
    codes = {unit.id: unit.code for unit in units}
    if under is not None:
        top = next((unit for unit in units if unit.code == under), None)
        if top is None:
            raise AdminError("under", _unknown(under))
        units = [unit for unit in units if unit.path.startswith(top.path)]
    if kind is not None:
        units = [unit for unit in units if unit.kind == kind]
    units.sort(key=lambda unit: [codes.get(i, "") for i in _ids(unit.path)])
    return [unit_fields(unit, codes) for unit in units]


def create_unit(*, actor: str, code: str, name: str, kind: str, parent: str | None) -> dict:
    """A new unit under ``parent`` (event ``org_unit.created``)."""
    _check_name(name)
    with admin_change(actor) as change:
        if orgs.get_by_code(code) is not None:
            raise AdminError("code", f"编码已存在 org unit code {code!r} is taken")
        parent_unit = _parent(kind, parent)
        unit = orgs.create_unit(code=code, name=name.strip(), kind=kind, parent=parent_unit)
        db.session.flush()
        fields = unit_fields(unit, _codes_on(unit.path))
        change.record(
            "org_unit.created", {k: fields[k] for k in ("code", "name", "kind", "parent")}
        )
    return get_unit(code)


def update_unit(*, actor: str, code: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Rename a unit or move it (with its subtree) under another parent (event
    ``org_unit.updated``); a move into its own subtree is refused (422 naming ``parent``)."""
    if changes.get("name") is not None:
        _check_name(changes["name"])
    with admin_change(actor) as change:
        unit = orgs.get_by_code(code)
        if unit is None:
            raise NotFound(f"org unit {code!r} not found")
        diff: dict[str, Any] = {}
        name = changes.get("name")
        if name is not None and name.strip() != unit.name:
            diff["name"] = {"before": unit.name, "after": name.strip()}
            unit.name = name.strip()
        if "parent" in changes:
            before = unit.parent.code if unit.parent is not None else None
            after = changes["parent"]
            if after != before:
                target = _parent(unit.kind, after, moving=unit)
                diff["parent"] = {"before": before, "after": after}
                diff["moved"] = _move(unit, target)
        if not diff:
            return get_unit(code)
        change.record("org_unit.updated", {"code": code, **diff})
    return get_unit(code)


def _parent(kind: str, code: str | None, *, moving: OrgUnit | None = None) -> OrgUnit | None:
    """The parent unit a ``kind`` unit may hang from, or a 422 naming ``parent``; when
    ``moving`` a unit, its own subtree is refused first (a cycle)."""
    allowed = PARENT_KINDS[kind]
    if code is None:
        if allowed:
            raise AdminError("parent", _needs_parent(kind))
        return None
    parent = orgs.get_by_code(code)
    if parent is None:
        raise AdminError("parent", _unknown(code))
    if moving is not None and parent.path.startswith(moving.path):
        raise AdminError("parent", _cycle(code))
    if parent.kind not in allowed:
        if not allowed:
            raise AdminError("parent", f"{KIND_LABELS[kind]} 是根单元 is a root: it has no parent")
        raise AdminError("parent", _needs_parent(kind))
    return parent


def _move(unit: OrgUnit, parent: OrgUnit | None) -> int:
    """Hang ``unit`` from ``parent`` and rewrite the path of its whole subtree; how many
    units' paths changed."""
    old = unit.path
    new = f"{parent.path if parent is not None else '/'}{unit.id}/"
    unit.parent = parent
    db.session.flush()
    result = db.session.execute(
        update(OrgUnit)
        .where(OrgUnit.path.startswith(old, autoescape=True))
        .values(path=literal(new, String) + func.substr(OrgUnit.path, len(old) + 1))
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()  # the identity map still holds the old paths
    return int(result.rowcount or 0)


def _check_name(name: str) -> None:
    if not name.strip():
        raise AdminError("name", "不能为空 must not be blank")


def _unknown(code: str) -> str:
    return f"未知的组织单元 unknown org unit {code!r}"


def _cycle(code: str) -> str:
    return f"不能移到自身或其下级单元 {code!r} is the unit itself or below it (a cycle)"


def _needs_parent(kind: str) -> str:
    kinds = " / ".join(KIND_LABELS[k] for k in PARENT_KINDS[kind])
    return f"{KIND_LABELS[kind]} 的上级须为 a {kind}'s parent must be a {kinds}"
