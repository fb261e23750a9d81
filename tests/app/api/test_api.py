"""The API as a whole: the OpenAPI document, problem+json errors, process deployment."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core.models import ProcessVersion
from app.extensions import db
from tests.app.api.support import PROBLEM, Caller, as_user, problem
from tests.helpers import DATA

PROCESSES = "/api/v1/processes"


@pytest.fixture
def client(app: Flask, org: dict, clock) -> FlaskClient:
    return app.test_client()


def _simple_files(drop: str | None = None) -> dict[str, bytes]:
    folder = DATA / "simple"
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    files.pop(drop or "", None)
    return files


def _upload(caller: Caller, url: str, files: dict[str, bytes], **form: str):
    data: dict = {"files": [(io.BytesIO(content), name) for name, content in files.items()]}
    data.update(form)
    return caller.post(url, data=data, content_type="multipart/form-data")


def test_openapi_document_lists_every_route(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")  # no token needed
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint.startswith("api-docs."):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes and routes <= documented, routes - documented
    for path in ("/api/v1/cases", "/api/v1/tasks/{task_id}/complete", "/api/v1/auth/token"):
        assert path in spec["paths"]
    assert spec["paths"]["/api/v1/auth/token"]["post"]["security"] == []
    assert "Problem" in spec["components"]["schemas"]


def test_healthz_needs_no_token(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_unknown_route_and_wrong_method_are_problems(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    problem(grid1.get("/api/v1/nothing-here"), 404)
    response = grid1.client.put("/api/v1/cases", headers={"Authorization": f"Bearer {grid1.token}"})
    problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_malformed_json_is_a_problem(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    response = grid1.client.post(
        "/api/v1/cases",
        data="{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {grid1.token}"},
    )
    assert response.status_code in (400, 422) and response.mimetype == PROBLEM


def test_deploy_then_redeploy_identical_content(client: FlaskClient) -> None:
    designer = as_user(client, "designer")
    checked = _upload(designer, f"{PROCESSES}/validate", _simple_files())
    assert checked.status_code == 200
    assert checked.get_json() == {"key": "simple_request", "version": None, "created": False}
    first = _upload(designer, PROCESSES, _simple_files())
    assert first.status_code == 201
    assert first.get_json() == {"key": "simple_request", "version": 1, "created": True}
    again = _upload(designer, PROCESSES, _simple_files())
    assert again.status_code == 200 and again.get_json()["version"] == 1
    assert _upload(designer, f"{PROCESSES}/validate", _simple_files()).get_json()["version"] == 1
    changed = _simple_files()
    changed["simple_request.bpmn"] = changed["simple_request.bpmn"].replace(
        b"Simple request", b"Simple request v2"
    )
    second = _upload(designer, PROCESSES, changed, key="simple_request")
    assert second.status_code == 201 and second.get_json()["version"] == 2
    listed = designer.get(PROCESSES).get_json()
    assert [(p["key"], p["latest_version"]) for p in listed] == [("simple_request", 2)]
    assert [v["version"] for v in listed[0]["versions"]] == [1, 2]
    assert listed[0]["versions"][0]["deployed_by"] == "designer"


def test_bpmn_errors_are_pinned_to_elements_and_nothing_is_deployed(client: FlaskClient) -> None:
    designer = as_user(client, "designer")
    for url in (f"{PROCESSES}/validate", PROCESSES):
        body = problem(_upload(designer, url, _simple_files(drop="forms/review.schema.json")), 422)
        assert body["element"] == ["review"]
        assert "review.schema.json" in body["errors"]["review"][0]
    broken = {"bad.bpmn": b"<bpmn:definitions"}
    body = problem(_upload(designer, PROCESSES, broken), 422)
    assert "bad.bpmn" in body["errors"]
    assert db.session.scalars(db.select(ProcessVersion)).all() == []


def test_uploads_are_checked_before_parsing(client: FlaskClient) -> None:
    designer = as_user(client, "designer")
    body = problem(_upload(designer, PROCESSES, {"../evil.bpmn": b"<x/>", "a.exe": b"MZ"}), 422)
    assert set(body["errors"]) == {"../evil.bpmn", "a.exe"}
    body = problem(_upload(designer, PROCESSES, {"latin1.json": "é".encode("latin-1")}), 422)
    assert body["errors"] == {"latin1.json": ["not UTF-8 text"]}
    body = problem(designer.post(PROCESSES, data={}, content_type="multipart/form-data"), 422)
    assert set(body["errors"]) == {"files"}


def test_only_designers_and_admins_deploy(client: FlaskClient) -> None:
    for username in ("grid1", "leader1", "auditor"):
        problem(_upload(as_user(client, username), PROCESSES, _simple_files()), 403)
    assert _upload(as_user(client, "admin"), PROCESSES, _simple_files()).status_code == 201
    assert as_user(client, "grid1").get(PROCESSES).status_code == 200


def test_domain_errors_map_to_problems(app: Flask) -> None:
    from app.cases.service import IntakeError
    from app.core.uow import Conflict, NotFound
    from workflows.errors import ScriptFailure, SpecError, SpecValidationError

    cases = [
        (Conflict("stale"), 409, {}),
        (NotFound("case 9 not found"), 404, {}),
        (IntakeError("org_unit", "unknown"), 422, {"errors": {"org_unit": ["unknown"]}}),
        (
            ScriptFailure("division by zero", element="set_due"),
            422,
            {"element": ["set_due"], "errors": {"set_due": ["division by zero"]}},
        ),
        (
            SpecValidationError([SpecError("no lane", "task_a", "x.bpmn"), SpecError("bad", None)]),
            422,
            {"element": ["task_a"], "errors": {"task_a": ["no lane"], "files": ["bad"]}},
        ),
    ]
    for exc, status, fields in cases:
        with app.test_request_context("/api/v1/anything"):
            response = app.make_response(app.handle_user_exception(exc))
        assert response.status_code == status and response.mimetype == PROBLEM
        body = response.get_json()
        assert body["status"] == status
        for key, value in fields.items():
            assert body[key] == value
