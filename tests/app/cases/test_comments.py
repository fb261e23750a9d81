"""Case comments over HTTP: audited notes and public replies, validation, who may write."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core.models import CaseComment
from app.extensions import db
from tests.app.api.support import as_user, event_count, open_case, prepare, problem

CASES = "/api/v1/cases"


@pytest.fixture
def client(app: Flask, org: dict, clock) -> FlaskClient:
    return prepare(app)


def _comments() -> list[CaseComment]:
    db.session.rollback()  # a fresh snapshot
    return list(db.session.scalars(db.select(CaseComment)))


def test_comments_are_added_listed_and_audited_in_the_chain(client: FlaskClient, clock) -> None:
    grid1 = as_user(client, "grid1")
    case_id = open_case(grid1)["id"]
    url = f"{CASES}/{case_id}/comments"
    first = grid1.post(url, json={"body": "  已电话联系居民，明早上门  "})
    assert first.status_code == 201, first.get_json()
    note = first.get_json()
    assert note["body"] == "已电话联系居民，明早上门" and note["public"] is False
    assert note["author"] == "grid1" and note["created_at"] == "2025-03-03T01:30:00+00:00"
    clock.advance(timedelta(minutes=5))
    reply = as_user(client, "leader1").post(url, json={"body": "路灯已修复", "public": True})
    assert reply.status_code == 201 and reply.get_json()["public"] is True

    listed = grid1.get(url).get_json()
    assert [(c["id"], c["author"], c["public"]) for c in listed] == [
        (note["id"], "grid1", False),
        (reply.get_json()["id"], "leader1", True),
    ]
    events = grid1.get(f"{CASES}/{case_id}/events").get_json()
    added = [e for e in events if e["type"] == "comment.added"]
    assert [e["actor"] for e in added] == ["grid1", "leader1"]
    assert added[0]["data"] == {
        "comment": {"id": note["id"], "body": "已电话联系居民，明早上门", "public": False}
    }
    assert added[1]["data"]["comment"]["public"] is True and added[1]["seq"] == events[-1]["seq"]
    verify = grid1.get(f"{CASES}/{case_id}/events/verify").get_json()
    assert verify == {"ok": True, "events": len(events), "broken_at": None}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"body"}),
        ({"body": ""}, {"body"}),
        ({"body": " \n\t "}, {"body"}),
        ({"body": "长" * 5001}, {"body"}),
        ({"body": None}, {"body"}),
        ({"body": "ok", "public": "maybe"}, {"public"}),
    ],
)
def test_bad_comments_are_refused_naming_the_field(
    client: FlaskClient, body: dict, fields: set[str]
) -> None:
    grid1 = as_user(client, "grid1")
    case_id = open_case(grid1)["id"]
    before = event_count()
    answer = problem(grid1.post(f"{CASES}/{case_id}/comments", json=body), 422)
    assert set(answer["errors"]) == fields
    assert event_count() == before and _comments() == []


def test_the_longest_comment_allowed_is_kept_whole(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    case_id = open_case(grid1)["id"]
    response = grid1.post(f"{CASES}/{case_id}/comments", json={"body": "长" * 5000})
    assert response.status_code == 201 and len(_comments()[0].body) == 5000


def test_only_users_of_the_case_unit_write_and_auditors_only_read(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    case_id = open_case(grid1)["id"]
    url = f"{CASES}/{case_id}/comments"
    assert grid1.post(url, json={"body": "内部备注"}).status_code == 201
    before = event_count()
    for outsider in ("grid2", "dept_city", "volunteer1"):  # not their unit: the case is hidden
        problem(as_user(client, outsider).get(url), 404)
        problem(as_user(client, outsider).post(url, json={"body": "x"}), 404)
    auditor = as_user(client, "auditor")
    assert [c["body"] for c in auditor.get(url).get_json()] == ["内部备注"]
    problem(auditor.post(url, json={"body": "审计意见"}), 403)
    problem(grid1.post(f"{CASES}/999999/comments", json={"body": "x"}), 404)
    problem(grid1.get(f"{CASES}/999999/comments"), 404)
    assert event_count() == before and len(_comments()) == 1
    for caseworker in ("building1", "staff1", "dispatcher", "admin"):
        response = as_user(client, caseworker).post(url, json={"body": f"{caseworker} 跟进"})
        assert response.status_code == 201, (caseworker, response.get_json())
    authors = [c.author for c in _comments()]
    assert authors == ["grid1", "building1", "staff1", "dispatcher", "admin"]


def test_a_closed_case_still_takes_a_note(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    case_id = open_case(grid1)["id"]
    closed = grid1.post(f"{CASES}/{case_id}/withdraw", json={"reason": "已自行解决"}).get_json()
    assert closed["closed_at"]
    response = grid1.post(f"{CASES}/{case_id}/comments", json={"body": "回访：居民确认已解决"})
    assert response.status_code == 201
    events = grid1.get(f"{CASES}/{case_id}/events").get_json()
    assert [e["type"] for e in events[-2:]] == ["message.received", "comment.added"]
    case = grid1.get(f"{CASES}/{case_id}").get_json()
    assert case["status"] == closed["status"] and case["closed_at"] == closed["closed_at"]
    assert grid1.get(f"{CASES}/{case_id}/events/verify").get_json()["ok"] is True
