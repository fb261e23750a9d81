"""The JSON API (/api/v1), its OpenAPI document, bearer-token auth and the health check.

Every /api/v1 view needs ``Authorization: Bearer <token>`` unless marked ``@public``;
auditors are refused every write (403) here, before any view runs.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Flask, g, jsonify, request
from flask_smorest import Api
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from app.extensions import db

API_PREFIX = "/api/v1/"
PUBLIC_ENDPOINTS = frozenset({"api-docs.openapi_json"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ProblemSchema(ma.Schema):
    """application/problem+json (RFC 9457)."""

    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "422: each bad field with its messages"},
    )
    element = ma.fields.List(
        ma.fields.String(), metadata={"description": "BPMN element ids a problem is pinned to"}
    )
    problems = ma.fields.List(
        ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(allow_none=True)),
        metadata={"description": "BPMN/DMN validation: each problem's message, element, file"},
    )
    retry_after = ma.fields.Integer(metadata={"description": "429: seconds until a retry"})


class GridcaseApi(Api):
    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = None  # no catch-all: app/api/openapi.py documents each status

    def _register_responses(self) -> None:
        from app.api.openapi import register_responses

        register_responses(self.spec, self.ERROR_SCHEMA)

    def handle_http_exception(self, error: HTTPException) -> Any:
        from app.api.errors import handle_http_exception

        return handle_http_exception(error)


def _authenticate(app: Flask) -> None:
    from app.api.errors import forbidden, unauthorized
    from app.auth import service
    from app.auth.access import Principal

    g.principal = None
    if not request.path.startswith(API_PREFIX) or request.endpoint is None:
        return
    view = app.view_functions.get(request.endpoint)
    if request.endpoint in PUBLIC_ENDPOINTS or getattr(view, "public", False):
        return
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise unauthorized()
    user = service.verify(raw.strip())
    if user is None:
        raise unauthorized("the token is invalid, expired or revoked")
    principal = Principal.of(user)
    if principal.read_only and request.method not in SAFE_METHODS and request.blueprint != "auth":
        raise forbidden("auditors have read-only access")
    g.principal = principal


def register_api(app: Flask) -> None:
    from app.admin.views import blp as admin_blp
    from app.api.errors import register_error_handlers
    from app.audit.views import blp as audit_blp
    from app.auth.views import blp as auth_blp
    from app.cases.notes_views import blp as case_notes_blp
    from app.cases.views import blp as cases_blp
    from app.processes.views import blp as processes_blp
    from app.reports.export_views import blp as exports_blp
    from app.reports.metrics_views import blp as metrics_blp
    from app.reports.views import blp as reports_blp
    from app.residents.views import blp as residents_blp
    from app.sla.views import blp as sla_blp
    from app.tasks.views import blp as tasks_blp

    app.config.setdefault("API_TITLE", "Gridcase API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    from app.api.inputs import reject_unstorable_text
    from app.api.openapi import ProblemResponses, RowIdConverter

    app.url_map.converters["int"] = RowIdConverter
    api = GridcaseApi(
        spec_kwargs={"security": [{"bearerAuth": []}], "extra_plugins": [ProblemResponses(app)]}
    )
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "POST /auth/token"}
    )
    for blp in (
        auth_blp,
        cases_blp,
        case_notes_blp,
        audit_blp,
        tasks_blp,
        processes_blp,
        sla_blp,
        residents_blp,
        reports_blp,
        exports_blp,
        metrics_blp,
        admin_blp,
    ):
        api.register_blueprint(blp)
    register_error_handlers(app)
    app.before_request(lambda: _authenticate(app))
    app.before_request(reject_unstorable_text)  # after the token check: 401 comes first

    @app.get("/healthz")
    def healthz() -> tuple[object, int]:
        db.session.execute(text("SELECT 1"))
        return jsonify(status="ok"), 200
