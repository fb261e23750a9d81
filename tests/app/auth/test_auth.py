"""Login, tokens (hashed, expiring, revocable), the login slowdown, 401 and 403."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.auth.models import ApiToken, LoginFailure
from app.auth.service import DEFAULT_TTL, USER_FREE
from app.extensions import db
from app.orgs.demo import DEMO_PASSWORD
from tests.app.api.support import Caller, as_user, login, problem

TOKEN_URL = "/api/v1/auth/token"


@pytest.fixture
def client(app: Flask, org: dict, clock) -> FlaskClient:
    return app.test_client()


def _try(client: FlaskClient, username: str, password: str):
    return client.post(TOKEN_URL, json={"username": username, "password": password})


def test_login_returns_a_token_that_opens_me(client: FlaskClient, clock) -> None:
    response = _try(client, "grid1", DEMO_PASSWORD)
    assert response.status_code == 200
    body = response.get_json()
    assert body["expires_at"] == (clock.now() + DEFAULT_TTL).isoformat()
    me = Caller(client, body["token"]).get("/api/v1/me")
    assert me.status_code == 200
    assert me.get_json() == {
        "username": "grid1",
        "display_name": "网格员 王芳 Wang Fang",
        "roles": ["grid_worker"],
        "org_units": [{"code": "G-01", "name": "第1网格 Grid 1", "kind": "grid"}],
        "grants": [{"role": "grid_worker", "org_unit": "G-01", "include_below": False}],
    }


def test_only_the_token_hash_is_stored(client: FlaskClient) -> None:
    token = login(client, "grid1")
    row = db.session.scalars(db.select(ApiToken)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.token_hash


def test_unknown_user_and_wrong_password_get_the_same_answer(client: FlaskClient) -> None:
    wrong = problem(_try(client, "grid1", "not-it"), 401)
    unknown = problem(_try(client, "nobody", DEMO_PASSWORD), 401)
    assert wrong == unknown
    assert _try(client, "grid1", "x").headers["WWW-Authenticate"].startswith("Bearer")


def test_login_body_is_validated(client: FlaskClient) -> None:
    body = problem(client.post(TOKEN_URL, json={"username": "grid1"}), 422)
    assert set(body["errors"]) == {"password"}


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer not-a-token", "Basic Z3JpZDE6eA==", "bearer "]
)
def test_no_or_bad_token_is_401(client: FlaskClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    for url in ("/api/v1/me", "/api/v1/cases", "/api/v1/tasks", "/api/v1/processes"):
        response = client.get(url, headers=headers)
        problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_expires(client: FlaskClient, clock) -> None:
    caller = Caller(client, login(client, "grid1"))
    clock.advance(DEFAULT_TTL - timedelta(seconds=1))
    assert caller.get("/api/v1/me").status_code == 200
    clock.advance(timedelta(seconds=1))
    problem(caller.get("/api/v1/me"), 401)


def test_token_ttl_is_configurable(app: Flask, client: FlaskClient, clock) -> None:
    app.config["API_TOKEN_TTL_SECONDS"] = 60
    caller = as_user(client, "grid1")
    clock.advance(timedelta(seconds=61))
    problem(caller.get("/api/v1/me"), 401)


def test_logout_revokes_only_that_token(client: FlaskClient) -> None:
    first, second = Caller(client, login(client, "grid1")), as_user(client, "grid1")
    assert first.delete(TOKEN_URL).status_code == 204
    problem(first.get("/api/v1/me"), 401)
    assert second.get("/api/v1/me").status_code == 200
    row = db.session.scalars(db.select(ApiToken).where(ApiToken.revoked_at.is_not(None))).one()
    assert row.revoked_at is not None


def test_inactive_user_cannot_log_in_nor_use_old_tokens(client: FlaskClient, org: dict) -> None:
    caller = as_user(client, "grid1")
    user = org["users"]["grid1"]
    user.active = False
    db.session.commit()
    problem(_try(client, "grid1", DEMO_PASSWORD), 401)
    problem(caller.get("/api/v1/me"), 401)


def test_repeated_failures_are_slowed_per_username(client: FlaskClient, clock) -> None:
    for _ in range(USER_FREE + 1):
        problem(_try(client, "grid1", "guess"), 401)
    # blocked now for 2 s: even the right password is refused without being checked
    blocked = problem(_try(client, "grid1", DEMO_PASSWORD), 429)
    assert blocked["retry_after"] >= 1
    assert int(_try(client, "grid1", DEMO_PASSWORD).headers["Retry-After"]) >= 1
    clock.advance(timedelta(seconds=3))
    problem(_try(client, "grid1", "guess"), 401)  # the next failure doubles the wait
    clock.advance(timedelta(seconds=3))
    problem(_try(client, "grid1", DEMO_PASSWORD), 429)
    clock.advance(timedelta(seconds=2))
    assert _try(client, "grid1", DEMO_PASSWORD).status_code == 200
    # a success forgets the username's failures
    db.session.rollback()
    assert db.session.get(LoginFailure, "user:grid1") is None
    problem(_try(client, "grid1", "guess"), 401)


def test_unknown_usernames_are_slowed_the_same_way(client: FlaskClient) -> None:
    for _ in range(USER_FREE + 1):
        problem(_try(client, "ghost", "guess"), 401)
    problem(_try(client, "ghost", "guess"), 429)
    assert _try(client, "grid1", DEMO_PASSWORD).status_code == 200  # others are not hit


def test_many_failures_from_one_address_slow_that_address(app: Flask, client: FlaskClient) -> None:
    app.config["LOGIN_ADDR_FREE"] = 4
    for i in range(5):
        problem(_try(client, f"user{i}", "guess"), 401)
    problem(_try(client, "grid1", DEMO_PASSWORD), 429)
    other = client.post(
        TOKEN_URL,
        json={"username": "grid1", "password": DEMO_PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert other.status_code == 200


def test_a_role_without_the_right_is_403(client: FlaskClient) -> None:
    grid1 = Caller(client, login(client, "grid1"))
    problem(grid1.post("/api/v1/processes/validate", data={}), 403)
    problem(grid1.post("/api/v1/cases", json={**_intake(), "org_unit": "G-02"}), 403)


def _intake() -> dict:
    from tests.app.api.support import intake_body

    return intake_body()
