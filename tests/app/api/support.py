"""Helpers the HTTP tests share: log in as a demo user and call the API with their token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.core.models import CaseEvent
from app.database import write_transaction
from app.extensions import db
from app.orgs.demo import DEMO_PASSWORD
from app.orgs.models import OrgUnit
from app.orgs.service import create_user, grant
from tests.helpers import INTAKE, deploy_simple

PROBLEM = "application/problem+json"


@dataclass
class Caller:
    """The test client, speaking as one user."""

    client: FlaskClient
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def _headers(self) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**auth, **self.headers}

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self.client.get(url, headers=self._headers(), **kwargs)

    def post(self, url: str, json: Any = None, **kwargs: Any) -> TestResponse:
        if json is None and "data" not in kwargs:
            json = {}
        return self.client.post(url, json=json, headers=self._headers(), **kwargs)

    def delete(self, url: str, **kwargs: Any) -> TestResponse:
        return self.client.delete(url, headers=self._headers(), **kwargs)


def login(client: FlaskClient, username: str, password: str = DEMO_PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["token"])


def as_user(client: FlaskClient, username: str) -> Caller:
    """A caller with a fresh token (issued directly: argon2 is slow on purpose; the login
    itself is tested in tests/app/auth)."""
    from app.auth.service import issue_token
    from app.orgs.models import User

    user = db.session.scalar(db.select(User).where(User.username == username))
    assert user is not None, username
    return Caller(client, issue_token(user.id)[0])


def prepare(app: Flask) -> FlaskClient:
    """Deploy tests/data/simple and make intake start it."""
    deploy_simple()
    app.config["INTAKE_PROCESS"] = "simple_request"
    return app.test_client()


def intake_body(**overrides: Any) -> dict[str, Any]:
    return {**INTAKE, "reporter": {"name": "张三", "phone": "138 0000 0000"}, **overrides}


def open_case(caller: Caller, **overrides: Any) -> dict[str, Any]:
    response = caller.post("/api/v1/cases", json=intake_body(**overrides))
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def event_count() -> int:
    db.session.rollback()  # a fresh snapshot
    return int(db.session.scalar(db.select(db.func.count()).select_from(CaseEvent)) or 0)


def add_user(username: str, role: str, unit_code: str, *, include_below: bool = False) -> None:
    """Another user with the demo password (the demo has one user per role)."""
    from app.auth.service import hash_password

    with write_transaction() as session:
        unit = session.scalar(db.select(OrgUnit).where(OrgUnit.code == unit_code))
        user = create_user(
            username=username, display_name=username, password_hash=hash_password(DEMO_PASSWORD)
        )
        grant(user=user, role=role, unit=unit, include_below=include_below)


def problem(response: TestResponse, status: int) -> dict[str, Any]:
    """Assert a problem+json answer with ``status``; return its body."""
    assert response.status_code == status, (response.status_code, response.get_data(True))
    assert response.mimetype == PROBLEM
    body = dict(response.get_json())
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body
