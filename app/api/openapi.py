"""Make the OpenAPI document tell the truth about errors (every 4xx is problem+json).

flask-smorest documents error responses as ``application/json`` and adds a catch-all
``default`` response, which lets any status pass unseen. We document instead, per operation,
the statuses the API layer itself answers for every route, so a view documents only its own
(e.g. 409 for a stale write):

- 401 on every route that needs a token (``_authenticate`` in app/api/__init__.py);
- 403 on every write but logging in and out (auditors are read-only, checked before any
  view runs);
- 404 on every route with path parameters (the row does not exist, or you may not see it);
- 400 on every route with a request body (the body is not well-formed JSON / form data);
- any other 4xx a view documents without a body gets the problem+json body it really has.

schemathesis (tests/app/api/test_schemathesis.py) holds every response to these documents.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from apispec import APISpec, BasePlugin
from flask import Flask
from flask_smorest.utils import prepare_response
from werkzeug.routing import IntegerConverter

PROBLEM_JSON = "application/problem+json"
WRITES = frozenset({"post", "put", "patch", "delete"})
INT4_MAX = 2**31 - 1  # ids are PostgreSQL ``integer`` columns


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in every route: an id past INT4_MAX cannot name a row. The URL pattern
    itself stops at INT4_MAX, so such a URL matches no route (404) instead of overflowing the
    database driver (500); a bound checked only after matching would make werkzeug answer 405
    where another method shares the path. The bound is in the document as ``maximum``."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", INT4_MAX)
        super().__init__(map, *args, **kwargs)
        if not self.signed and not self.fixed_digits and self.max is not None:
            self.regex = at_most(self.max)


def at_most(bound: int) -> str:
    """A regex for the decimal numbers 0..bound: fewer digits, or as many digits and, at the
    first digit that differs, a smaller one (2147483647: 1\\d{9}|20\\d{8}|...)."""
    digits = str(bound)
    alternatives = [rf"\d{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        if digit != "0":
            alternatives.append(rf"{digits[:i]}[0-{int(digit) - 1}]\d{{{len(digits) - i - 1}}}")
    alternatives.append(digits)
    return "(?:" + "|".join(alternatives) + ")"


def register_responses(spec: APISpec, error_schema: Any) -> None:
    """The reusable responses, one per status (``#/components/responses/NOT_FOUND``), lazily
    registered as flask-smorest does, but errors as problem+json."""
    for status in HTTPStatus:
        response: dict[str, Any] = {"description": status.phrase}
        if status >= 400:
            response["schema"] = error_schema
        prepare_response(response, spec, PROBLEM_JSON)
        spec.components.response(status.name, response, lazy=True)


class ProblemResponses(BasePlugin):
    """An apispec plugin adding the API-wide error statuses to every operation."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def _is_public(self, rule: Any) -> bool:
        view = self.app.view_functions.get(rule.endpoint) if rule is not None else None
        return bool(getattr(view, "public", False))

    def operation_helper(
        self, path: str | None = None, operations: dict | None = None, **kwargs: Any
    ) -> None:
        public = self._is_public(kwargs.get("rule"))
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            added: dict[int, bool] = {
                401: not public,
                403: method in WRITES and not public and not _endpoint(kwargs).startswith("auth."),
                404: "{" in (path or ""),
                400: "requestBody" in operation,
            }
            documented = {str(status) for status in responses}
            for status, applies in added.items():
                if applies and str(status) not in documented:
                    responses[str(status)] = HTTPStatus(status).name
            if public:
                operation.setdefault("security", [])
            for status, response in responses.items():
                if str(status).isdigit() and int(status) >= 400 and isinstance(response, dict):
                    _as_problem(response)


def _endpoint(kwargs: dict[str, Any]) -> str:
    rule = kwargs.get("rule")
    return str(rule.endpoint) if rule is not None else ""


def _as_problem(response: dict[str, Any]) -> None:
    """An error response documented without a body, or as plain JSON, is problem+json."""
    if response.get("$ref"):
        return
    content = response.setdefault("content", {})
    plain = content.pop("application/json", None)
    content.setdefault(PROBLEM_JSON, plain or {"schema": "Problem"})
