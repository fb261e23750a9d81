"""Residents (no login): follow a case by tracking code, rate the 回访 follow-up.

The cases run the shipped resident_request process (and mediation, which has no revisit) on
both databases, with the clock moved by hand.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.core import hashchain
from app.core.models import CaseComment, CaseEvent, HumanTask
from app.database import write_transaction
from app.extensions import db
from tests.app.api.support import event_count, problem
from tests.app.residents.support import advance_to, case_row, last_event, shipped_world
from tests.bpmn.rr import IMMEDIATE, REVIEW_OK, accept, dispatch, intake
from tests.bpmn.scenario import Scenario, World, bj

TRACK = "/api/v1/track/"
NAME, PHONE, ADDRESS = "欧阳娜娜", "13912345678", "幸福路88号3单元402"
TITLE = f"{NAME}家楼道灯坏了"
DESCRIPTION = f"楼道灯不亮, 联系电话 {PHONE}"
INTERNAL = f"内部备注: 户主{NAME}脾气急"
PUBLIC = "已安排网格员今天上门更换灯泡"
PUBLIC_FIELDS = {
    "tracking_code", "status", "stage", "mode", "category", "category_label", "request_type",
    "opened_at", "due_at", "closed_at", "sla_state", "notes", "rating_open",
}  # fmt: skip


@pytest.fixture
def world(org: dict, clock: Any, request: pytest.FixtureRequest) -> World:
    return shipped_world(clock, request.node.nodeid)


@pytest.fixture
def client(app: Flask, world: World) -> FlaskClient:
    return app.test_client()


def _open(world: World) -> Scenario:
    return world.open(
        intake=intake(
            title=TITLE,
            description=DESCRIPTION,
            address=ADDRESS,
            reporter={"name": NAME, "phone": PHONE},
            resident={"age": 87, "mobility": "limited"},
        )
    )


def _to_revisit(world: World) -> Scenario:
    """即办 handled and approved on Monday 09:30; the 回访 opens Tuesday 09:30."""
    s = _open(world)
    s.complete("accept", as_="staff1", data=accept(on_spot=True))
    s.complete("dispatch", as_="staff1", data=dispatch("immediate"))
    s.complete("immediate_handle", as_="grid1", data=IMMEDIATE)
    s.complete("review", as_="leader1", data=REVIEW_OK)
    advance_to(s.clock, bj(3, 4, 9, 31))
    s.expect_open("revisit")
    return s


def _comment(case_id: int, body: str, *, public: bool) -> None:
    """A caseworker's note (the comments endpoint is tested with its own package)."""
    with write_transaction() as session:
        session.add(
            CaseComment(
                case_id=case_id,
                author="staff1",
                body=body,
                public=public,
                created_at=case_row(case_id).opened_at,
            )
        )


def _code(s: Scenario) -> str:
    return s.case.tracking_code


def _rate(client: FlaskClient, code: str, **body: Any) -> TestResponse:
    return client.post(f"{TRACK}{code}/rating", json=body)


# -- tracking ---------------------------------------------------------------------------------
def test_tracking_shows_progress_and_public_notes_but_no_personal_data(
    client: FlaskClient, world: World
) -> None:
    s = _open(world)
    _comment(s.case_id, INTERNAL, public=False)
    _comment(s.case_id, PUBLIC, public=True)
    s.complete("accept", as_="staff1", data=accept(on_spot=True))
    response = client.get(TRACK + _code(s).lower())  # read aloud, typed in lower case
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == PUBLIC_FIELDS
    assert (body["status"], body["stage"], body["mode"]) == ("open", "dispatch", "immediate")
    assert (body["category"], body["category_label"]) == ("0402", "公用设施 井盖 Manhole cover")
    assert body["notes"] == [{"body": PUBLIC, "created_at": "2025-03-03T01:30:00+00:00"}]
    assert body["rating_open"] is False and body["closed_at"] is None
    text = response.get_data(as_text=True)
    for secret in (NAME, PHONE, ADDRESS, TITLE, DESCRIPTION, INTERNAL, "staff1", "陈静"):
        assert secret not in text, secret


def test_an_unknown_code_is_the_same_404_whatever_the_reason(
    client: FlaskClient, world: World
) -> None:
    real = _code(_open(world))
    near = ("A" if real[0] != "A" else "B") + real[1:]
    bodies = []
    for code in (near, "ZZZZZZZZZZ", "abc!!", "x" * 300, real + "X"):
        bodies.append(problem(client.get(TRACK + code), 404))
        bodies.append(problem(_rate(client, code, satisfaction="satisfied"), 404))
    assert all(b == bodies[0] for b in bodies)
    assert "tracking code" in bodies[0]["detail"]


def test_repeated_misses_from_one_address_are_slowed_down(
    app: Flask, client: FlaskClient, world: World, clock: Any
) -> None:
    app.config["TRACK_ADDR_FREE"] = 2
    real = _code(_open(world))
    for n in range(3):
        problem(client.get(TRACK + f"NOPE{n}"), 404)
    blocked = problem(client.get(TRACK + real), 429)  # even the right code, for a while
    wait = int(blocked["retry_after"])
    assert wait > 0
    assert client.get(TRACK + real).headers["Retry-After"] == str(wait)
    other = {"REMOTE_ADDR": "10.0.0.9"}
    assert client.get(TRACK + real, environ_base=other).status_code == 200
    clock.advance(timedelta(seconds=wait))
    assert client.get(TRACK + real).status_code == 200


# -- rating -----------------------------------------------------------------------------------
def test_a_rating_completes_the_revisit_and_the_case_closes(
    client: FlaskClient, world: World
) -> None:
    s = _open(world)
    code = _code(s)
    before = event_count()
    problem(_rate(client, code, satisfaction="satisfied"), 409)  # nothing to rate yet
    assert event_count() == before
    s.complete("accept", as_="staff1", data=accept(on_spot=True))
    s.complete("dispatch", as_="staff1", data=dispatch("immediate"))
    s.complete("immediate_handle", as_="grid1", data=IMMEDIATE)
    s.complete("review", as_="leader1", data=REVIEW_OK)
    assert client.get(TRACK + code).get_json()["rating_open"] is False  # waiting a day
    advance_to(s.clock, bj(3, 4, 10, 0))
    assert client.get(TRACK + code).get_json()["rating_open"] is True

    response = _rate(client, code, satisfaction="satisfied", comment="谢谢, 灯已经亮了")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["stage"], body["rating_open"]) == ("closed", "closed", False)
    assert body["closed_at"] == "2025-03-04T02:00:00+00:00"
    event = last_event(s.case_id)
    assert (event.type, event.actor) == ("task.completed", f"resident:{code}")
    assert event.data["task"]["bpmn_id"] == "revisit"
    assert event.data["input"] == {
        "revisit_method": "online",
        "resolved": True,
        "satisfaction": "satisfied",
        "revisit_note": "谢谢, 灯已经亮了",
    }
    assert event.data["ended_at"] == "end_closed"
    task = db.session.scalars(
        db.select(HumanTask).where(HumanTask.case_id == s.case_id, HumanTask.bpmn_id == "revisit")
    ).one()
    assert (task.status, task.completed_by) == ("completed", f"resident:{code}")
    trail = db.session.scalars(
        db.select(CaseEvent).where(CaseEvent.case_id == s.case_id).order_by(CaseEvent.seq)
    ).all()
    assert hashchain.first_broken(list(trail)) is None
    problem(_rate(client, code, satisfaction="satisfied"), 409)  # rated once only


def test_unsatisfied_reopens_the_case_once(client: FlaskClient, world: World) -> None:
    s = _to_revisit(world)
    code = _code(s)
    before = event_count()
    body = problem(_rate(client, code, satisfaction="unsatisfied"), 422)
    assert set(body["errors"]) == {"comment"}  # say what is still wrong
    assert event_count() == before
    response = _rate(client, code, satisfaction="unsatisfied", comment="灯还是不亮")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["stage"], body["rating_open"]) == ("open", "supervise", False)
    s.expect_open("immediate_handle")  # 重办: a new handling pass
    assert last_event(s.case_id).data["input"]["unsatisfied_reason"] == "灯还是不亮"
    assert last_event(s.case_id).data["input"]["resolved"] is False

    s.complete("immediate_handle", as_="grid1", data=IMMEDIATE)
    s.complete("review", as_="leader1", data=REVIEW_OK)
    advance_to(s.clock, bj(3, 5, 10, 0))
    assert client.get(TRACK + code).get_json()["rating_open"] is True
    response = _rate(client, code, satisfaction="unsatisfied", comment="还是不满意")
    assert response.status_code == 200
    assert response.get_json()["status"] == "closed"  # reopened once only: now it closes
    s.expect_open()


def test_a_bad_rating_is_refused_field_by_field_and_nothing_is_written(
    client: FlaskClient, world: World
) -> None:
    s = _to_revisit(world)
    code = _code(s)
    before = event_count()
    for body, field in (
        ({"satisfaction": "great"}, "satisfaction"),
        ({}, "satisfaction"),
        ({"satisfaction": "满意"}, "satisfaction"),
        ({"satisfaction": "satisfied", "resolved": "maybe"}, "resolved"),
        ({"satisfaction": "satisfied", "comment": "x" * 2001}, "comment"),
    ):
        assert field in problem(_rate(client, code, **body), 422)["errors"], body
    assert event_count() == before
    s.expect_open("revisit")
    assert client.get(TRACK + code).get_json()["rating_open"] is True


def test_only_a_resident_request_follow_up_can_be_rated(client: FlaskClient, world: World) -> None:
    """Mediation's 调解回访 is a caseworker's visit: not the resident's rating form."""
    s = world.open(
        intake={**intake(), "category": "0801", "channel": "building_head"},
        as_="building1",
        process="mediation",
    )
    s.complete(
        "mediate_building",
        as_="building1",
        data={
            "mediation_result": "resolved",
            "mediation_note": "调解",
            "agreement_summary": "和解",
        },
    )
    advance_to(s.clock, bj(3, 18, 10, 0))
    s.expect_open("follow_up")
    code = _code(s)
    assert client.get(TRACK + code).get_json()["rating_open"] is False
    before = event_count()
    problem(_rate(client, code, satisfaction="satisfied"), 409)
    assert event_count() == before
    s.expect_open("follow_up")
