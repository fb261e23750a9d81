"""委派 delegation over HTTP: the owner lends a task, the delegate resolves, the owner completes."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core import delegation, uow
from app.core.models import HumanTask
from app.extensions import db
from app.orgs.models import User
from tests.app.api.support import Caller, add_user, as_user, event_count, open_case, problem
from tests.app.core.test_uow import _race

TASKS = "/api/v1/tasks"


@pytest.fixture
def client(app: Flask, org: dict, clock) -> FlaskClient:
    from tests.app.api.support import prepare

    client = prepare(app)
    add_user("grid1b", "grid_worker", "G-01")
    return client


@pytest.fixture
def task_id(client: FlaskClient) -> str:
    """grid1's claimed 办理 task in G-01."""
    grid1 = as_user(client, "grid1")
    task = open_case(grid1)["tasks"][0]["id"]
    assert grid1.post(f"{TASKS}/{task}/claim").status_code == 200
    return str(task)


def _delegate(caller: Caller, task_id: str, username: str, **body: str):
    return caller.post(f"{TASKS}/{task_id}/delegate", json={"username": username, **body})


def _task(task_id: str) -> HumanTask:
    db.session.rollback()  # a fresh snapshot
    task = db.session.get(HumanTask, task_id)
    assert task is not None
    return task


def _user(username: str) -> User:
    user = db.session.scalar(db.select(User).where(User.username == username))
    assert user is not None
    return user


def test_delegate_resolve_complete_walk(client: FlaskClient, task_id: str) -> None:
    grid1, grid1b = as_user(client, "grid1"), as_user(client, "grid1b")
    lent = _delegate(grid1, task_id, "grid1b", note="我下午开会, 请帮忙上门")
    assert lent.status_code == 200
    assert (lent.get_json()["assignee"], lent.get_json()["owner"]) == ("grid1b", "grid1")
    # the delegate finds it in "mine"; the owner still sees it, with the owner named
    mine = grid1b.get(f"{TASKS}?scope=mine").get_json()["items"]
    assert [(t["id"], t["owner"]) for t in mine] == [(task_id, "grid1")]
    assert grid1.get(f"{TASKS}?scope=mine").get_json()["total"] == 0
    detail = grid1.get(f"{TASKS}/{task_id}").get_json()
    assert (detail["assignee"], detail["owner"]) == ("grid1b", "grid1")
    # the delegate does the work but does not complete: resolve first (Flowable's rule)
    problem(grid1b.post(f"{TASKS}/{task_id}/complete", json={"data": {"result": "x"}}), 409)
    problem(grid1.post(f"{TASKS}/{task_id}/complete", json={"data": {"result": "x"}}), 409)
    back = grid1b.post(f"{TASKS}/{task_id}/resolve", json={"note": "已上门, 灯已换"})
    assert back.status_code == 200
    assert (back.get_json()["assignee"], back.get_json()["owner"]) == ("grid1", None)
    assert grid1b.get(f"{TASKS}?scope=mine").get_json()["total"] == 0
    done = grid1.post(f"{TASKS}/{task_id}/complete", json={"data": {"result": "换了灯泡"}})
    assert done.status_code == 200
    case_id = done.get_json()["id"]
    trail = grid1.get(f"/api/v1/cases/{case_id}/events").get_json()
    assert [(e["type"], e["actor"]) for e in trail] == [
        ("case.opened", "grid1"),
        ("task.claimed", "grid1"),
        (delegation.DELEGATED, "grid1"),
        (delegation.RESOLVED, "grid1b"),
        ("task.completed", "grid1"),
    ]
    assert trail[2]["data"]["assignee"] == ["grid1", "grid1b"]
    assert trail[2]["data"]["note"] == "我下午开会, 请帮忙上门"
    assert trail[3]["data"]["assignee"] == ["grid1b", "grid1"]
    assert grid1.get(f"/api/v1/cases/{case_id}/events/verify").get_json()["ok"] is True


def test_a_holder_from_a_unit_above_may_be_the_delegate(client: FlaskClient, task_id: str) -> None:
    add_user("roving", "grid_worker", "C-01", include_below=True)
    lent = _delegate(as_user(client, "grid1"), task_id, "roving")
    assert lent.status_code == 200 and lent.get_json()["assignee"] == "roving"


@pytest.mark.parametrize(
    "username",
    [
        "nobody",  # no such user
        "grid2",  # the role, but in another grid
        "leader1",  # the unit, but not the role
        "grid1",  # yourself
    ],
)
def test_a_delegate_who_cannot_hold_the_task_is_422(
    client: FlaskClient, task_id: str, username: str
) -> None:
    before = event_count()
    body = problem(_delegate(as_user(client, "grid1"), task_id, username), 422)
    assert set(body["errors"]) == {"username"}
    assert event_count() == before
    assert (_task(task_id).assignee.username, _task(task_id).owner_id) == ("grid1", None)


def test_bad_bodies_are_422_naming_the_field(client: FlaskClient, task_id: str) -> None:
    grid1 = as_user(client, "grid1")
    assert set(problem(grid1.post(f"{TASKS}/{task_id}/delegate"), 422)["errors"]) == {"username"}
    long_note = _delegate(grid1, task_id, "grid1b", note="长" * 2001)
    assert set(problem(long_note, 422)["errors"]) == {"note"}


def test_only_the_assignee_delegates_and_only_the_delegate_resolves(
    client: FlaskClient, task_id: str
) -> None:
    grid1, grid1b = as_user(client, "grid1"), as_user(client, "grid1b")
    leader = as_user(client, "leader1")
    before = event_count()
    problem(_delegate(grid1b, task_id, "grid1b"), 403)  # not the assignee
    problem(_delegate(leader, task_id, "grid1b"), 403)  # sees it, but not their role
    problem(as_user(client, "auditor").post(f"{TASKS}/{task_id}/resolve"), 403)
    problem(_delegate(as_user(client, "grid2"), task_id, "grid1b"), 404)  # cannot see it
    assert event_count() == before
    assert _delegate(grid1, task_id, "grid1b").status_code == 200
    problem(grid1.post(f"{TASKS}/{task_id}/resolve"), 403)  # the owner does not resolve
    problem(leader.post(f"{TASKS}/{task_id}/resolve"), 403)
    assert _task(task_id).assignee.username == "grid1b"


def test_state_that_does_not_allow_it_is_409(client: FlaskClient, task_id: str) -> None:
    grid1, grid1b = as_user(client, "grid1"), as_user(client, "grid1b")
    unclaimed = open_case(grid1)["tasks"][0]["id"]
    problem(_delegate(grid1, unclaimed, "grid1b"), 409)  # claim it first
    problem(grid1.post(f"{TASKS}/{task_id}/resolve"), 409)  # not delegated
    assert _delegate(grid1, task_id, "grid1b").status_code == 200
    problem(_delegate(grid1, task_id, "grid1b"), 409)  # already delegated
    add_user("grid1c", "grid_worker", "G-01")
    problem(_delegate(grid1b, task_id, "grid1c"), 409)  # the delegate cannot pass it on
    problem(grid1b.post(f"{TASKS}/{task_id}/unclaim"), 409)  # resolve gives it back
    problem(grid1.post(f"{TASKS}/{task_id}/claim"), 409)
    assert grid1b.post(f"{TASKS}/{task_id}/resolve").status_code == 200
    problem(grid1b.post(f"{TASKS}/{task_id}/resolve"), 409)  # not any more
    grid1.post(f"{TASKS}/{task_id}/complete", json={"data": {"result": "ok"}})
    problem(_delegate(grid1, task_id, "grid1b"), 409)  # completed


def test_a_dispatchers_assign_or_an_admins_release_ends_the_delegation(
    client: FlaskClient, task_id: str
) -> None:
    grid1, leader = as_user(client, "grid1"), as_user(client, "leader1")
    admin = as_user(client, "admin")
    assert _delegate(grid1, task_id, "grid1b").status_code == 200
    moved = leader.post(f"{TASKS}/{task_id}/assign", json={"username": "grid1"})
    assert (moved.get_json()["assignee"], moved.get_json()["owner"]) == ("grid1", None)
    # grid1 is a plain assignee again, free to delegate anew
    assert _delegate(grid1, task_id, "grid1b").status_code == 200
    released = admin.post(f"{TASKS}/{task_id}/unclaim")
    assert (released.get_json()["assignee"], released.get_json()["owner"]) == (None, None)
    assert as_user(client, "grid1b").get(f"{TASKS}?scope=group").get_json()["total"] == 1
    case_id = _task(task_id).case_id
    trail = grid1.get(f"/api/v1/cases/{case_id}/events").get_json()
    assert [(e["type"], e["data"].get("owner")) for e in trail[-4:]] == [
        (delegation.DELEGATED, "grid1"),
        ("task.assigned", ["grid1", None]),
        (delegation.DELEGATED, "grid1"),
        ("task.unclaimed", ["grid1", None]),
    ]
    assert grid1.post(f"{TASKS}/{task_id}/claim").status_code == 200
    done = grid1.post(f"{TASKS}/{task_id}/complete", json={"data": {"result": "ok"}})
    assert done.status_code == 200


def test_racing_delegations_one_wins_one_conflicts(
    app: Flask, client: FlaskClient, task_id: str
) -> None:
    add_user("grid1c", "grid_worker", "G-01")
    owner = _user("grid1").id

    def lend(to: str):
        def work() -> str:
            task = delegation.delegate_task(
                task_id=task_id,
                owner=db.session.get(User, owner),
                delegate=_user(to),
                note="",
                actor="grid1",
            )
            return task.assignee.username

        return work

    before = event_count()
    results = _race(app, lend("grid1b"), lend("grid1c"))
    assert results[0] == "grid1b"
    assert isinstance(results[1], uow.Conflict)
    assert event_count() == before + 1
    task = _task(task_id)
    assert (task.assignee.username, task.owner.username) == ("grid1b", "grid1")
