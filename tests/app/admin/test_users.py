"""Users over the API (issue #5): who may read and write, validation that writes nothing,
token revocation on deactivation and a new password, role grants, the last-admin guard."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.admin import events, service
from app.auth.access import Forbidden
from app.orgs.demo import DEMO_PASSWORD, DEMO_USERS
from tests.app.admin.support import (
    NEW_PASSWORD,
    USERS,
    admin_events,
    callers,
    counts,
    patch,
    put,
)
from tests.app.api.support import Caller, as_user, login, problem


@pytest.fixture
def client(app: Flask, org: dict, clock: Any) -> FlaskClient:
    return app.test_client()


def _new_user(**overrides: Any) -> dict[str, Any]:
    return {
        "username": "grid5",
        "display_name": "网格员 钱多 Qian Duo",
        "password": NEW_PASSWORD,
        "roles": [{"role": "grid_worker", "org_unit": "G-04"}],
        **overrides,
    }


def _usernames(caller: Caller, query: str = "") -> list[str]:
    """Every username a listing returns, following the cursors."""
    names: list[str] = []
    url = f"{USERS}?limit=4{query}"
    while url:
        page = caller.get(url)
        assert page.status_code == 200, page.get_json()
        body = page.get_json()
        names += [u["username"] for u in body["items"]]
        cursor = body["next_cursor"]
        url = f"{USERS}?limit=4{query}&cursor={cursor}" if cursor else ""
    return names


def test_admin_creates_a_user_who_logs_in_with_their_roles(client: FlaskClient) -> None:
    admin = as_user(client, "admin")
    response = admin.post(USERS, json=_new_user())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["username"] == "grid5" and body["active"] is True
    assert body["roles"] == [{"role": "grid_worker", "org_unit": "G-04", "include_below": False}]
    assert "password" not in body and "password_hash" not in body
    assert NEW_PASSWORD not in response.get_data(as_text=True)
    assert "argon2" not in response.get_data(as_text=True)

    me = Caller(client, login(client, "grid5", NEW_PASSWORD)).get("/api/v1/me").get_json()
    assert me["roles"] == ["grid_worker"] and [u["code"] for u in me["org_units"]] == ["G-04"]
    [event] = admin_events()
    assert (event.type, event.actor, event.data["username"]) == ("user.created", "admin", "grid5")
    assert NEW_PASSWORD not in str(event.data) and "argon2" not in str(event.data)
    assert admin.get(f"{USERS}/grid5").get_json() == body


def test_admins_and_auditors_read_users_and_nobody_else_touches_them(
    client: FlaskClient,
) -> None:
    who = callers(client)
    for name in ("admin", "auditor"):
        listed = who[name].get(USERS).get_json()
        assert listed["total"] == len(DEMO_USERS)
        assert {u["username"] for u in listed["items"]} == {u[0] for u in DEMO_USERS}
        assert who[name].get(f"{USERS}/grid1").get_json()["roles"][0]["org_unit"] == "G-01"
    before = counts()
    for name in ("auditor", "grid1"):
        caller = who[name]
        if name == "grid1":
            problem(caller.get(USERS), 403)
            problem(caller.get(f"{USERS}/grid1"), 403)
        problem(caller.post(USERS, json=_new_user()), 403)
        problem(patch(caller, f"{USERS}/grid2", {"active": False}), 403)
        problem(put(caller, f"{USERS}/grid2/roles", {"roles": []}), 403)
    assert counts() == before
    problem(who["admin"].get(f"{USERS}/nobody"), 404)
    problem(patch(who["admin"], f"{USERS}/nobody", {"display_name": "x"}), 404)
    problem(put(who["admin"], f"{USERS}/nobody/roles", {"roles": []}), 404)


def test_listing_filters_by_unit_role_text_and_pages(client: FlaskClient, org: dict) -> None:
    admin = as_user(client, "admin")
    assert _usernames(admin) == sorted(u[0] for u in DEMO_USERS)
    units = org["units"]
    below_c01 = {c for c, u in units.items() if u.path.startswith(units["C-01"].path)}
    assert _usernames(admin, "&org_unit=C-01") == sorted(
        u[0] for u in DEMO_USERS if u[3] in below_c01
    )
    assert _usernames(admin, "&role=grid_worker") == sorted(
        u[0] for u in DEMO_USERS if u[2] == "grid_worker"
    )
    assert _usernames(admin, "&role=grid_worker&org_unit=G-02") == ["grid2"]
    assert _usernames(admin, "&q=王芳") == ["grid1"]
    assert _usernames(admin, "&q=DEPT_") == ["dept_city", "dept_housing"]
    assert _usernames(admin, "&active=false") == []
    assert problem(admin.get(f"{USERS}?org_unit=X-99"), 422)["errors"].keys() == {"org_unit"}
    assert problem(admin.get(f"{USERS}?role=mayor"), 422)["errors"].keys() == {"role"}
    assert problem(admin.get(f"{USERS}?cursor=bm9wZQ"), 422)["errors"].keys() == {"cursor"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"password": "short1234"}, "password"),
        ({"username": "zhang.san.long", "password": "Zhang.San.Long"}, "password"),
        ({"password": None}, "password"),
        ({"username": "张三"}, "username"),
        ({"username": "grid1"}, "username"),
        ({"display_name": "   "}, "display_name"),
        ({"roles": [{"role": "mayor", "org_unit": "G-04"}]}, "roles.0.role"),
        ({"roles": [{"role": "grid_worker", "org_unit": "G-99"}]}, "roles.0.org_unit"),
        (
            {"roles": [{"role": "grid_worker", "org_unit": "G-04"}] * 2},
            "roles.1",
        ),
        (
            {
                "roles": [
                    {"role": "admin", "org_unit": "S-01"},
                    {"role": "auditor", "org_unit": "S-01"},
                ]
            },
            "roles",
        ),
        ({"password_hash": "$argon2id$v=19$..."}, "password_hash"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
    client: FlaskClient, change: dict[str, Any], field: str
) -> None:
    admin = as_user(client, "admin")
    before = counts()
    body = problem(admin.post(USERS, json=_new_user(**change)), 422)
    assert field in body["errors"], body
    assert counts() == before


def test_deactivation_stops_every_token_at_once(client: FlaskClient) -> None:
    admin = as_user(client, "admin")
    grid1 = as_user(client, "grid1")
    other = as_user(client, "grid1")
    assert grid1.get("/api/v1/me").status_code == 200
    changed = patch(admin, f"{USERS}/grid1", {"active": False})
    assert changed.status_code == 200 and changed.get_json()["active"] is False
    for token in (grid1, other):
        problem(token.get("/api/v1/me"), 401)
    problem(
        client.post("/api/v1/auth/token", json={"username": "grid1", "password": DEMO_PASSWORD}),
        401,
    )
    assert _usernames(admin, "&active=false") == ["grid1"]
    [event] = admin_events()
    assert event.type == "user.updated"
    assert event.data["changes"]["active"] == {"before": True, "after": False}
    assert event.data["changes"]["tokens_revoked"] == 2

    assert patch(admin, f"{USERS}/grid1", {"active": True}).status_code == 200
    problem(grid1.get("/api/v1/me"), 401)  # revoked stays revoked
    assert Caller(client, login(client, "grid1")).get("/api/v1/me").status_code == 200


def test_a_new_password_revokes_tokens_and_replaces_the_old_one(client: FlaskClient) -> None:
    admin, grid1 = as_user(client, "admin"), as_user(client, "grid1")
    before = counts()
    body = problem(patch(admin, f"{USERS}/grid1", {"password": "grid1"}), 422)
    assert list(body["errors"]) == ["password"]
    assert counts() == before and grid1.get("/api/v1/me").status_code == 200

    response = patch(admin, f"{USERS}/grid1", {"password": NEW_PASSWORD})
    assert response.status_code == 200 and NEW_PASSWORD not in response.get_data(as_text=True)
    problem(grid1.get("/api/v1/me"), 401)
    problem(
        client.post("/api/v1/auth/token", json={"username": "grid1", "password": DEMO_PASSWORD}),
        401,
    )
    assert Caller(client, login(client, "grid1", NEW_PASSWORD)).get("/api/v1/me").status_code == 200
    [event] = admin_events()
    assert event.data["changes"] == {"password": "changed", "tokens_revoked": 1}


def test_display_name_changes_and_a_no_op_writes_no_event(client: FlaskClient) -> None:
    admin = as_user(client, "admin")
    renamed = patch(admin, f"{USERS}/grid2", {"display_name": "网格员 李强 (组长)"})
    assert renamed.get_json()["display_name"] == "网格员 李强 (组长)"
    assert patch(admin, f"{USERS}/grid2", {"display_name": "网格员 李强 (组长)"}).status_code == 200
    assert patch(admin, f"{USERS}/grid2", {}).status_code == 200
    [event] = admin_events()
    assert event.data["changes"]["display_name"]["after"] == "网格员 李强 (组长)"
    assert as_user(client, "grid2").get("/api/v1/me").status_code == 200  # tokens untouched


def test_replacing_roles_takes_effect_on_the_next_request(client: FlaskClient) -> None:
    admin, grid1 = as_user(client, "admin"), as_user(client, "grid1")
    roles = [
        {"role": "grid_worker", "org_unit": "G-02", "include_below": False},
        {"role": "building_head", "org_unit": "G-02", "include_below": True},
    ]
    response = put(admin, f"{USERS}/grid1/roles", {"roles": roles})
    assert response.status_code == 200
    assert response.get_json()["roles"] == sorted(roles, key=lambda g: (g["org_unit"], g["role"]))
    me = grid1.get("/api/v1/me").get_json()
    assert sorted(me["roles"]) == ["building_head", "grid_worker"]
    assert {u["code"] for u in me["org_units"]} == {"G-02"}
    [event] = admin_events()
    assert event.type == "user.roles_replaced"
    assert event.data["before"] == [
        {"role": "grid_worker", "org_unit": "G-01", "include_below": False}
    ]
    assert put(admin, f"{USERS}/grid1/roles", {"roles": roles[::-1]}).status_code == 200
    assert len(admin_events()) == 1  # the same grants: nothing changed, nothing logged

    before = counts()
    for bad, field in (
        ([{"role": "grid_worker", "org_unit": "nowhere"}], "roles.0.org_unit"),
        ([{"role": "janitor", "org_unit": "G-01"}], "roles.0.role"),
        ([{"role": "admin", "org_unit": "S-01"}, {"role": "auditor", "org_unit": "D-01"}], "roles"),
    ):
        body = problem(put(admin, f"{USERS}/grid1/roles", {"roles": bad}), 422)
        assert field in body["errors"], body
    assert counts() == before
    assert sorted(grid1.get("/api/v1/me").get_json()["roles"]) == ["building_head", "grid_worker"]


def test_the_system_never_loses_its_last_admin(client: FlaskClient) -> None:
    admin = as_user(client, "admin")
    before = counts()
    body = problem(patch(admin, f"{USERS}/admin", {"active": False}), 422)
    assert list(body["errors"]) == ["active"] and "自己" in body["errors"]["active"][0]
    body = problem(
        put(admin, f"{USERS}/admin/roles", {"roles": [{"role": "designer", "org_unit": "S-01"}]}),
        422,
    )
    assert list(body["errors"]) == ["roles"]
    assert counts() == before and admin.get(USERS).status_code == 200

    second = _new_user(
        username="admin2",
        display_name="管理员 二",
        roles=[{"role": "admin", "org_unit": "D-01", "include_below": True}],
    )
    assert admin.post(USERS, json=second).status_code == 201
    admin2 = as_user(client, "admin2")
    assert patch(admin2, f"{USERS}/admin", {"active": False}).status_code == 200
    problem(admin.get(USERS), 401)
    problem(patch(admin2, f"{USERS}/admin2", {"active": False}), 422)
    # A change already past the API's token check when its actor lost admin rights is
    # refused once it holds the admin lock: nothing is written.
    before = counts()
    with pytest.raises(Forbidden):
        service.update_user(actor="admin", username="admin2", changes={"active": False})
    assert counts() == before
    assert admin2.get(f"{USERS}/admin2").get_json()["active"] is True


def _race(app: Flask, monkeypatch: pytest.MonkeyPatch, work_a: Callable, work_b: Callable) -> list:
    """Two admin changes; A pauses after writing its event (holding the admin lock, not yet
    committed) until B has started and waited."""
    at_commit, release = threading.Event(), threading.Event()
    results: list[object] = [None, None]
    append = events.append

    def paused(*args: Any, **kwargs: Any) -> Any:
        event = append(*args, **kwargs)
        if threading.current_thread().name == "A":
            at_commit.set()
            release.wait(10)
        return event

    def run(index: int, work: Callable) -> None:
        with app.app_context():
            try:
                results[index] = work()
            except Exception as exc:
                results[index] = exc

    monkeypatch.setattr(events, "append", paused)
    a = threading.Thread(target=run, args=(0, work_a), name="A")
    a.start()
    assert at_commit.wait(10)
    b = threading.Thread(target=run, args=(1, work_b), name="B")
    b.start()
    b.join(0.5)  # B runs up to the admin lock and waits for A
    release.set()
    a.join(10)
    b.join(10)
    return results


def test_two_admins_deactivating_each_other_at_once_leave_one_admin(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    second = _new_user(username="admin2", roles=[{"role": "admin", "org_unit": "S-01"}])
    assert as_user(client, "admin").post(USERS, json=second).status_code == 201

    def deactivate(actor: str, username: str) -> Callable[[], str]:
        def work() -> str:
            service.update_user(actor=actor, username=username, changes={"active": False})
            return "ok"

        return work

    results = _race(app, monkeypatch, deactivate("admin", "admin2"), deactivate("admin2", "admin"))
    assert results[0] == "ok" and isinstance(results[1], Forbidden), results
    reader = as_user(client, "admin")
    assert reader.get(f"{USERS}/admin").get_json()["active"] is True
    assert reader.get(f"{USERS}/admin2").get_json()["active"] is False
    assert [e.type for e in admin_events()] == ["user.created", "user.updated"]
    assert reader.get("/api/v1/admin/events/verify").get_json()["ok"] is True
