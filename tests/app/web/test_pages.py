"""The web pages through Flask's test client: login, logout, CSRF, access, intake, tracking."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.core.models import Case, CaseEvent
from app.database import write_transaction
from app.extensions import db
from app.orgs.demo import DEMO_PASSWORD
from tests.app.api.support import event_count
from tests.helpers import INTAKE, deploy_simple, events, only_task, open_simple_case
from workflows.clock import FrozenClock

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(response: TestResponse) -> str:
    found = CSRF.search(response.get_data(as_text=True))
    assert found, "no CSRF field on the page"
    return found.group(1)


def log_in(client: FlaskClient, username: str, password: str = DEMO_PASSWORD) -> TestResponse:
    token = csrf_of(client.get("/login"))
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


def post(
    client: FlaskClient, url: str, page: str, data: dict[str, Any] | None = None
) -> TestResponse:
    """POST a form the way a browser would: with the CSRF token of a page just loaded."""
    token = csrf_of(client.get(page))
    return client.post(url, data={**(data or {}), "csrf_token": token})


@pytest.fixture
def client(app: Flask, org: dict[str, object], clock: FrozenClock) -> FlaskClient:
    deploy_simple()
    app.config["INTAKE_PROCESS"] = "simple_request"
    return app.test_client()


def test_pages_need_a_login_and_come_back_after_it(client: FlaskClient) -> None:
    response = client.get("/cases/new?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/cases/new?x%3D1"
    token = csrf_of(client.get(response.headers["Location"]))
    response = client.post(
        "/login",
        data={
            "username": "staff1",
            "password": DEMO_PASSWORD,
            "csrf_token": token,
            "next": "/cases/new?x=1",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/cases/new?x=1"
    page = client.get("/").get_data(as_text=True)
    assert "社区工作者 陈静 Chen Jing" in page and "社区工作者 Community staff" in page


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_login_never_redirects_off_site(client: FlaskClient, target: str) -> None:
    token = csrf_of(client.get("/login"))
    response = client.post(
        "/login",
        data={"username": "grid1", "password": DEMO_PASSWORD, "csrf_token": token, "next": target},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_bad_password_and_the_slowdown(app: Flask, client: FlaskClient) -> None:
    app.config["LOGIN_USER_FREE"] = 1
    response = log_in(client, "grid1", "nope")
    assert response.status_code == 401
    assert "用户名或密码错误 Wrong username or password" in response.get_data(as_text=True)
    assert log_in(client, "nobody", "nope").status_code == 401  # the same answer
    log_in(client, "grid1", "nope")
    response = log_in(client, "grid1", DEMO_PASSWORD)  # blocked: not even checked
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "登录失败次数过多" in response.get_data(as_text=True)


def test_every_post_needs_the_csrf_token(client: FlaskClient) -> None:
    response = client.post("/login", data={"username": "grid1", "password": DEMO_PASSWORD})
    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)
    assert log_in(client, "grid1").status_code == 302
    task = only_task(open_simple_case())
    before = event_count()
    for url in (f"/tasks/{task.id}/claim", f"/tasks/{task.id}", "/cases/new", "/logout"):
        response = client.post(url, data={"csrf_token": "forged", "result": "x"})
        assert response.status_code == 400, url
    assert event_count() == before
    assert client.get("/").status_code == 200  # still logged in


def test_login_rotates_the_csrf_token_and_logout_revokes_the_session(client: FlaskClient) -> None:
    before = csrf_of(client.get("/login"))
    assert log_in(client, "grid1").status_code == 302
    inbox = client.get("/")
    after = csrf_of(inbox)
    assert after != before
    cookie = client.get_cookie("session")
    assert cookie is not None
    response = client.post("/logout", data={"csrf_token": after})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    # The old cookie, replayed, no longer logs anyone in: its token was revoked.
    client.set_cookie("session", cookie.value)
    assert client.get("/").status_code == 302


def test_auditors_read_and_never_write(client: FlaskClient) -> None:
    case = open_simple_case()
    task = only_task(case)
    log_in(client, "auditor")
    assert client.get(f"/cases/{case.id}").status_code == 200
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-action="claim"' not in page and 'data-action="submit"' not in page
    assert "新建诉求" not in client.get("/").get_data(as_text=True)
    before = event_count()
    response = post(client, f"/tasks/{task.id}/claim", "/")
    assert response.status_code == 403 and "只读" in response.get_data(as_text=True)
    assert event_count() == before
    assert post(client, "/logout", "/").status_code == 302  # leaving is allowed


def test_what_one_may_not_see_is_not_found(client: FlaskClient) -> None:
    case = open_simple_case()
    task = only_task(case)
    log_in(client, "grid2")  # another grid
    assert client.get(f"/cases/{case.id}").status_code == 404
    response = client.get(f"/tasks/{task.id}")
    assert response.status_code == 404 and "未找到" in response.get_data(as_text=True)
    assert post(client, f"/tasks/{task.id}/claim", "/").status_code == 404
    assert client.get("/tasks/nope").status_code == 404


def test_claim_and_release(client: FlaskClient) -> None:
    task = only_task(open_simple_case())
    log_in(client, "grid1")
    response = post(client, f"/tasks/{task.id}/claim", "/")
    assert response.status_code == 302 and response.headers["Location"] == f"/tasks/{task.id}"
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "已领取" in page and 'data-action="unclaim"' in page
    again = post(client, f"/tasks/{task.id}/claim", f"/tasks/{task.id}")
    assert "已被他人领取或已完成" in client.get(again.headers["Location"]).get_data(as_text=True)
    post(client, f"/tasks/{task.id}/unclaim", f"/tasks/{task.id}")
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "已退回待领" in page and 'data-action="claim"' in page
    types = [e.type for e in events(task.case)]
    assert types == ["case.opened", "task.claimed", "task.unclaimed"]


def test_case_page_shows_a_broken_chain(client: FlaskClient) -> None:
    case = open_simple_case()
    log_in(client, "leader1")
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "哈希链校验通过" in page and "立案 Case opened" in page
    with write_transaction() as session:
        session.execute(
            db.update(CaseEvent).where(CaseEvent.case_id == case.id).values(actor="mallory")
        )
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "第 1 条起不符" in page and "hash chain is broken at event 1" in page


def test_intake_errors_sit_at_their_fields_and_keep_the_input(client: FlaskClient) -> None:
    log_in(client, "grid1")
    page = client.get("/cases/new").get_data(as_text=True)
    assert 'value="G-01" selected' in page and "G-02" not in page  # only the user's grid
    data = {
        "description": "楼道灯坏了",
        "reporter.phone": "abc",
        "resident.age": "old",
        "urgent": "true",
    }
    response = post(client, "/cases/new", "/cases/new", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for name in ("title", "category", "reporter.phone", "resident.age"):
        assert re.search(rf'data-field="{re.escape(name)}">.*?field-error', html, re.S), name
    assert "此项必填 This field is required" in html
    assert "电话号码格式不正确" in html and "请输入整数" in html
    assert "楼道灯坏了</textarea>" in html and 'value="abc"' in html
    assert re.search(r'id="f-urgent" name="urgent" value="true" checked', html)
    assert db.session.scalar(db.select(db.func.count()).select_from(Case)) == 0


def test_intake_for_a_grid_not_ones_own_is_refused(client: FlaskClient) -> None:
    log_in(client, "grid1")
    body = {**{k: v for k, v in INTAKE.items() if k != "resident"}, "org_unit": "G-02"}
    response = post(client, "/cases/new", "/cases/new", body)
    assert response.status_code == 403
    assert "G-02" in response.get_data(as_text=True)
    body["org_unit"] = "C-01"  # not a grid at all
    response = post(client, "/cases/new", "/cases/new", body)
    assert response.status_code == 422 and "not a grid" in response.get_data(as_text=True)


def test_intake_opens_the_case(client: FlaskClient) -> None:
    log_in(client, "staff1")
    body = {
        **{k: v for k, v in INTAKE.items() if k != "resident"},
        "reporter.name": "张三",
        "reporter.phone": "138 0000 0000",
        "resident.age": "82",
        "resident.mobility": "limited",
        "resident.vulnerable": "true",
        "mode": "home_visit",
    }
    response = post(client, "/cases/new", "/cases/new", body)
    assert response.status_code == 302
    case = db.session.scalar(db.select(Case))
    assert case is not None and response.headers["Location"] == f"/cases/{case.id}"
    assert case.reporter == {"name": "张三", "phone": "138 0000 0000"}
    assert case.resident == {"age": 82, "mobility": "limited", "vulnerable": True}
    assert case.urgent is False
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert case.tracking_code in page and "已立案" in page


def test_tracking_shows_no_personal_data(client: FlaskClient) -> None:
    case = open_simple_case(reporter={"name": "李四", "phone": "13911112222"}, address="幸福里 5号")
    response = client.get(f"/track/{case.tracking_code.lower()}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "办理中 Open" in html and "派单 Dispatch" in html
    for private in ("李四", "13911112222", "幸福里", case.title, case.description, case.code):
        assert private not in html
    assert client.get("/track/NOPE").status_code == 404
    lookup = client.get(f"/track?code=%20{case.tracking_code}%20")
    assert (
        lookup.status_code == 302 and lookup.headers["Location"] == f"/track/{case.tracking_code}"
    )


def test_pages_send_protective_headers(client: FlaskClient) -> None:
    response = client.get("/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "SameSite=Lax" in response.headers["Set-Cookie"]
    assert "HttpOnly" in response.headers["Set-Cookie"]
    static = client.get("/web-static/style.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
    static.close()


def test_the_api_still_answers_problems(client: FlaskClient) -> None:
    response = client.get("/api/v1/cases/1")
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
