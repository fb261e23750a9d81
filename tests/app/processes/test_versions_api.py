"""Process versions over HTTP (designers): metadata, the deployed source, and the diff."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.processes.service import deploy_directory
from tests.app.api.support import as_user, open_case, prepare, problem
from tests.helpers import DATA
from tests.workflows.simple_v2 import BPMN, REVIEW_FORM, write_simple_v2

PROCESS = "/api/v1/processes/simple_request"


@pytest.fixture
def client(app: Flask, org: dict, clock, tmp_path: Path) -> FlaskClient:
    """Version 1 with one case running on it, then version 2 (tests/workflows/simple_v2)."""
    client = prepare(app)
    open_case(as_user(client, "grid1"))
    clock.advance(timedelta(days=1))
    [(v2, created)] = deploy_directory(write_simple_v2(tmp_path / "v2"), actor="designer")
    assert (v2.version, created) == (2, True)
    return client


def test_version_metadata_counts_the_cases_running_on_it(client: FlaskClient) -> None:
    designer = as_user(client, "designer")
    one = designer.get(f"{PROCESS}/versions/1").get_json()
    assert one["key"] == "simple_request" and one["version"] == 1
    assert one["deployed_by"] == "test" and one["deployed_at"] and len(one["content_hash"]) == 64
    assert one["files"] == sorted(["forms/handle.schema.json", REVIEW_FORM, BPMN])
    assert (one["main_file"], one["processes"], one["decisions"]) == (BPMN, ["simple_request"], [])
    assert (one["running_cases"], one["cases"], one["latest"]) == (1, 1, False)
    two = designer.get(f"{PROCESS}/versions/2").get_json()
    assert (two["running_cases"], two["cases"], two["latest"]) == (0, 0, True)
    assert two["deployed_by"] == "designer" and two["content_hash"] != one["content_hash"]
    assert two["deployed_at"] > one["deployed_at"]
    open_case(as_user(client, "grid1"))  # new cases take the newest version
    assert designer.get(f"{PROCESS}/versions/2").get_json()["running_cases"] == 1


def test_source_is_the_deployed_xml_and_any_file_can_be_picked(client: FlaskClient) -> None:
    auditor = as_user(client, "auditor")
    response = auditor.get(f"{PROCESS}/versions/1/bpmn")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert response.get_data() == (DATA / "simple" / BPMN).read_bytes()
    assert "审核 Check" in auditor.get(f"{PROCESS}/versions/2/bpmn").get_data(as_text=True)
    for name in (REVIEW_FORM, "review.schema.json"):
        form = auditor.get(f"{PROCESS}/versions/2/bpmn?file={name}")
        assert form.mimetype == "application/json" and "note" in form.get_json()["properties"]
    problem(auditor.get(f"{PROCESS}/versions/1/bpmn?file=nothing.bpmn"), 404)
    problem(auditor.get(f"{PROCESS}/versions/1/bpmn?file="), 422)


def test_diff_between_versions_over_http(client: FlaskClient) -> None:
    admin = as_user(client, "admin")
    diff = admin.get(f"{PROCESS}/versions/1/diff/2").get_json()
    assert (diff["key"], diff["from"], diff["to"]) == ("simple_request", 1, 2)
    assert [e["id"] for e in diff["added"]] == ["double_check", "f4b"]
    assert {e["id"] for e in diff["changed"]} == {
        "lane_leader",
        "review",
        "g_review",
        "f4",
        "f_rework",
    }
    rework = next(e for e in diff["changed"] if e["id"] == "f_rework")
    assert rework["changes"]["conditionExpression"]["after"] == "approved != True"
    assert [f["file"] for f in diff["forms"]] == [REVIEW_FORM]
    assert diff["layout_only"] is False and diff["diagram"]["changed"] == []
    back = admin.get(f"{PROCESS}/versions/2/diff/1").get_json()
    assert [e["id"] for e in back["removed"]] == ["double_check", "f4b"]
    same = admin.get(f"{PROCESS}/versions/2/diff/2").get_json()
    assert same["added"] == same["removed"] == same["changed"] == same["forms"] == []


@pytest.mark.parametrize("username", ["designer", "admin", "auditor"])
def test_designers_admins_and_auditors_read_versions(client: FlaskClient, username: str) -> None:
    caller = as_user(client, username)
    for url in (
        f"{PROCESS}/versions/2",
        f"{PROCESS}/versions/2/bpmn",
        f"{PROCESS}/versions/1/diff/2",
    ):
        assert caller.get(url).status_code == 200, url


@pytest.mark.parametrize("username", ["grid1", "leader1", "dispatcher"])
def test_caseworkers_may_not_read_the_source(client: FlaskClient, username: str) -> None:
    caller = as_user(client, username)
    for url in (
        f"{PROCESS}/versions/1",
        f"{PROCESS}/versions/1/bpmn",
        f"{PROCESS}/versions/1/diff/2",
        f"{PROCESS}/versions/9",  # the answer says nothing about what exists
    ):
        problem(caller.get(url), 403)
    assert caller.get("/api/v1/processes").status_code == 200  # the list stays open


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/processes/nothing/versions/1",
        f"{PROCESS}/versions/3",
        f"{PROCESS}/versions/0/bpmn",
        f"{PROCESS}/versions/1/diff/3",
        f"{PROCESS}/versions/3/diff/1",
    ],
)
def test_unknown_process_or_version_is_404(client: FlaskClient, path: str) -> None:
    problem(as_user(client, "designer").get(path), 404)
