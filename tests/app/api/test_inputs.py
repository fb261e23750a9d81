"""Text no database can store (NUL, lone surrogates) is refused with the field named, the
same way on SQLite and PostgreSQL, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.api.inputs import storable
from tests.app.api.support import as_user, event_count, intake_body, open_case, prepare, problem


@pytest.fixture
def client(app: Flask, org: dict, clock: Any) -> FlaskClient:
    return prepare(app)


def test_storable() -> None:
    assert storable("路灯不亮 street light") and storable("")
    assert not storable("a\x00b")
    assert not storable("a\ud800b")


def test_nul_in_a_login_is_a_422_not_a_crash(client: FlaskClient) -> None:
    """Before: PostgreSQL refused the NUL in the failure counter's key (500)."""
    response = client.post("/api/v1/auth/token", json={"username": "ad\x00min", "password": "x"})
    assert set(problem(response, 422)["errors"]) == {"username"}


def test_nul_in_a_nested_field_names_it_and_writes_nothing(client: FlaskClient) -> None:
    staff = as_user(client, "staff1")
    before = event_count()
    body = intake_body(reporter={"name": "张\x00三", "phone": "138 0000 0000"})
    errors = problem(staff.post("/api/v1/cases", json=body), 422)["errors"]
    assert set(errors) == {"reporter.name"}
    assert event_count() == before


def test_a_lone_surrogate_is_refused_without_being_echoed(client: FlaskClient) -> None:
    staff = as_user(client, "staff1")
    raw = '{"title": "a\\ud800", "\\udfff": 1}'
    response = staff.client.post(
        "/api/v1/cases",
        data=raw,
        content_type="application/json",
        headers={"Authorization": f"Bearer {staff.token}"},
    )
    body = problem(response, 422)
    assert set(body["errors"]) == {"title", "_schema"}
    assert "\ud800" not in response.get_data(as_text=True)


def test_nul_in_a_query_or_a_form_field_is_named(client: FlaskClient) -> None:
    staff = as_user(client, "staff1")
    assert set(problem(staff.get("/api/v1/cases?q=lamp%00"), 422)["errors"]) == {"q"}
    case = open_case(staff)
    response = staff.post(
        f"/api/v1/cases/{case['id']}/attachments",
        data={"note": "a\x00b"},
        content_type="multipart/form-data",
    )
    assert set(problem(response, 422)["errors"]) == {"note"}


def test_nul_in_a_path_value_is_not_found(client: FlaskClient) -> None:
    staff = as_user(client, "staff1")
    problem(staff.get("/api/v1/tasks/abc%00def"), 404)
    problem(client.get("/api/v1/track/GC%00X"), 404)


def test_the_token_check_comes_first(client: FlaskClient) -> None:
    problem(client.get("/api/v1/cases?q=%00"), 401)
