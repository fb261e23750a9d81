"""The inbox over HTTP: intake → group inbox → claim → complete, forms, 409s, scoping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core.models import HumanTask
from app.extensions import db
from tests.app.api.support import add_user, as_user, event_count, open_case, problem

TASKS = "/api/v1/tasks"


@pytest.fixture
def client(app: Flask, org: dict, clock) -> FlaskClient:
    from tests.app.api.support import prepare

    return prepare(app)


@pytest.fixture
def task_id(client: FlaskClient) -> str:
    case = open_case(as_user(client, "grid1"))
    return str(case["tasks"][0]["id"])


def test_intake_inbox_claim_complete_walk(client: FlaskClient) -> None:
    grid1, leader = as_user(client, "grid1"), as_user(client, "leader1")
    case = open_case(grid1)
    assert case["status"] == "open" and case["process"] == {"key": "simple_request", "version": 1}
    [handle] = case["tasks"]
    assert (handle["bpmn_id"], handle["role"], handle["org_unit"]) == (
        "handle",
        "grid_worker",
        "G-01",
    )

    group = grid1.get(f"{TASKS}?scope=group").get_json()
    assert group["total"] == 1 and group["items"][0]["id"] == handle["id"]
    assert group["items"][0]["case_code"] == case["code"]
    assert grid1.get(f"{TASKS}?scope=mine").get_json()["total"] == 0
    assert leader.get(f"{TASKS}?scope=all").get_json()["total"] == 0  # not the leader's role

    claimed = grid1.post(f"{TASKS}/{handle['id']}/claim")
    assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "grid1"
    assert grid1.get(f"{TASKS}?scope=mine").get_json()["total"] == 1
    assert grid1.get(f"{TASKS}?scope=group").get_json()["total"] == 0

    detail = grid1.get(f"{TASKS}/{handle['id']}").get_json()
    assert detail["form"]["title"] == "办理 Handle"
    assert detail["form"]["required"] == ["result"] and detail["data"] == {}

    done = grid1.post(f"{TASKS}/{handle['id']}/complete", json={"data": {"result": "换了灯泡"}})
    assert done.status_code == 200
    after = done.get_json()
    assert after["id"] == case["id"] and after["stage"] == "review"
    [review] = after["tasks"]
    assert (review["bpmn_id"], review["org_unit"]) == ("review", "C-01")

    inbox = leader.get(TASKS).get_json()
    assert [t["id"] for t in inbox["items"]] == [review["id"]]
    closed = leader.post(f"{TASKS}/{review['id']}/complete", json={"data": {"approved": True}})
    assert closed.status_code == 200
    final = closed.get_json()
    assert final["status"] == "closed" and final["tasks"] == []
    assert final["sla"] == {"state": "closed", "due_at": case["due_at"], "remaining": None}
    events = grid1.get(f"/api/v1/cases/{case['id']}/events").get_json()
    assert [(e["type"], e["actor"]) for e in events] == [
        ("case.opened", "grid1"),
        ("task.claimed", "grid1"),
        ("task.completed", "grid1"),
        ("task.completed", "leader1"),
    ]


def test_prefill_reads_the_current_value_of_form_fields(client: FlaskClient) -> None:
    grid1, leader = as_user(client, "grid1"), as_user(client, "leader1")
    case = open_case(grid1)
    first = case["tasks"][0]["id"]
    grid1.post(f"{TASKS}/{first}/complete", json={"data": {"result": "先处理"}})
    review = leader.get(TASKS).get_json()["items"][0]["id"]
    reworked = leader.post(f"{TASKS}/{review}/complete", json={"data": {"approved": False}})
    again = reworked.get_json()["tasks"][0]
    assert again["bpmn_id"] == "handle"
    assert grid1.get(f"{TASKS}/{again['id']}").get_json()["data"] == {"result": "先处理"}


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({}, {"result"}),
        ({"result": ""}, {"result"}),
        ({"result": 5, "extra": 1}, {"result", "extra"}),
    ],
)
def test_invalid_form_data_is_422_naming_fields_and_writes_nothing(
    client: FlaskClient, task_id: str, data: dict, fields: set[str]
) -> None:
    grid1 = as_user(client, "grid1")
    before = event_count()
    body = problem(grid1.post(f"{TASKS}/{task_id}/complete", json={"data": data}), 422)
    assert set(body["errors"]) == fields
    assert event_count() == before
    assert db.session.get(HumanTask, task_id).status == "open"


def test_complete_body_must_hold_data(client: FlaskClient, task_id: str) -> None:
    body = problem(as_user(client, "grid1").post(f"{TASKS}/{task_id}/complete", json={}), 422)
    assert set(body["errors"]) == {"data"}


def test_completing_twice_is_409(client: FlaskClient, task_id: str) -> None:
    grid1 = as_user(client, "grid1")
    url = f"{TASKS}/{task_id}/complete"
    assert grid1.post(url, json={"data": {"result": "ok"}}).status_code == 200
    before = event_count()
    problem(grid1.post(url, json={"data": {"result": "again"}}), 409)
    problem(grid1.post(f"{TASKS}/{task_id}/claim"), 409)
    assert event_count() == before


def test_two_users_claiming_one_wins_one_conflicts(client: FlaskClient, task_id: str) -> None:
    add_user("grid1b", "grid_worker", "G-01")
    first, second = as_user(client, "grid1"), as_user(client, "grid1b")
    assert first.post(f"{TASKS}/{task_id}/claim").status_code == 200
    problem(second.post(f"{TASKS}/{task_id}/claim"), 409)
    # the loser can neither complete nor unclaim it, the winner can give it back
    problem(second.post(f"{TASKS}/{task_id}/complete", json={"data": {"result": "x"}}), 409)
    problem(second.post(f"{TASKS}/{task_id}/unclaim"), 409)
    released = first.post(f"{TASKS}/{task_id}/unclaim")
    assert released.status_code == 200 and released.get_json()["assignee"] is None
    assert second.post(f"{TASKS}/{task_id}/claim").get_json()["assignee"] == "grid1b"


def test_another_grid_cannot_see_or_act_on_the_task(client: FlaskClient, task_id: str) -> None:
    grid2 = as_user(client, "grid2")
    case_id = db.session.get(HumanTask, task_id).case_id
    assert grid2.get(TASKS).get_json() == {"items": [], "next_cursor": None, "total": 0}
    assert grid2.get("/api/v1/cases").get_json()["items"] == []
    before = event_count()
    for response in (
        grid2.get(f"{TASKS}/{task_id}"),
        grid2.post(f"{TASKS}/{task_id}/claim"),
        grid2.post(f"{TASKS}/{task_id}/unclaim"),
        grid2.post(f"{TASKS}/{task_id}/complete", json={"data": {"result": "x"}}),
        grid2.get(f"/api/v1/cases/{case_id}"),
        grid2.get(f"/api/v1/cases/{case_id}/events"),
        grid2.post(f"/api/v1/cases/{case_id}/withdraw", json={"reason": "x"}),
    ):
        problem(response, 404)
    assert event_count() == before


def test_auditor_reads_everything_and_writes_nothing(client: FlaskClient, task_id: str) -> None:
    auditor = as_user(client, "auditor")
    case_id = db.session.get(HumanTask, task_id).case_id
    assert auditor.get(f"{TASKS}/{task_id}").status_code == 200
    assert auditor.get(f"/api/v1/cases/{case_id}").status_code == 200
    assert len(auditor.get(f"/api/v1/cases/{case_id}/events").get_json()) == 1
    assert auditor.get(f"/api/v1/cases/{case_id}/events/verify").get_json()["ok"] is True
    before = event_count()
    for response in (
        auditor.post(f"{TASKS}/{task_id}/claim"),
        auditor.post(f"{TASKS}/{task_id}/complete", json={"data": {"result": "x"}}),
        auditor.post(f"{TASKS}/{task_id}/assign", json={"username": "grid1"}),
        auditor.post(f"/api/v1/cases/{case_id}/withdraw", json={"reason": "x"}),
        auditor.post("/api/v1/cases", json={"title": "x"}),
        auditor.post("/api/v1/processes", data={}),
    ):
        problem(response, 403)
    assert event_count() == before


def test_assign_needs_a_dispatcher_and_an_eligible_user(client: FlaskClient, task_id: str) -> None:
    leader, grid1 = as_user(client, "leader1"), as_user(client, "grid1")
    url = f"{TASKS}/{task_id}/assign"
    problem(grid1.post(url, json={"username": "grid1"}), 403)
    body = problem(leader.post(url, json={"username": "grid2"}), 422)
    assert "G-01" in body["errors"]["username"][0]
    problem(leader.post(url, json={"username": "nobody"}), 422)
    assigned = leader.post(url, json={"username": "grid1"})
    assert assigned.status_code == 200 and assigned.get_json()["assignee"] == "grid1"
    assert grid1.get(f"{TASKS}?scope=mine").get_json()["total"] == 1


def test_inbox_pages_with_a_cursor_and_filters(client: FlaskClient, clock) -> None:
    grid1 = as_user(client, "grid1")
    ids = []
    for _ in range(3):
        ids.append(open_case(grid1)["tasks"][0]["id"])
        clock.advance(timedelta(minutes=5))
    page = grid1.get(f"{TASKS}?limit=2&sort=-created_at").get_json()
    assert page["total"] == 3 and [t["id"] for t in page["items"]] == ids[::-1][:2]
    rest = grid1.get(f"{TASKS}?limit=2&sort=-created_at&cursor={page['next_cursor']}")
    assert [t["id"] for t in rest.get_json()["items"]] == ids[:1]
    assert rest.get_json()["next_cursor"] is None
    seen, cursor = [], ""
    while True:  # due_at ties everywhere: the id breaks them, nothing is lost or repeated
        page = grid1.get(f"{TASKS}?limit=1&cursor={cursor}").get_json()
        seen += [t["id"] for t in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(ids)
    assert grid1.get(f"{TASKS}?org_unit=C-01").get_json()["total"] == 3
    assert grid1.get(f"{TASKS}?org_unit=G-02").get_json()["total"] == 0
    assert grid1.get(f"{TASKS}?overdue=true").get_json()["total"] == 0
    clock.advance(timedelta(hours=9))  # past 18:00, the same working day's due time
    assert grid1.get(f"{TASKS}?overdue=true").get_json()["total"] == 3
    assert grid1.get(f"{TASKS}?mode=immediate").get_json()["total"] == 3
    assert grid1.get(f"{TASKS}?mode=urgent").get_json()["total"] == 0


@pytest.mark.parametrize(
    "query", ["cursor=nonsense", "cursor=WzEsMl0", "scope=nobody", "sort=name", "limit=0"]
)
def test_bad_inbox_arguments_are_422(client: FlaskClient, query: str) -> None:
    body = problem(as_user(client, "grid1").get(f"{TASKS}?{query}"), 422)
    assert set(body["errors"]) == {query.split("=")[0]}


def test_unknown_task_is_404(client: FlaskClient) -> None:
    problem(as_user(client, "admin").get(f"{TASKS}/no-such-task"), 404)
