"""Audit schemas: one event, and the verification result."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields


class EventSchema(ma.Schema):
    seq = fields.Integer()
    type = fields.String()
    actor = fields.String()
    at = fields.AwareDateTime()
    data = fields.Dict()
    prev_hash = fields.String()
    hash = fields.String()


class VerifySchema(ma.Schema):
    ok = fields.Boolean()
    events = fields.Integer(metadata={"description": "how many events were checked"})
    broken_at = fields.Integer(
        allow_none=True, metadata={"description": "first seq that does not hold, or null"}
    )
