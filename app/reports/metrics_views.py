"""GET /metrics: Prometheus text exposition, outside /api/v1 like /healthz."""

from __future__ import annotations

import hmac

from flask import Response, current_app, request
from flask_smorest import Blueprint

from app.api.errors import unauthorized
from app.reports.metrics import CONTENT_TYPE, exposition

TEXT = {"type": "string"}
blp = Blueprint("metrics", __name__, url_prefix="/metrics", description="Monitoring")


def _check_token() -> None:
    """With ``METRICS_TOKEN`` set, the scraper must send it as a bearer token."""
    expected = current_app.config.get("METRICS_TOKEN")
    if not expected:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), str(expected)):
        raise unauthorized("the metrics token is missing or wrong")


@blp.route("", methods=["GET"])
@blp.doc(security=[])
@blp.response(
    200,
    TEXT,
    content_type="text/plain",
    description=(
        "Prometheus text exposition format 0.0.4: open tasks "
        "by stage, open cases by status, overdue, flagged and suspended cases, pending, due "
        "and incident timers, the oldest due timer's lag in seconds, calendar coverage."
    ),
)
@blp.alt_response(401, description="METRICS_TOKEN is set and the bearer token is not it")
def metrics() -> Response:
    """Aggregate gauges for monitoring, computed from the database at scrape time; no
    personal data. Open unless METRICS_TOKEN is configured."""
    _check_token()
    return Response(exposition(), content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
