"""Opaque cursors for keyset pagination: the sort key of the last item, base64url JSON."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import marshmallow as ma

from app.cases.queries import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
BAD = "not a cursor this API issued"


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    """The key a cursor holds; a cursor we did not make is a 422 naming ``cursor``."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput({"cursor": [BAD]}, "bad cursor") from exc
    if not isinstance(values, list):
        raise InvalidInput({"cursor": [BAD]}, "bad cursor")
    return values


class PageArgs(ma.Schema):
    cursor = ma.fields.String(load_default=None, metadata={"description": "from next_cursor"})
    limit = ma.fields.Integer(
        load_default=DEFAULT_LIMIT, validate=ma.validate.Range(min=1, max=MAX_LIMIT)
    )


def bad_cursor() -> InvalidInput:
    return InvalidInput({"cursor": [BAD]}, "bad cursor")
