"""Gridcase (网格通办): the Flask application factory."""

from __future__ import annotations

import gc
import os
from typing import Any

from flask import Flask

from app.extensions import db, migrate


def create_app(config_name: str | None = None, **overrides: Any) -> Flask:
    from config import CONFIGS

    app = Flask(__name__, instance_relative_config=True)
    name = config_name or os.environ.get("GRIDCASE_CONFIG", "development")
    app.config.from_object(CONFIGS[name])
    app.config.update(overrides)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  (Chinese stays readable)
    if app.config.get("GC_THRESHOLD"):
        gc.set_threshold(*app.config["GC_THRESHOLD"])

    from app.auth import models as _auth_models  # noqa: F401
    from app.core import models as _core_models  # noqa: F401  (register tables)
    from app.orgs import calendar_models as _calendar_models  # noqa: F401
    from app.orgs import models as _org_models  # noqa: F401
    from app.sla import models as _sla_models  # noqa: F401

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    with app.app_context():
        from app.database import configure_engine

        configure_engine(db.engine)

    @app.teardown_appcontext
    def _end_read(exc: BaseException | None) -> None:
        """Runs before Flask-SQLAlchemy's own teardown (teardowns run last-registered
        first): a request that only read ends with COMMIT (see app.database.end_read)."""
        if exc is not None:
            return
        from app.database import end_read

        try:
            end_read()
        except Exception:  # a dead connection: Flask-SQLAlchemy's teardown still runs
            app.logger.exception("ending the request's read transaction failed")

    from app.api import register_api
    from app.cli import register_cli
    from app.web import register_web

    register_api(app)
    register_web(app)
    register_cli(app)
    return app
