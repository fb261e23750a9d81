"""/api/v1/track: residents follow their case by tracking code and rate the follow-up.

No login (``@public``); an unknown code is a 404 whatever the reason, and repeated misses
from one address are slowed down (429 with Retry-After).
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint

from app.api.errors import ApiError
from app.auth.access import public
from app.residents import service
from app.residents.schemas import RatingSchema, TrackSchema

blp = Blueprint(
    "residents", __name__, url_prefix="/api/v1/track", description="Residents: tracking, rating"
)


def _throttled(exc: service.Throttled) -> ApiError:
    return ApiError(
        429,
        "查询过于频繁，请稍后再试 too many lookups; try again later",
        headers={"Retry-After": str(exc.retry_after)},
        retry_after=exc.retry_after,
    )


@blp.route("/<tracking_code>", methods=["GET"])
@blp.response(200, TrackSchema)
@blp.alt_response(404, description="no case has this code (the same answer for any reason)")
@blp.alt_response(429, description="too many unknown codes from this address: Retry-After")
@blp.doc(security=[])
@public
def track(tracking_code: str) -> service.Tracked:
    """Status, stage and due time of a case, with its public notes; no personal data."""
    try:
        return service.track(tracking_code, address=request.remote_addr)
    except service.Throttled as exc:
        raise _throttled(exc) from exc


@blp.route("/<tracking_code>/rating", methods=["POST"])
@blp.arguments(RatingSchema)
@blp.response(200, TrackSchema)
@blp.alt_response(404, description="no case has this code (the same answer for any reason)")
@blp.alt_response(409, description="no 回访 follow-up is open for rating")
@blp.alt_response(429, description="too many unknown codes from this address: Retry-After")
@blp.doc(security=[])
@public
def rate(body: dict[str, Any], tracking_code: str) -> service.Tracked:
    """Rate the 回访 follow-up: 满意 / 基本满意 / 不满意 (unsatisfied reopens the case once)."""
    address = request.remote_addr
    try:
        service.rate(
            tracking_code,
            satisfaction=body["satisfaction"],
            comment=body["comment"],
            resolved=body["resolved"],
            address=address,
        )
        return service.track(tracking_code, address=address)
    except service.Throttled as exc:
        raise _throttled(exc) from exc
