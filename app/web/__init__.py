"""The web UI: server-rendered pages for caseworkers and the public tracking page.

Every page is reached through the blueprint ``web`` at ``/``. Logging in trades a username and
password for an API token (``app.auth.service.login``: the same password check and login
slowdown as the API) that lives in the signed session cookie; every request verifies it, and
logging out revokes it. Every POST carries the session's CSRF token (``csrf_token``).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/web-static",
)


def register_web(app: Flask) -> None:
    from app.web import auth, cases, errors, inbox  # noqa: F401  (routes attach to bp)
    from app.web.labels import duration, label, local_time

    # Flask's defaults are no SameSite and 31 days; a config that sets its own keeps it.
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    seconds = app.config.get("API_TOKEN_TTL_SECONDS")
    app.config["PERMANENT_SESSION_LIFETIME"] = (
        timedelta(seconds=int(seconds)) if seconds else timedelta(hours=12)
    )
    app.add_template_filter(label, "label")
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(duration, "duration")
    app.register_blueprint(bp)
