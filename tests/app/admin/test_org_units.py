"""Org units over the API (issue #5): the tree as a list, new units under the right kind of
parent, renames, and moves that carry their whole subtree and change who sees what."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.orgs.models import OrgUnit
from tests.app.admin.support import (
    NEW_PASSWORD,
    UNITS,
    USERS,
    admin_events,
    callers,
    counts,
    patch,
)
from tests.app.api.support import Caller, as_user, open_case, prepare, problem

TASKS = "/api/v1/tasks"


@pytest.fixture
def client(app: Flask, org: dict, clock: Any) -> FlaskClient:
    return prepare(app)


def _paths() -> dict[str, OrgUnit]:
    db.session.rollback()  # a fresh snapshot
    return {u.code: u for u in db.session.scalars(db.select(OrgUnit))}


def _assert_tree_consistent() -> None:
    """Every unit's path is its parent's path plus its own id."""
    units = _paths()
    by_id = {u.id: u for u in units.values()}
    for unit in units.values():
        parent = by_id.get(unit.parent_id) if unit.parent_id else None
        assert unit.path == f"{parent.path if parent else '/'}{unit.id}/", unit.code


def _group(caller: Caller) -> set[str]:
    return {t["id"] for t in caller.get(f"{TASKS}?scope=group").get_json()["items"]}


def test_the_tree_lists_depth_first_for_admins_and_auditors(client: FlaskClient) -> None:
    who = callers(client)
    units = _paths()
    for name in ("admin", "auditor"):
        listed = who[name].get(UNITS).get_json()
        assert {u["code"] for u in listed} == set(units)
        seen: set[str] = set()
        for item in listed:
            unit = units[item["code"]]
            parent = next((u for u in units.values() if u.id == unit.parent_id), None)
            assert item["parent"] == (parent.code if parent else None)
            assert item["depth"] == unit.path.count("/") - 2 == len(item["ancestors"])
            assert item["parent"] is None or item["parent"] in seen  # parents come first
            seen.add(item["code"])
    grids = who["auditor"].get(f"{UNITS}?kind=grid").get_json()
    assert [u["code"] for u in grids] == sorted(c for c, u in units.items() if u.kind == "grid")
    under = who["admin"].get(f"{UNITS}?under=C-02").get_json()
    assert {u["code"] for u in under} == {
        c for c, u in units.items() if u.path.startswith(units["C-02"].path)
    }
    assert who["admin"].get(f"{UNITS}/G-01").get_json()["ancestors"] == ["D-01", "S-01", "C-01"]
    assert problem(who["admin"].get(f"{UNITS}?under=X-1"), 422)["errors"].keys() == {"under"}
    problem(who["admin"].get(f"{UNITS}/X-1"), 404)
    problem(who["grid1"].get(UNITS), 403)
    problem(who["grid1"].get(f"{UNITS}/G-01"), 403)


def test_admin_creates_units_under_the_right_kind_of_parent(client: FlaskClient) -> None:
    admin = as_user(client, "admin")
    grid = admin.post(
        UNITS, json={"code": "G-05", "name": "第5网格", "kind": "grid", "parent": "C-02"}
    )
    assert grid.status_code == 201, grid.get_json()
    assert grid.get_json() == {
        "code": "G-05",
        "name": "第5网格",
        "kind": "grid",
        "parent": "C-02",
        "depth": 3,
        "ancestors": ["D-01", "S-01", "C-02"],
    }
    building = {"code": "B-05-1", "name": "5-1号楼", "kind": "building", "parent": "G-05"}
    assert admin.post(UNITS, json=building).status_code == 201
    assert (
        admin.post(UNITS, json={"code": "D-02", "name": "新区", "kind": "district"}).status_code
        == 201
    )
    _assert_tree_consistent()
    assert [(e.type, e.data["code"], e.data["parent"]) for e in admin_events()] == [
        ("org_unit.created", "G-05", "C-02"),
        ("org_unit.created", "B-05-1", "G-05"),
        ("org_unit.created", "D-02", None),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "grid", "parent": "S-01"}, "parent"),  # a grid hangs from a community
        ({"kind": "grid", "parent": "C-99"}, "parent"),
        ({"kind": "grid", "parent": None}, "parent"),
        ({"kind": "district", "parent": "S-01"}, "parent"),
        ({"kind": "department", "parent": "C-01"}, "parent"),
        ({"code": "G-01"}, "code"),
        ({"code": "G 05"}, "code"),
        ({"kind": "compound"}, "kind"),
        ({"name": "  "}, "name"),
        ({"path": "/1/"}, "path"),
    ],
)
def test_bad_units_are_a_422_naming_the_field_and_write_nothing(
    client: FlaskClient, body: dict[str, Any], field: str
) -> None:
    admin = as_user(client, "admin")
    before = counts()
    full = {"code": "G-05", "name": "第5网格", "kind": "grid", "parent": "C-02", **body}
    answer = problem(admin.post(UNITS, json=full), 422)
    assert field in answer["errors"], answer
    assert counts() == before


def test_only_admins_write_units(client: FlaskClient) -> None:
    who = callers(client)
    before = counts()
    body = {"code": "G-05", "name": "第5网格", "kind": "grid", "parent": "C-02"}
    for name in ("auditor", "grid1"):
        problem(who[name].post(UNITS, json=body), 403)
        problem(patch(who[name], f"{UNITS}/G-01", {"name": "改名"}), 403)
    assert counts() == before


def test_rename_logs_before_and_after(client: FlaskClient) -> None:
    admin = as_user(client, "admin")
    renamed = patch(admin, f"{UNITS}/C-01", {"name": "幸福社区"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "幸福社区"
    assert patch(admin, f"{UNITS}/C-01", {"name": "幸福社区"}).status_code == 200
    [event] = admin_events()
    assert event.type == "org_unit.updated" and event.data["name"]["after"] == "幸福社区"
    problem(patch(admin, f"{UNITS}/X-1", {"name": "无"}), 404)


@pytest.mark.parametrize(
    ("code", "parent", "words"),
    [
        ("C-01", "G-01", "cycle"),  # into its own subtree
        ("C-01", "C-01", "cycle"),
        ("G-01", "S-01", "community"),  # a grid's parent is a community
        ("G-01", None, "community"),
        ("D-01", "S-01", "cycle"),
        ("S-01", "X-1", "unknown"),
    ],
)
def test_a_bad_move_is_a_422_naming_parent_and_moves_nothing(
    client: FlaskClient, code: str, parent: str | None, words: str
) -> None:
    admin = as_user(client, "admin")
    before, paths = counts(), {c: u.path for c, u in _paths().items()}
    body = problem(patch(admin, f"{UNITS}/{code}", {"parent": parent, "name": "新名"}), 422)
    assert list(body["errors"]) == ["parent"] and words in body["errors"]["parent"][0]
    assert counts() == before
    assert {c: u.path for c, u in _paths().items()} == paths
    assert _paths()[code].name != "新名"


def test_moving_a_grid_carries_its_subtree_and_changes_who_sees_its_tasks(
    client: FlaskClient,
) -> None:
    admin = as_user(client, "admin")
    # a 百通岗 worker of community C-01 who also takes grid work anywhere in it
    baitong = {
        "username": "baitong1",
        "display_name": "百通岗 钱多",
        "password": NEW_PASSWORD,
        "roles": [
            {"role": "community_staff", "org_unit": "C-01", "include_below": True},
            {"role": "grid_worker", "org_unit": "C-01", "include_below": True},
        ],
    }
    assert admin.post(USERS, json=baitong).status_code == 201
    worker, staff1 = as_user(client, "baitong1"), as_user(client, "staff1")
    case = open_case(as_user(client, "dispatcher"), org_unit="G-03")
    [handle] = case["tasks"]
    assert (handle["role"], handle["org_unit"]) == ("grid_worker", "G-03")
    assert handle["id"] not in _group(worker)
    problem(staff1.get(f"/api/v1/cases/{case['id']}"), 404)

    moved = patch(admin, f"{UNITS}/G-03", {"parent": "C-01"})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["ancestors"] == ["D-01", "S-01", "C-01"]
    units = _paths()
    assert units["G-03"].path == f"{units['C-01'].path}{units['G-03'].id}/"
    for building in ("B-03-1", "B-03-2"):
        assert units[building].path == f"{units['G-03'].path}{units[building].id}/"
    _assert_tree_consistent()
    assert handle["id"] in _group(worker)
    assert staff1.get(f"/api/v1/cases/{case['id']}").status_code == 200

    assert patch(admin, f"{UNITS}/G-03", {"parent": "C-02"}).status_code == 200
    assert handle["id"] not in _group(worker)
    problem(staff1.get(f"/api/v1/cases/{case['id']}"), 404)
    assert _paths()["B-03-1"].path.startswith(_paths()["C-02"].path)

    assert patch(admin, f"{UNITS}/G-03", {"parent": "C-01"}).status_code == 200
    assert worker.post(f"{TASKS}/{handle['id']}/claim").status_code == 200
    done = worker.post(f"{TASKS}/{handle['id']}/complete", json={"data": {"result": "已处理"}})
    assert done.status_code == 200, done.get_json()
    [review] = done.get_json()["tasks"]
    # the next task goes up the new tree: to C-01's leader, not C-02's
    assert (review["role"], review["org_unit"]) == ("community_leader", "C-01")
    assert review["id"] in _group(as_user(client, "leader1"))
    moves = [e.data for e in admin_events() if e.type == "org_unit.updated"]
    assert [(m["parent"]["after"], m["moved"]) for m in moves] == [
        ("C-01", 3),
        ("C-02", 3),
        ("C-01", 3),
    ]


def test_moving_a_community_to_another_street_leaves_the_old_dispatcher(
    client: FlaskClient,
) -> None:
    admin, dispatcher = as_user(client, "admin"), as_user(client, "dispatcher")
    case = open_case(dispatcher, org_unit="G-03")
    street = {"code": "S-02", "name": "光明街道", "kind": "street", "parent": "D-01"}
    assert admin.post(UNITS, json=street).status_code == 201
    moved = patch(admin, f"{UNITS}/C-02", {"parent": "S-02"})
    assert moved.status_code == 200
    units = _paths()
    below = [c for c, u in units.items() if u.path.startswith(units["C-02"].path)]
    assert sorted(below) == ["B-03-1", "B-03-2", "B-04-1", "B-04-2", "C-02", "G-03", "G-04"]
    assert all(units[c].path.startswith(units["S-02"].path) for c in below)
    assert admin_events()[-1].data["moved"] == len(below)
    problem(dispatcher.get(f"/api/v1/cases/{case['id']}"), 404)
    assert as_user(client, "auditor").get(f"/api/v1/cases/{case['id']}").status_code == 200
