"""Who may see and do what (DESIGN invariant 5).

A role is held in one org unit, and in every unit below it when ``include_below`` is set
(``OrgUnit.path`` is a materialised id path, so "below" is a prefix test). Auditors read
everything and write nothing; admins read and act everywhere. These helpers answer the
question both in Python (one object) and as SQL conditions (lists).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, false, or_

from app.orgs.models import OrgUnit, User

# Roles that may open a case for a unit (in that unit or above it) and act on it.
INTAKE_ROLES = frozenset(
    {
        "grid_worker",
        "building_head",
        "community_staff",
        "community_leader",
        "street_dispatcher",
        "admin",
    }
)
# Roles that hand tasks to other people.
DISPATCH_ROLES = frozenset({"community_leader", "street_dispatcher", "supervisor", "admin"})
DESIGN_ROLES = frozenset({"designer", "admin"})
# Roles that do not work cases: a designer edits diagrams and sees no resident's case
# (names, phones, addresses) for holding a role over the street.
NON_CASE_ROLES = frozenset({"designer"})

F = TypeVar("F", bound=Callable[..., Any])


class Forbidden(Exception):
    """The user may see this but not do it (HTTP 403)."""


def public(view: F) -> F:
    """Mark an /api/v1 view as callable without a token."""
    view.public = True  # type: ignore[attr-defined]
    return view


@dataclass(frozen=True)
class Grant:
    role: str
    unit_id: int
    unit_code: str
    path: str
    include_below: bool

    def covers(self, unit: OrgUnit) -> bool:
        return unit.id == self.unit_id or (self.include_below and unit.path.startswith(self.path))

    def unit_condition(self, unit: Any) -> ColumnElement[bool]:
        """SQL: ``unit`` (an OrgUnit entity or alias) is covered by this grant."""
        if self.include_below:
            return unit.path.startswith(self.path)
        return unit.id == self.unit_id


@dataclass(frozen=True)
class Principal:
    """The authenticated user and their role grants, loaded once per request."""

    user: User
    grants: tuple[Grant, ...]

    @classmethod
    def of(cls, user: User) -> Principal:
        grants = tuple(
            Grant(r.role, r.org_unit_id, r.org_unit.code, r.org_unit.path, r.include_below)
            for r in user.roles
        )
        return cls(user=user, grants=grants)

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def roles(self) -> set[str]:
        return {g.role for g in self.grants}

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_auditor(self) -> bool:
        return "auditor" in self.roles

    @property
    def reads_all(self) -> bool:
        return self.is_admin or self.is_auditor

    @property
    def read_only(self) -> bool:
        """Auditors write nothing, whatever else they hold (separation of duties)."""
        return self.is_auditor

    def holds(self, roles: Collection[str] | str | None, unit: OrgUnit) -> bool:
        """One of ``roles`` held in ``unit`` or above it with include_below (None: no role)."""
        if roles is None:
            return False
        wanted = {roles} if isinstance(roles, str) else set(roles)
        return any(g.role in wanted and g.covers(unit) for g in self.grants)

    def in_unit(self, unit: OrgUnit) -> bool:
        """Any role held in ``unit`` or above it with include_below."""
        return any(g.covers(unit) for g in self.grants)

    @property
    def case_roles(self) -> set[str]:
        """The roles through which this user sees the cases of their units."""
        return self.roles - NON_CASE_ROLES

    def has_role(self, roles: Collection[str]) -> bool:
        return bool(self.roles & set(roles))

    def unit_condition(self, unit: Any, roles: Collection[str] | None = None) -> Any:
        """SQL: the user holds some role (of ``roles``) covering ``unit``."""
        parts = [g.unit_condition(unit) for g in self.grants if roles is None or g.role in roles]
        return or_(*parts) if parts else false()


def current_principal() -> Principal:
    """The principal the API's authentication hook put on this request."""
    from flask import g

    principal = getattr(g, "principal", None)
    if principal is None:
        raise RuntimeError("no authenticated principal on this request")
    return principal
