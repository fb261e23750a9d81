"""Admin schemas: org units, users and their role grants, the admin audit log."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.api.pagination import PageArgs
from app.orgs.models import ORG_KINDS, ROLES

USERNAME = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,79}$"
UNIT_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
PASSWORD = {"description": "at least 10 characters, not the username; never shown again"}


class OrgUnitSchema(ma.Schema):
    code = fields.String()
    name = fields.String()
    kind = fields.String(metadata={"enum": list(ORG_KINDS)})
    parent = fields.String(allow_none=True, metadata={"description": "the parent's code"})
    depth = fields.Integer(metadata={"description": "0 for a root (a district)"})
    ancestors = fields.List(fields.String(), metadata={"description": "codes, root first"})


class OrgUnitListArgs(ma.Schema):
    under = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "only this unit and the units below it"},
    )
    kind = fields.String(load_default=None, validate=validate.OneOf(ORG_KINDS))


class OrgUnitCreateSchema(ma.Schema):
    code = fields.String(required=True, validate=validate.Regexp(UNIT_CODE))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(ORG_KINDS))
    parent = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "the parent's code: a street for a community, a community for a "
            "grid, a grid for a building, a district for a street, a street or district for a "
            "department; none for a district"
        },
    )


class OrgUnitPatchSchema(ma.Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    parent = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "move the unit and everything below it under this unit"},
    )


class RoleGrantSchema(ma.Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    org_unit = fields.String(
        required=True, validate=validate.Length(min=1, max=64), metadata={"description": "code"}
    )
    include_below = fields.Boolean(
        load_default=False, metadata={"description": "the role covers the units below too"}
    )


class UserSchema(ma.Schema):
    username = fields.String()
    display_name = fields.String()
    active = fields.Boolean()
    created_at = fields.AwareDateTime()
    roles = fields.List(fields.Nested(RoleGrantSchema))


class UserListArgs(PageArgs):
    org_unit = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "users with a role in this unit or below it"},
    )
    role = fields.String(load_default=None, validate=validate.OneOf(ROLES))
    q = fields.String(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "text in the username or display name"},
    )
    active = fields.Boolean(load_default=None, allow_none=True)


class UserListSchema(ma.Schema):
    items = fields.List(fields.Nested(UserSchema))
    next_cursor = fields.String(allow_none=True)
    total = fields.Integer()


class UserCreateSchema(ma.Schema):
    username = fields.String(required=True, validate=validate.Regexp(USERNAME))
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(max=1024), metadata=PASSWORD
    )
    roles = fields.List(
        fields.Nested(RoleGrantSchema), load_default=list, validate=validate.Length(max=100)
    )


class UserPatchSchema(ma.Schema):
    display_name = fields.String(validate=validate.Length(min=1, max=200))
    active = fields.Boolean(
        metadata={"description": "false revokes every token of the user at once"}
    )
    password = fields.String(
        load_only=True,
        validate=validate.Length(max=1024),
        metadata={**PASSWORD, "description": PASSWORD["description"] + "; revokes every token"},
    )


class UserRolesSchema(ma.Schema):
    roles = fields.List(
        fields.Nested(RoleGrantSchema), required=True, validate=validate.Length(max=100)
    )


class AdminEventSchema(ma.Schema):
    seq = fields.Integer()
    type = fields.String()
    actor = fields.String()
    at = fields.AwareDateTime()
    data = fields.Dict()
    prev_hash = fields.String()
    hash = fields.String()


class AdminEventListSchema(ma.Schema):
    items = fields.List(fields.Nested(AdminEventSchema))
    next_cursor = fields.String(allow_none=True)


class AdminVerifySchema(ma.Schema):
    ok = fields.Boolean()
    events = fields.Integer(metadata={"description": "how many admin events there are"})
    broken_at = fields.Integer(
        allow_none=True, metadata={"description": "first seq that does not hold, or null"}
    )
