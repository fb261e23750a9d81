"""POST/DELETE /api/v1/auth/token and GET /api/v1/me."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint

from app.api.errors import ApiError, unauthorized
from app.auth import service
from app.auth.access import current_principal, public
from app.auth.schemas import LoginSchema, MeSchema, TokenSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Login and the current user")


@blp.route("/auth/token", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(401, description="bad credentials (the same answer for unknown users)")
@blp.alt_response(429, description="too many failed logins: retry after Retry-After seconds")
@blp.doc(security=[])
@public
def issue_token(body: dict[str, Any]) -> dict[str, Any]:
    """Log in: trade a username and password for a bearer token."""
    try:
        raw, token = service.login(body["username"], body["password"], address=request.remote_addr)
    except service.BadCredentials as exc:
        raise unauthorized("wrong username or password") from exc
    except service.LoginThrottled as exc:
        raise ApiError(
            429,
            "too many failed logins; try again later",
            headers={"Retry-After": str(exc.retry_after)},
            retry_after=exc.retry_after,
        ) from exc
    return {"token": raw, "expires_at": token.expires_at}


@blp.route("/auth/token", methods=["DELETE"])
@blp.response(204)
def revoke_token() -> None:
    """Log out: revoke the token this request carries."""
    raw = request.headers.get("Authorization", "").partition(" ")[2].strip()
    service.revoke(raw)


@blp.route("/me", methods=["GET"])
@blp.response(200, MeSchema)
def me() -> dict[str, Any]:
    """The current user, their roles and the units they hold them in."""
    p = current_principal()
    units: dict[str, dict[str, str]] = {}
    for r in p.user.roles:
        units.setdefault(
            r.org_unit.code,
            {"code": r.org_unit.code, "name": r.org_unit.name, "kind": r.org_unit.kind},
        )
    return {
        "username": p.username,
        "display_name": p.user.display_name,
        "roles": sorted(p.roles),
        "org_units": list(units.values()),
        "grants": [
            {"role": g.role, "org_unit": g.unit_code, "include_below": g.include_below}
            for g in p.grants
        ],
    }
