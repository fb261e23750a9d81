"""The OpenAPI document tells the truth about errors, and ids past the column type are 404s."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.api.openapi import INT4_MAX, PROBLEM_JSON, at_most
from tests.app.api.support import as_user, prepare, problem

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def spec(app: Flask) -> dict[str, Any]:
    return dict(app.test_client().get("/api/v1/openapi.json").get_json())


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _resolve(spec: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    ref = response.get("$ref")
    return dict(spec["components"]["responses"][ref.rsplit("/", 1)[1]]) if ref else response


def test_every_error_is_documented_as_problem_json_with_no_catch_all(spec: dict) -> None:
    operations = _operations(spec)
    assert operations
    for path, method, operation in operations:
        responses = operation["responses"]
        assert "default" not in responses, (method, path)
        for status, response in responses.items():
            if int(status) >= 400:
                content = _resolve(spec, response)["content"]
                assert list(content) == [PROBLEM_JSON], (method, path, status)


def test_api_wide_statuses_are_on_every_operation_they_apply_to(spec: dict) -> None:
    for path, method, operation in _operations(spec):
        statuses = set(operation["responses"])
        public = operation.get("security") == []
        if not public:
            assert "401" in statuses, (method, path)
        if "{" in path:
            assert "404" in statuses, (method, path)
        if "requestBody" in operation:
            assert "400" in statuses, (method, path)
        if method != "get" and not public and not path.startswith("/api/v1/auth/"):
            assert "403" in statuses, (method, path)
    login = spec["paths"]["/api/v1/auth/token"]["post"]
    assert login["security"] == [] and "403" not in login["responses"]
    track = spec["paths"]["/api/v1/track/{tracking_code}"]["get"]  # @public: no token, no 401
    assert track["security"] == [] and "401" not in track["responses"]


def test_integer_path_ids_document_their_bound(spec: dict) -> None:
    params = spec["paths"]["/api/v1/cases/{case_id}"]["parameters"]
    case_id = next(p for p in params if p["name"] == "case_id")
    assert case_id["schema"] == {"type": "integer", "minimum": 0, "maximum": INT4_MAX}


@pytest.mark.parametrize("bound", [0, 7, 9, 10, 100, 305, 1999, 2000, 4096])
def test_at_most_matches_exactly_the_numbers_up_to_its_bound(bound: int) -> None:
    pattern = re.compile(at_most(bound) + r"\Z")
    for n in range(bound * 2 + 120):
        assert bool(pattern.match(str(n))) is (n <= bound), n
    assert pattern.match(str(bound)) and not pattern.match(str(bound + 1))


def test_at_most_int4_edges() -> None:
    pattern = re.compile(at_most(INT4_MAX) + r"\Z")
    for n in (0, 1, 10**9, INT4_MAX - 1, INT4_MAX, 2147483639, 2147399999):
        assert pattern.match(str(n)), n
    for n in (INT4_MAX + 1, 2147483650, 2147490000, 3 * 10**9, 10**10, 2**63, 10**30):
        assert not pattern.match(str(n)), n


@pytest.fixture
def client(app: Flask, org: dict, clock: Any) -> FlaskClient:
    return prepare(app)


def test_an_id_past_the_column_type_is_404_not_a_crash(client: FlaskClient) -> None:
    """Before: 500 (the driver overflowed) — or 405 where GET and POST share the path."""
    admin = as_user(client, "admin")
    for big in (INT4_MAX + 1, 2**63, 10**30):
        problem(admin.get(f"/api/v1/cases/{big}"), 404)
        problem(admin.get(f"/api/v1/cases/{big}/comments"), 404)
        problem(admin.post(f"/api/v1/cases/{big}/comments", json={"body": "x"}), 404)
        problem(admin.post(f"/api/v1/cases/{big}/suspend", json={"reason": "x"}), 404)
    problem(admin.get(f"/api/v1/cases/{INT4_MAX}"), 404)  # in range: the usual "not found"
