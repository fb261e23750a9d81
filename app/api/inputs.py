"""Refuse text no database column can hold, before any view runs.

PostgreSQL text cannot contain NUL (U+0000), and neither database driver can encode a lone
surrogate (JSON allows ``"\\ud800"``). Such a value in a body, a query or a path used to reach
a query and fail there as a 500, on PostgreSQL only for NUL. Refusing it at the door gives the
same answer on both databases (invariant 7) and names the field (invariant 4): 422 for the
query, body and form fields, 404 for a path value (no row has such a key).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import request

from app.api.errors import invalid, not_found

MESSAGE = "含有无法保存的字符 (NUL 或孤立代理项) contains a character that cannot be stored"


def storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_fields(value: Any, path: str) -> Iterator[str]:
    """Dotted paths of the unstorable strings (keys included) in a JSON-like value."""
    if isinstance(value, str):
        if not storable(value):
            yield path or "_schema"
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and not storable(key):
                yield path or "_schema"  # never echo the bad text itself
            else:
                yield from _bad_fields(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bad_fields(item, f"{path}.{index}" if path else str(index))


def _bad_pairs(pairs: Iterator[tuple[str, str]]) -> Iterator[str]:
    """Names of the query or form fields with an unstorable value (never echoing bad text)."""
    for name, value in pairs:
        if not storable(name):
            yield "_schema"
        elif not storable(value):
            yield name


def reject_unstorable_text() -> None:
    """A before-request hook for /api/v1: 404 or 422 when any input text is unstorable."""
    if not request.path.startswith("/api/"):
        return
    if any(isinstance(v, str) and not storable(v) for v in (request.view_args or {}).values()):
        raise not_found("no such resource")
    fields = list(_bad_pairs(request.args.items(multi=True)))
    if request.is_json:
        fields += _bad_fields(request.get_json(silent=True), "")
    elif request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields += _bad_pairs(request.form.items(multi=True))
        names = ((name, file.filename or "") for name, file in request.files.items(multi=True))
        fields += _bad_pairs(names)
    if fields:
        names = sorted(set(fields))
        raise invalid({n: [MESSAGE] for n in names}, "the request is invalid: " + ", ".join(names))
