"""/api/v1 admin routes: org units, users and roles, the admin audit log.

Admins read and write; auditors read (the API layer refuses their writes before any view
runs); everyone else gets 403.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask_smorest import Blueprint

from app.admin import events, service, units
from app.admin.schemas import (
    AdminEventListSchema,
    AdminVerifySchema,
    OrgUnitCreateSchema,
    OrgUnitListArgs,
    OrgUnitPatchSchema,
    OrgUnitSchema,
    UserCreateSchema,
    UserListArgs,
    UserListSchema,
    UserPatchSchema,
    UserRolesSchema,
    UserSchema,
)
from app.api.errors import ApiError, invalid
from app.api.inputs import storable
from app.api.pagination import PageArgs, bad_cursor, decode_cursor, encode_cursor
from app.auth.access import Forbidden, Principal, current_principal
from app.orgs.models import User

blp = Blueprint(
    "admin", __name__, url_prefix="/api/v1", description="Admin: users, org units, roles"
)

READ_403 = "not an admin or auditor"


def _reader() -> Principal:
    p = current_principal()
    if not p.reads_all:
        raise Forbidden("只有管理员和审计员可以查看 only admins and auditors may read this")
    return p


def _admin() -> str:
    p = current_principal()
    if not p.is_admin:
        raise Forbidden("只有管理员可以修改 only an admin may do this")
    return p.username


@contextmanager
def _answers() -> Iterator[None]:
    """An AdminError as problem+json naming its field."""
    try:
        yield
    except service.AdminError as exc:
        if exc.status == 422:
            raise invalid({exc.field: [str(exc)]}, f"the request is invalid: {exc.field}") from exc
        raise ApiError(exc.status, str(exc)) from exc


def _user(user: User) -> dict[str, Any]:
    return service.user_fields(user)


@blp.route("/org-units", methods=["GET"])
@blp.arguments(OrgUnitListArgs, location="query")
@blp.response(200, OrgUnitSchema(many=True))
@blp.alt_response(403, description=READ_403)
def list_units(args: dict[str, Any]) -> list[dict[str, Any]]:
    """The org tree (组织架构) as a flat list, depth first, siblings by code."""
    _reader()
    with _answers():
        return units.list_units(under=args["under"], kind=args["kind"])


@blp.route("/org-units", methods=["POST"])
@blp.arguments(OrgUnitCreateSchema)
@blp.response(201, OrgUnitSchema)
def create_unit(body: dict[str, Any]) -> dict[str, Any]:
    """A new org unit under a parent of the right kind (admin)."""
    actor = _admin()
    with _answers():
        return units.create_unit(actor=actor, **body)


@blp.route("/org-units/<code>", methods=["GET"])
@blp.response(200, OrgUnitSchema)
@blp.alt_response(403, description=READ_403)
def get_unit(code: str) -> dict[str, Any]:
    """One org unit."""
    _reader()
    return units.get_unit(code)


@blp.route("/org-units/<code>", methods=["PATCH"])
@blp.arguments(OrgUnitPatchSchema)
@blp.response(200, OrgUnitSchema)
def update_unit(body: dict[str, Any], code: str) -> dict[str, Any]:
    """Rename a unit, or move it with everything below it (admin); never into itself."""
    actor = _admin()
    with _answers():
        return units.update_unit(actor=actor, code=code, changes=body)


@blp.route("/users", methods=["GET"])
@blp.arguments(UserListArgs, location="query")
@blp.response(200, UserListSchema)
@blp.alt_response(403, description=READ_403)
def list_users(args: dict[str, Any]) -> dict[str, Any]:
    """Users by username, a page at a time; filter by unit (and below), role, text, active."""
    _reader()
    key = decode_cursor(args["cursor"])
    if key is not None and (len(key) != 1 or not isinstance(key[0], str) or not storable(key[0])):
        raise bad_cursor()
    with _answers():
        rows, after, total = service.list_users(
            org_unit=args["org_unit"],
            role=args["role"],
            q=args["q"],
            active=args["active"],
            after=key[0] if key else None,
            limit=args["limit"],
        )
    return {
        "items": [_user(u) for u in rows],
        "next_cursor": encode_cursor([after]) if after is not None else None,
        "total": total,
    }


@blp.route("/users", methods=["POST"])
@blp.arguments(UserCreateSchema)
@blp.response(201, UserSchema)
def create_user(body: dict[str, Any]) -> dict[str, Any]:
    """A new user with a password and role grants (admin); the password is never shown."""
    actor = _admin()
    with _answers():
        return _user(service.create_user(actor=actor, **body))


@blp.route("/users/<username>", methods=["GET"])
@blp.response(200, UserSchema)
@blp.alt_response(403, description=READ_403)
def get_user(username: str) -> dict[str, Any]:
    """One user and their role grants."""
    _reader()
    return _user(service.get_user(username))


@blp.route("/users/<username>", methods=["PATCH"])
@blp.arguments(UserPatchSchema)
@blp.response(200, UserSchema)
def update_user(body: dict[str, Any], username: str) -> dict[str, Any]:
    """Change a display name, (de)activate, set a password (admin). Deactivating and a new
    password revoke every token of the user at once; nobody deactivates themselves."""
    actor = _admin()
    with _answers():
        return _user(service.update_user(actor=actor, username=username, changes=body))


@blp.route("/users/<username>/roles", methods=["PUT"])
@blp.arguments(UserRolesSchema)
@blp.response(200, UserSchema)
def replace_roles(body: dict[str, Any], username: str) -> dict[str, Any]:
    """Replace a user's role grants (admin); an admin keeps their own admin role."""
    actor = _admin()
    with _answers():
        return _user(service.replace_roles(actor=actor, username=username, roles=body["roles"]))


@blp.route("/admin/events", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, AdminEventListSchema)
@blp.alt_response(403, description=READ_403)
def admin_events(args: dict[str, Any]) -> dict[str, Any]:
    """The admin audit log (管理日志), oldest first."""
    _reader()
    key = decode_cursor(args["cursor"])
    if key is not None and (len(key) != 1 or type(key[0]) is not int):
        raise bad_cursor()
    rows, after = events.page(after=key[0] if key else None, limit=args["limit"])
    return {"items": rows, "next_cursor": encode_cursor([after]) if after is not None else None}


@blp.route("/admin/events/verify", methods=["GET"])
@blp.response(200, AdminVerifySchema)
@blp.alt_response(403, description=READ_403)
def verify_events() -> dict[str, Any]:
    """Recompute the admin chain: the first seq whose hash or link does not hold, if any."""
    _reader()
    return events.verify()
