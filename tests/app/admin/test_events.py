"""The admin audit log (管理日志): every admin change in one hash chain that verifies, pages,
and names the first row an edit or a deletion broke."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, update

from app.admin.models import AdminEvent
from app.database import write_transaction
from tests.app.admin.support import EVENTS, UNITS, USERS, admin_events, callers, patch, put
from tests.app.api.support import Caller, as_user, problem

VERIFY = f"{EVENTS}/verify"


@pytest.fixture
def client(app: Flask, org: dict, clock: Any) -> FlaskClient:
    return app.test_client()


def _changes(admin: Caller, clock: Any) -> None:
    """Five admin changes, a minute apart."""
    body = {"code": "G-05", "name": "第5网格", "kind": "grid", "parent": "C-02"}
    for response in (
        lambda: admin.post(UNITS, json=body),
        lambda: patch(admin, f"{UNITS}/G-05", {"name": "第五网格"}),
        lambda: patch(admin, f"{UNITS}/G-05", {"parent": "C-01"}),
        lambda: put(
            admin, f"{USERS}/grid2/roles", {"roles": [{"role": "grid_worker", "org_unit": "G-05"}]}
        ),
        lambda: patch(admin, f"{USERS}/grid2", {"active": False}),
    ):
        answer = response()
        assert answer.status_code in (200, 201), answer.get_json()
        clock.advance(timedelta(minutes=1))


def _tamper(statement: Any) -> None:
    with write_transaction() as session:
        session.execute(statement)


def test_admin_changes_chain_up_and_page_oldest_first(client: FlaskClient, clock: Any) -> None:
    who = callers(client)
    _changes(who["admin"], clock)
    for name in ("admin", "auditor"):
        assert who[name].get(VERIFY).get_json() == {"ok": True, "events": 5, "broken_at": None}
    items, url = [], f"{EVENTS}?limit=2"
    while url:
        page = who["auditor"].get(url).get_json()
        items += page["items"]
        url = f"{EVENTS}?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert [e["seq"] for e in items] == [1, 2, 3, 4, 5]
    assert [e["type"] for e in items] == [
        "org_unit.created",
        "org_unit.updated",
        "org_unit.updated",
        "user.roles_replaced",
        "user.updated",
    ]
    assert {e["actor"] for e in items} == {"admin"}
    assert all(b["prev_hash"] == a["hash"] for a, b in pairwise(items))
    assert items[1]["at"] < items[2]["at"]
    problem(who["grid1"].get(EVENTS), 403)
    problem(who["grid1"].get(VERIFY), 403)
    problem(who["admin"].get(f"{EVENTS}?cursor=WyJ4Il0"), 422)  # ["x"]


def test_an_empty_log_verifies(client: FlaskClient) -> None:
    assert as_user(client, "admin").get(VERIFY).get_json() == {
        "ok": True,
        "events": 0,
        "broken_at": None,
    }


@pytest.mark.parametrize(
    ("statement", "broken_at"),
    [
        (update(AdminEvent).where(AdminEvent.seq == 3).values(actor="grid1"), 3),
        (update(AdminEvent).where(AdminEvent.seq == 2).values(data={"code": "G-06"}), 2),
        (delete(AdminEvent).where(AdminEvent.seq == 4), 4),
        (delete(AdminEvent).where(AdminEvent.seq == 5), 5),  # cut off the end
        (update(AdminEvent).where(AdminEvent.seq == 1).values(prev_hash="f" * 64), 1),
    ],
)
def test_verification_names_the_tampered_row(
    client: FlaskClient, clock: Any, statement: Any, broken_at: int
) -> None:
    admin = as_user(client, "admin")
    _changes(admin, clock)
    _tamper(statement)
    answer = as_user(client, "auditor").get(VERIFY).get_json()
    assert answer["ok"] is False and answer["broken_at"] == broken_at
    assert answer["events"] == len(admin_events())
