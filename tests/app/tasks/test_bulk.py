"""批量领取/指派 over HTTP: each id is its own transaction with its own result."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core.models import HumanTask
from app.extensions import db
from app.tasks.bulk import MAX_IDS
from tests.app.api.support import Caller, add_user, as_user, event_count, open_case, problem

BULK = "/api/v1/tasks/bulk"


@pytest.fixture
def client(app: Flask, org: dict, clock) -> FlaskClient:
    from tests.app.api.support import prepare

    client = prepare(app)
    add_user("grid1b", "grid_worker", "G-01")
    return client


def _tasks(caller: Caller, n: int, **intake: str) -> list[str]:
    return [open_case(caller, **intake)["tasks"][0]["id"] for _ in range(n)]


def _assignees(ids: list[str]) -> list[str | None]:
    db.session.rollback()  # a fresh snapshot
    tasks = [db.session.get(HumanTask, i) for i in ids]
    return [t.assignee.username if t and t.assignee else None for t in tasks]


def _statuses(response: Any) -> list[tuple[str, int]]:
    assert response.status_code == 200, response.get_json()
    return [(r["id"], r["status"]) for r in response.get_json()["results"]]


def test_bulk_claim_takes_what_it_can_and_says_why_not_for_the_rest(client: FlaskClient) -> None:
    grid1, grid1b = as_user(client, "grid1"), as_user(client, "grid1b")
    first, taken, last = _tasks(grid1, 3)
    other_grid = _tasks(as_user(client, "grid2"), 1, org_unit="G-02")[0]
    assert grid1b.post(f"/api/v1/tasks/{taken}/claim").status_code == 200
    before = event_count()
    ids = [first, taken, "no-such-task", other_grid, last]
    response = grid1.post(BULK, json={"action": "claim", "ids": ids})
    assert _statuses(response) == [
        (first, 200),
        (taken, 409),  # someone else was first: the ids after it still ran
        ("no-such-task", 404),
        (other_grid, 404),  # another grid's task is not even visible
        (last, 200),
    ]
    results = response.get_json()["results"]
    assert results[0]["task"]["assignee"] == "grid1" and "detail" not in results[0]
    assert "already claimed" in results[1]["detail"] and "task" not in results[1]
    assert _assignees([first, taken, other_grid, last]) == ["grid1", "grid1b", None, "grid1"]
    assert event_count() == before + 2  # one task.claimed per success, nothing else
    assert grid1.get("/api/v1/tasks?scope=mine").get_json()["total"] == 2
    again = grid1.post(BULK, json={"action": "claim", "ids": [first, last]})
    assert _statuses(again) == [(first, 409), (last, 409)]
    assert event_count() == before + 2


def test_bulk_assign_checks_each_task_for_the_user(client: FlaskClient) -> None:
    grid1, leader = as_user(client, "grid1"), as_user(client, "leader1")
    g1 = _tasks(grid1, 2)
    g2 = _tasks(as_user(client, "grid2"), 1, org_unit="G-02")[0]
    response = leader.post(BULK, json={"action": "assign", "ids": [*g1, g2], "username": "grid1b"})
    assert _statuses(response) == [(g1[0], 200), (g1[1], 200), (g2, 422)]
    assert "G-02" in response.get_json()["results"][2]["detail"]
    assert _assignees([*g1, g2]) == ["grid1b", "grid1b", None]
    # a caseworker without a dispatching role: each id refused on its own
    refused = grid1.post(BULK, json={"action": "assign", "ids": g1, "username": "grid1"})
    assert _statuses(refused) == [(g1[0], 403), (g1[1], 403)]
    assert _assignees(g1) == ["grid1b", "grid1b"]


def test_a_failure_after_a_success_undoes_nothing(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    [task] = _tasks(grid1, 1)
    response = grid1.post(BULK, json={"action": "claim", "ids": [task, "missing"]})
    assert _statuses(response) == [(task, 200), ("missing", 404)]
    assert _assignees([task]) == ["grid1"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "claim", "ids": []}, "ids"),
        ({"action": "claim", "ids": ["a", "b", "a"]}, "ids"),
        ({"action": "claim", "ids": [f"t{i}" for i in range(MAX_IDS + 1)]}, "ids"),
        ({"action": "claim", "ids": [""]}, "ids"),
        ({"action": "claim"}, "ids"),
        ({"action": "claim", "ids": ["a"], "username": "grid1"}, "username"),
        ({"action": "assign", "ids": ["a"]}, "username"),
        ({"action": "assign", "ids": ["a"], "username": "nobody"}, "username"),
        ({"action": "complete", "ids": ["a"]}, "action"),
    ],
)
def test_bad_requests_are_422_naming_the_field_and_write_nothing(
    client: FlaskClient, body: dict[str, Any], field: str
) -> None:
    leader = as_user(client, "leader1")
    [task] = _tasks(as_user(client, "grid1"), 1)
    body = {**body, "ids": [task, *body["ids"]]} if body.get("ids") else body
    before = event_count()
    errors = problem(leader.post(BULK, json=body), 422)["errors"]
    assert field in errors or any(k.startswith(f"{field}.") for k in errors), errors
    assert event_count() == before
    assert _assignees([task]) == [None]


def test_the_cap_itself_is_accepted(client: FlaskClient) -> None:
    ids = [f"missing-{i}" for i in range(MAX_IDS)]
    response = as_user(client, "grid1").post(BULK, json={"action": "claim", "ids": ids})
    assert _statuses(response) == [(i, 404) for i in ids]


def test_auditors_cannot_bulk_claim(client: FlaskClient) -> None:
    [task] = _tasks(as_user(client, "grid1"), 1)
    problem(as_user(client, "auditor").post(BULK, json={"action": "claim", "ids": [task]}), 403)
    assert _assignees([task]) == [None]
