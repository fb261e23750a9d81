"""Auth schemas: login, token, the current user."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate


class LoginSchema(ma.Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=1024)
    )


class TokenSchema(ma.Schema):
    token = fields.String(metadata={"description": "send as 'Authorization: Bearer <token>'"})
    expires_at = fields.AwareDateTime()


class UnitSchema(ma.Schema):
    code = fields.String()
    name = fields.String()
    kind = fields.String()


class GrantSchema(ma.Schema):
    role = fields.String()
    org_unit = fields.String(metadata={"description": "org unit code"})
    include_below = fields.Boolean()


class MeSchema(ma.Schema):
    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.String())
    org_units = fields.List(fields.Nested(UnitSchema))
    grants = fields.List(fields.Nested(GrantSchema), metadata={"description": "role per unit"})
