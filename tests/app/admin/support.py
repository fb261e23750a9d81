"""Helpers the admin tests share: PATCH/PUT as a caller, the admin log and row counts."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.admin.models import AdminEvent
from app.extensions import db
from app.orgs.models import OrgUnit, RoleAssignment, User
from tests.app.api.support import Caller, as_user

USERS = "/api/v1/users"
UNITS = "/api/v1/org-units"
EVENTS = "/api/v1/admin/events"
NEW_PASSWORD = "春眠不觉晓-spring-2025"


def patch(caller: Caller, url: str, json: Any) -> TestResponse:
    return caller.client.patch(url, json=json, headers=caller._headers())


def put(caller: Caller, url: str, json: Any) -> TestResponse:
    return caller.client.put(url, json=json, headers=caller._headers())


def admin_events() -> list[AdminEvent]:
    db.session.rollback()  # a fresh snapshot
    return list(db.session.scalars(db.select(AdminEvent).order_by(AdminEvent.seq)))


def counts() -> tuple[int, int, int, int]:
    """Rows of users, role grants, org units and admin events: a failed change adds none."""
    db.session.rollback()
    return tuple(  # type: ignore[return-value]
        int(db.session.scalar(db.select(db.func.count()).select_from(model)) or 0)
        for model in (User, RoleAssignment, OrgUnit, AdminEvent)
    )


def callers(client: FlaskClient) -> dict[str, Caller]:
    return {name: as_user(client, name) for name in ("admin", "auditor", "grid1")}
