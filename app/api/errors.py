"""Every 4xx/5xx of the API as ``application/problem+json`` (RFC 9457).

The body is ``{"type", "title", "status", "detail"}``, plus ``errors`` (field → messages) for
422 and ``element`` (BPMN element ids) for process errors. Domain exceptions are mapped here
so that services raise what they mean and never build responses.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from app.auth.access import Forbidden
from app.cases.queries import InvalidInput
from app.cases.service import IntakeError
from app.core.uow import Conflict, NotFound
from workflows.errors import ScriptFailure, SpecValidationError

PROBLEM_TYPE = "urn:gridcase:problem:"
API_PREFIXES = ("/api/", "/healthz")


class ApiError(Exception):
    """Raise from a view or service to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Mapping[str, list[str]] | None = None,
        element: list[str] | None = None,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.errors, self.element, self.kind = errors, element, kind
        self.headers = dict(headers or {})
        self.extra = extra


def unauthorized(detail: str = "a valid bearer token is required") -> ApiError:
    return ApiError(401, detail, headers={"WWW-Authenticate": 'Bearer realm="gridcase"'})


def forbidden(detail: str = "you are not allowed to do this") -> ApiError:
    return ApiError(403, detail)


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def invalid(errors: Mapping[str, list[str]], detail: str = "the request is invalid") -> ApiError:
    return ApiError(422, detail, errors=errors, kind="validation")


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    headers: Mapping[str, str] | None = None,
    **fields: Any,
) -> Response:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + kind if kind else "about:blank",
        "title": phrase,
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in fields.items() if v is not None})
    response = current_app.response_class(
        current_app.json.dumps(body), status=status, mimetype="application/problem+json"
    )
    response.headers.update(dict(headers or {}))
    return response


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """{"reporter": {"phone": ["bad"]}} → {"reporter.phone": ["bad"]}."""
    if isinstance(messages, Mapping):
        out: dict[str, list[str]] = {}
        for key, value in messages.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_schema": list(messages)}
    return {prefix or "_schema": [str(messages)]}


def _webargs_errors(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """webargs nests messages by location ({"json": {...}}); clients want the fields."""
    messages = data.get("errors") or data.get("messages") or {}
    out: dict[str, list[str]] = {}
    for _location, fields in dict(messages).items():
        out.update(flatten(fields))
    return out


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIXES)


def handle_http_exception(error: HTTPException) -> Response | HTTPException:
    if not is_api_request():
        return error
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = _webargs_errors(data) if status == 422 else None
    if status >= 500:
        detail = "the server failed; the error was logged"
    elif errors:
        detail = "the request is invalid: " + ", ".join(sorted(errors))
    else:
        detail = str(data.get("message") or error.description or HTTPStatus(status).phrase)
    headers = dict(data.get("headers") or {})
    if status == 405 and error.get_headers():
        headers.update({k: v for k, v in error.get_headers() if k == "Allow"})
    kind = "validation" if errors else None
    return problem(status, detail, kind=kind, headers=headers, errors=errors)


def _spec_errors(exc: SpecValidationError) -> Response:
    errors: dict[str, list[str]] = {}
    for e in exc.errors:
        errors.setdefault(e.element or e.file or "files", []).append(e.message)
    elements = sorted({e.element for e in exc.errors if e.element})
    return problem(
        422,
        f"the process is invalid ({len(exc.errors)} problem(s))",
        kind="bpmn-invalid",
        errors=errors,
        element=elements,
        problems=[e.as_dict() for e in exc.errors],
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return problem(
            exc.status,
            exc.detail,
            kind=exc.kind,
            headers=exc.headers,
            errors=dict(exc.errors) if exc.errors is not None else None,
            element=exc.element,
            **exc.extra,
        )

    @app.errorhandler(Conflict)
    def _conflict(exc: Conflict) -> Response:
        return problem(409, str(exc) or "someone else acted first", kind="conflict")

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound) -> Response:
        return problem(404, str(exc) or "not found")

    @app.errorhandler(Forbidden)
    def _forbidden(exc: Forbidden) -> Response:
        return problem(403, str(exc) or "you are not allowed to do this")

    @app.errorhandler(InvalidInput)
    def _invalid(exc: InvalidInput) -> Response:
        detail = f"{exc}: " + ", ".join(sorted(exc.errors))
        return problem(422, detail, kind="validation", errors=exc.errors)

    @app.errorhandler(IntakeError)
    def _intake(exc: IntakeError) -> Response:
        return problem(422, str(exc), kind="validation", errors={exc.field: [str(exc)]})

    @app.errorhandler(SpecValidationError)
    def _spec(exc: SpecValidationError) -> Response:
        return _spec_errors(exc)

    @app.errorhandler(ScriptFailure)
    def _script(exc: ScriptFailure) -> Response:
        element = [exc.element] if exc.element else []
        return problem(
            422,
            f"a script in the process failed: {exc}",
            kind="script-failed",
            errors={exc.element or "process": [str(exc)]},
            element=element,
        )
