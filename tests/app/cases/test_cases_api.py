"""Cases over HTTP: intake rules, the case shape, SLA, listing, withdrawal, the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core.models import CaseEvent
from app.extensions import db
from tests.app.api.support import (
    as_user,
    event_count,
    intake_body,
    open_case,
    prepare,
    problem,
)

CASES = "/api/v1/cases"


@pytest.fixture
def client(app: Flask, org: dict, clock) -> FlaskClient:
    return prepare(app)


def test_intake_returns_the_case_in_the_contract_shape(client: FlaskClient) -> None:
    case = open_case(as_user(client, "grid1"), urgent=False)
    for name in (
        "id", "code", "tracking_code", "title", "status", "mode", "stage", "org_unit",
        "opened_at", "due_at", "closed_at", "sla", "process", "tasks",
    ):  # fmt: skip
        assert name in case, name
    assert case["org_unit"] == "G-01" and case["mode"] == "immediate"
    assert case["opened_at"] == "2025-03-03T01:30:00+00:00"
    assert case["due_at"] == "2025-03-03T10:00:00+00:00"
    assert case["sla"] == {"state": "on_track", "due_at": case["due_at"], "remaining": 30600}
    assert case["reporter"] == {"name": "张三", "phone": "138 0000 0000"}


def test_intake_is_validated_field_by_field(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    bad = intake_body(request_type="gossip", reporter={"phone": "call me"}, resident={"age": -1})
    del bad["title"]
    body = problem(grid1.post(CASES, json=bad), 422)
    assert set(body["errors"]) == {"title", "request_type", "reporter.phone", "resident.age"}
    body = problem(grid1.post(CASES, json=intake_body(org_unit="G-99")), 422)
    assert set(body["errors"]) == {"org_unit"}
    body = problem(as_user(client, "staff1").post(CASES, json=intake_body(org_unit="C-01")), 422)
    assert "not a grid" in body["errors"]["org_unit"][0]
    assert event_count() == 0


def test_intake_needs_a_caseworker_role_in_the_grid_or_above(client: FlaskClient) -> None:
    problem(as_user(client, "grid2").post(CASES, json=intake_body()), 403)
    problem(as_user(client, "dept_city").post(CASES, json=intake_body()), 403)
    problem(as_user(client, "designer").post(CASES, json=intake_body()), 403)
    assert open_case(as_user(client, "staff1"))["org_unit"] == "G-01"  # C-01 and below
    assert open_case(as_user(client, "building1"))["org_unit"] == "G-01"
    assert open_case(as_user(client, "dispatcher"), org_unit="G-04")["org_unit"] == "G-04"


def test_sla_moves_from_on_track_to_due_soon_to_overdue(client: FlaskClient, clock) -> None:
    grid1 = as_user(client, "grid1")
    case_id = open_case(grid1)["id"]
    clock.advance(timedelta(hours=7))  # 16:30: 1.5 h of 8.5 h left
    sla = grid1.get(f"{CASES}/{case_id}").get_json()["sla"]
    assert sla["state"] == "due_soon" and sla["remaining"] == 5400
    clock.advance(timedelta(hours=2))
    sla = grid1.get(f"{CASES}/{case_id}").get_json()["sla"]
    assert sla["state"] == "overdue" and sla["remaining"] == -1800
    listed = grid1.get(f"{CASES}?overdue=true").get_json()["items"]
    assert [c["id"] for c in listed] == [case_id] and listed[0]["sla"]["state"] == "overdue"
    assert grid1.get(f"{CASES}?overdue=false").get_json()["items"] == []


def test_list_filters_and_pages(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    ids = [open_case(grid1, title=f"案件 {i}")["id"] for i in range(3)]
    page = grid1.get(f"{CASES}?limit=2").get_json()
    assert [c["id"] for c in page["items"]] == ids[::-1][:2]
    rest = grid1.get(f"{CASES}?limit=2&cursor={page['next_cursor']}").get_json()
    assert [c["id"] for c in rest["items"]] == ids[:1] and rest["next_cursor"] is None
    assert [c["id"] for c in grid1.get(f"{CASES}?q=案件 1").get_json()["items"]] == [ids[1]]
    assert grid1.get(f"{CASES}?q=100%25").get_json()["items"] == []
    assert len(grid1.get(f"{CASES}?org_unit=C-01").get_json()["items"]) == 3
    assert grid1.get(f"{CASES}?org_unit=C-02").get_json()["items"] == []
    assert len(grid1.get(f"{CASES}?status=open&mode=immediate").get_json()["items"]) == 3
    assert grid1.get(f"{CASES}?status=closed").get_json()["items"] == []
    problem(grid1.get(f"{CASES}?org_unit=nowhere"), 422)
    problem(grid1.get(f"{CASES}?cursor=WyJ4Il0"), 422)
    # the community leader sees the grid's cases (include_below), grid 2 does not
    assert len(as_user(client, "leader1").get(CASES).get_json()["items"]) == 3
    assert as_user(client, "grid2").get(CASES).get_json()["items"] == []


def test_withdrawal_closes_the_case_once(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    case_id = open_case(grid1)["id"]
    response = grid1.post(f"{CASES}/{case_id}/withdraw", json={"reason": "已自行解决"})
    assert response.status_code == 200
    case = response.get_json()
    assert case["status"] == "withdrawn" and case["tasks"] == [] and case["closed_at"]
    assert case["sla"]["state"] == "closed"
    before = event_count()
    problem(grid1.post(f"{CASES}/{case_id}/withdraw", json={"reason": "again"}), 409)
    assert event_count() == before
    last = grid1.get(f"{CASES}/{case_id}/events").get_json()[-1]
    assert last["type"] == "message.received"
    assert last["data"]["payload"] == {"reason": "已自行解决"} and last["actor"] == "grid1"


def test_events_verify_and_tampering_is_named(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    case = open_case(grid1)
    grid1.post(f"/api/v1/tasks/{case['tasks'][0]['id']}/claim")
    grid1.post(f"/api/v1/tasks/{case['tasks'][0]['id']}/unclaim")
    events = grid1.get(f"{CASES}/{case['id']}/events").get_json()
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert events[1]["prev_hash"] == events[0]["hash"]
    assert set(events[0]) == {"seq", "type", "actor", "at", "data", "prev_hash", "hash"}
    verify = f"{CASES}/{case['id']}/events/verify"
    assert grid1.get(verify).get_json() == {"ok": True, "events": 3, "broken_at": None}

    table = CaseEvent.__table__
    db.session.execute(
        table.update()
        .where(table.c.case_id == case["id"], table.c.seq == 2)
        .values(data={"assignee": [None, "someone else"]})
    )
    db.session.commit()
    assert grid1.get(verify).get_json() == {"ok": False, "events": 3, "broken_at": 2}


def test_a_deleted_event_is_named_too(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    case = open_case(grid1)
    grid1.post(f"/api/v1/tasks/{case['tasks'][0]['id']}/claim")
    grid1.post(f"/api/v1/tasks/{case['tasks'][0]['id']}/unclaim")
    table = CaseEvent.__table__
    db.session.execute(table.delete().where(table.c.case_id == case["id"], table.c.seq == 2))
    db.session.commit()
    verify = grid1.get(f"{CASES}/{case['id']}/events/verify").get_json()
    assert verify == {"ok": False, "events": 2, "broken_at": 2}


def test_unknown_case_is_404(client: FlaskClient) -> None:
    problem(as_user(client, "admin").get(f"{CASES}/999999"), 404)
    problem(as_user(client, "admin").get(f"{CASES}/999999/events/verify"), 404)


def test_events_cut_off_the_end_are_named(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    case = open_case(grid1)
    grid1.post(f"/api/v1/tasks/{case['tasks'][0]['id']}/claim")
    grid1.post(f"/api/v1/tasks/{case['tasks'][0]['id']}/unclaim")
    table = CaseEvent.__table__
    db.session.execute(table.delete().where(table.c.case_id == case["id"], table.c.seq == 3))
    db.session.commit()
    verify = grid1.get(f"{CASES}/{case['id']}/events/verify").get_json()
    assert verify == {"ok": False, "events": 2, "broken_at": 3}
