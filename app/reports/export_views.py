"""/api/v1/export: the audit events as CSV and the cases as XES (process mining), streamed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response, stream_with_context
from flask_smorest import Blueprint

from app.auth.access import current_principal
from app.reports import exports
from app.reports.export_schemas import PeriodArgs
from workflows import clock

blp = Blueprint("exports", __name__, url_prefix="/api/v1/export", description="Exports (CSV, XES)")

CSV_TYPE = "text/csv; charset=utf-8; header=present"
XES_TYPE = "application/xml; charset=utf-8"
TEXT = {"type": "string"}  # a streamed file: documented by its media type


def _period(args: dict[str, Any]) -> exports.Period:
    return exports.Period(start=args["from_"], end=args["to"])


def _download(chunks: Iterator[str], content_type: str, name: str, suffix: str) -> Response:
    """Stream ``chunks`` as a file download; the request context (the caller, the database
    session) lives until the last chunk is sent."""
    stamp = f"{clock.now():%Y%m%d-%H%M%S}"
    response = Response(stream_with_context(chunks), content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.{suffix}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/events.csv", methods=["GET"])
@blp.arguments(PeriodArgs, location="query")
@blp.response(
    200,
    TEXT,
    content_type="text/csv",
    description=(
        "UTF-8 with a byte-order mark (Excel reads the Chinese correctly), RFC 4180, header "
        "row: " + ", ".join(exports.CSV_COLUMNS) + ". `at` in ISO 8601 (UTC, with offset); "
        "`data` is the canonical JSON the event's hash covers."
    ),
)
def events_csv(args: dict[str, Any]) -> Response:
    """The audit events (审计事件) of the cases you may see whose time is in the period, in
    chain order (case, seq); auditors and admins get every case."""
    chunks = exports.events_csv(current_principal(), _period(args))
    return _download(chunks, CSV_TYPE, "gridcase-events", "csv")


@blp.route("/cases.xes", methods=["GET"])
@blp.arguments(PeriodArgs, location="query")
@blp.response(
    200,
    TEXT,
    content_type="application/xml",
    description=(
        "IEEE 1849 XES (extensions concept, time, org, lifecycle): one trace per case "
        "(concept:name = the case code), one event per activity step: concept:name = the "
        "BPMN task name, time:timestamp, org:resource = who acted, lifecycle:transition = "
        "schedule | assign | reassign | complete | ate_abort. pm4py reads it."
    ),
)
def cases_xes(args: dict[str, Any]) -> Response:
    """The cases you may see that were opened in the period, as an event log for process
    mining (过程挖掘): whole traces, including their steps after the period."""
    chunks = exports.cases_xes(current_principal(), _period(args))
    return _download(chunks, XES_TYPE, "gridcase-cases", "xes")
