"""Session login, logout, CSRF and the per-request principal of the web pages.

- Login calls ``app.auth.service.login`` (argon2 check, the shared login slowdown) and keeps
  the raw token it issues in the session cookie (signed, HttpOnly, SameSite=Lax). Every request
  verifies it (expired, revoked or deactivated users are logged out); logout revokes it.
- CSRF: a random token per session (rotated at login); every POST to the blueprint must carry
  it in the ``csrf_token`` field, compared in constant time. A mismatch is a 400 page.
- Pages need a logged-in user unless listed in ``PUBLIC``; auditors read and never write.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import (
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from app.auth import service
from app.auth.access import INTAKE_ROLES, Principal
from app.web import bp

TOKEN_KEY = "web_token"
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
PUBLIC = frozenset({"web.login", "web.track", "web.track_lookup", "web.static"})
WRITE_FREE = frozenset({"web.login", "web.logout"})  # POSTs an auditor may make
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def csrf_token() -> str:
    token = session.get(CSRF_KEY)
    if not isinstance(token, str) or not token:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_field() -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, escape(csrf_token())
    )


def _csrf_ok() -> bool:
    expected = session.get(CSRF_KEY)
    sent = request.form.get(CSRF_FIELD, "")
    return (
        isinstance(expected, str)
        and bool(expected)
        and hmac.compare_digest(expected.encode(), sent.encode())
    )


def current() -> Principal:
    principal = g.get("principal")
    if principal is None:
        abort(401)
    return principal  # type: ignore[no-any-return]


def _load_principal() -> Principal | None:
    raw = session.get(TOKEN_KEY)
    if not isinstance(raw, str) or not raw:
        return None
    user = service.verify(raw)
    if user is None:
        session.pop(TOKEN_KEY, None)
        return None
    return Principal.of(user)


def safe_next(target: str | None, default: str) -> str:
    """Only a path on this site (no scheme, no host, no "//"): no open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


@bp.before_request
def _before() -> Response | None:
    if request.endpoint == "web.static":
        return None
    g.principal = _load_principal()
    if request.method == "POST" and not _csrf_ok():
        abort(400, description="csrf")
    if request.endpoint in PUBLIC:
        return None
    if g.principal is None:
        return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    if request.method == "POST" and g.principal.read_only and request.endpoint not in WRITE_FREE:
        abort(403, description="审计人员只读 Auditors have read-only access")
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "web.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.context_processor
def _context() -> dict[str, Any]:
    principal: Principal | None = g.get("principal")
    can_intake = bool(principal and (principal.is_admin or principal.has_role(INTAKE_ROLES)))
    return {
        "me": principal,
        "csrf_field": csrf_field,
        "can_intake": can_intake and not (principal and principal.read_only),
    }


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = safe_next(request.values.get("next"), url_for("web.inbox"))
    if request.method == "GET":
        if g.principal is not None:
            return redirect(target)
        return render_template("web/login.html", next=target, username="")
    username = request.form.get("username", "").strip()[:80]
    password = request.form.get("password", "")[:1024]
    error, status, headers = None, 200, {}
    if not username or not password:
        error, status = "请输入用户名和密码 Enter your username and password", 400
    else:
        try:
            raw, _token = service.login(username, password, address=request.remote_addr)
        except service.BadCredentials:
            error, status = "用户名或密码错误 Wrong username or password", 401
        except service.LoginThrottled as exc:
            error = (
                f"登录失败次数过多，请 {exc.retry_after} 秒后再试 "
                f"Too many failed logins; try again in {exc.retry_after} s"
            )
            status, headers = 429, {"Retry-After": str(exc.retry_after)}
        else:
            session.clear()  # a fresh session: no fixation, a new CSRF token
            session.permanent = True
            session[TOKEN_KEY] = raw
            csrf_token()
            return redirect(target)
    page = render_template("web/login.html", next=target, username=username, error=error)
    return page, status, headers


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    raw = session.get(TOKEN_KEY)
    if isinstance(raw, str) and raw:
        service.revoke(raw)
    session.clear()
    flash("已退出登录 You are logged out", "info")
    return redirect(url_for("web.login"))
