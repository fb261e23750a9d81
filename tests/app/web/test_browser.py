"""The web UI in a real browser (headless Chromium), on SQLite and PostgreSQL.

A caseworker's day: staff1 takes a case in at the front desk, grid1 finds it in the inbox,
claims it, submits the form (first empty: the error names the field; then valid), and the case
page shows the next stage and the audit timeline; the resident's tracking page shows the
status and no personal data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, expect

from app.cases.service import open_case
from app.orgs.demo import DEMO_PASSWORD
from app.processes.service import deploy_directory
from tests.app.api.support import add_user
from tests.helpers import DATA, INTAKE, deploy_simple, events
from workflows.clock import FrozenClock

PHONE_NUMBER = "13800138000"
REPORTER = "张三丰"
ADDRESS = "和平街道 3号楼 2单元"


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form.form button[type=submit]")
    expect(page.get_by_test_id("display-name")).to_be_visible()


def log_out(page: Page) -> None:
    page.click(".whoami button[type=submit]")
    expect(page.locator("#username")).to_be_visible()


def test_caseworker_flow(
    app: Flask,
    org: dict[str, object],
    clock: FrozenClock,
    live_server: str,
    new_page: Callable[[], Page],
    tmp_path: Path,
) -> None:
    deploy_simple()
    app.config["INTAKE_PROCESS"] = "simple_request"
    page = new_page()

    # A page needs a login, and comes back after it.
    page.goto(f"{live_server}/")
    expect(page).to_have_url(re.compile(r"/login\?next=/"))
    page.fill("#username", "staff1")
    page.fill("#password", "wrong password")
    page.click("form.form button[type=submit]")
    expect(page.get_by_test_id("login-error")).to_contain_text("用户名或密码错误")
    log_in(page, live_server, "staff1")
    expect(page.get_by_test_id("display-name")).to_have_text("社区工作者 陈静 Chen Jing")
    expect(page.locator(".whoami .roles")).to_contain_text("社区工作者 Community staff")

    # Intake at the front desk.
    page.click("a[href='/cases/new']")
    page.fill("#f-title", "路灯不亮 Street light out")
    page.fill("#f-description", "3号楼门前路灯不亮")
    page.fill("#f-category", "0401")
    page.select_option("#f-request_type", "help")
    page.select_option("#f-channel", "hotline")
    page.select_option("#f-org_unit", "G-01")
    page.fill("#f-address", ADDRESS)
    page.fill("[id='f-reporter.name']", REPORTER)
    page.fill("[id='f-reporter.phone']", PHONE_NUMBER)
    page.fill("[id='f-resident.age']", "45")
    page.click("[data-action=intake]")
    expect(page.locator("h1")).to_contain_text("路灯不亮 Street light out")
    expect(page.get_by_test_id("case-status")).to_contain_text("办理中")
    expect(page.get_by_test_id("case-stage")).to_contain_text("派单 Dispatch")
    tracking_code = page.get_by_test_id("tracking-code").inner_text().strip()
    assert re.fullmatch(r"[A-Z0-9]{10}", tracking_code)
    log_out(page)

    # The grid worker's inbox has the task; claim it.
    log_in(page, live_server, "grid1")
    card = page.locator("li.task", has_text="办理 Handle")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("路灯不亮 Street light out")
    expect(card.locator(".remaining")).to_contain_text("剩余")
    page.screenshot(path=str(tmp_path / "inbox.png"), full_page=True)
    card.locator("[data-action=claim]").click()
    expect(page.get_by_test_id("assignee")).to_have_text("网格员 王芳 Wang Fang")
    expect(page.locator("[data-field=result] label")).to_contain_text("办理结果")
    expect(page.locator("[data-field=result] .req")).to_be_visible()

    # Empty: the error sits at the field; valid: the case moves on.
    page.click("[data-action=submit]")
    expect(page.locator("[data-field=result] .field-error")).to_contain_text("此项必填")
    expect(page.get_by_test_id("form-error")).to_be_visible()
    page.screenshot(path=str(tmp_path / "task-invalid.png"), full_page=True)
    page.fill("#f-result", "已更换灯泡 Bulb replaced")
    page.click("[data-action=submit]")
    expect(page.get_by_test_id("case-stage")).to_contain_text("审单 Review")
    timeline = page.get_by_test_id("timeline")
    expect(timeline.locator("li")).to_have_count(3)
    expect(timeline.locator("li").nth(0)).to_contain_text("立案 Case opened")
    expect(timeline.locator("li").nth(1)).to_contain_text("领取任务 Task claimed")
    expect(timeline.locator("li").nth(2)).to_contain_text("完成任务 Task completed")
    expect(timeline.locator("li").nth(2)).to_contain_text("办理 Handle")
    expect(timeline.locator("li").nth(2)).to_contain_text("grid1")
    expect(timeline.locator("li").nth(0).locator("time")).to_have_text("2025-03-03 09:30:00")
    expect(page.get_by_test_id("chain")).to_contain_text("哈希链校验通过")
    expect(page.get_by_test_id("open-tasks")).to_contain_text("审单 Review")
    page.screenshot(path=str(tmp_path / "case.png"), full_page=True)

    # The resident's page: no login, the status, nothing personal.
    resident = new_page()
    resident.goto(f"{live_server}/track")
    resident.fill("input[name=code]", tracking_code.lower())
    resident.click("button[type=submit]")
    expect(resident.get_by_test_id("track-status")).to_contain_text("办理中 Open")
    expect(resident.get_by_test_id("track-stage")).to_contain_text("审单 Review")
    body = resident.content()
    for private in (PHONE_NUMBER, REPORTER, ADDRESS, "路灯不亮", "grid1", "王芳"):
        assert private not in body
    assert resident.get_by_test_id("display-name").count() == 0
    resident.screenshot(path=str(tmp_path / "track.png"), full_page=True)


def test_form_widgets_keep_input_on_error(
    app: Flask,
    org: dict[str, object],
    clock: FrozenClock,
    live_server: str,
    new_page: Callable[[], Page],
) -> None:
    deploy_directory(DATA / "webform", actor="test")
    case = open_case(intake=INTAKE, actor="test", process_key="web_form")
    case_id = case.id
    page = new_page()
    log_in(page, live_server, "grid1")
    page.click("li.task a.task-name")

    # Each JSON Schema type has its widget, prefilled from the task data.
    expect(page.locator("textarea#f-note")).to_have_value("预填 prefilled")
    expect(page.locator("input#f-contact[type=text]")).to_have_value("")
    expect(page.locator("select#f-outcome_kind option")).to_have_text(
        ["请选择 Choose…", "已解决 solved", "部分解决 partly solved"]
    )
    expect(page.locator("select#f-channel option")).to_have_count(3)
    expect(page.locator("input#f-resident_home[type=checkbox]")).not_to_be_checked()
    expect(page.locator("input#f-visits[type=number]")).to_have_value("2")
    expect(page.locator("input#f-visits")).to_have_attribute("max", "10")
    expect(page.locator("input#f-cost[type=number]")).to_have_attribute("step", "any")
    expect(page.locator("input#f-next_visit[type=datetime-local]")).to_be_visible()
    expect(page.locator("input#f-visit_day[type=date]")).to_be_visible()
    expect(page.locator("textarea#f-photos")).to_be_visible()
    for required in ("note", "outcome_kind", "visits"):
        expect(page.locator(f"[data-field={required}] .req")).to_be_visible()
    expect(page.locator("[data-field=contact] .req")).to_have_count(0)

    # Invalid: every bad field says so, and everything typed is still there.
    page.fill("#f-note", "")
    page.fill("#f-contact", "李四")
    page.select_option("#f-outcome_kind", "partly")
    page.fill("#f-visits", "11")
    page.check("#f-resident_home")
    page.fill("#f-photos", "p1\np2")
    page.click("[data-action=submit]")
    expect(page.locator("[data-field=note] .field-error")).to_contain_text("此项必填")
    expect(page.locator("[data-field=visits] .field-error")).to_contain_text("11")
    expect(page.locator("[data-field=contact] .field-error")).to_have_count(0)
    expect(page.locator("#f-contact")).to_have_value("李四")
    expect(page.locator("#f-outcome_kind")).to_have_value("partly")
    expect(page.locator("#f-visits")).to_have_value("11")
    expect(page.locator("#f-resident_home")).to_be_checked()
    expect(page.locator("#f-photos")).to_have_value("p1\np2")
    assert [e.type for e in events(case)] == ["case.opened"]  # nothing written

    # Valid: the JSON the process gets has the schema's types.
    page.fill("#f-note", "上门查看 visited")
    page.fill("#f-visits", "3")
    page.fill("#f-cost", "12.5")
    page.fill("#f-next_visit", "2025-03-04T10:00")
    page.fill("#f-visit_day", "2025-03-03")
    page.click("[data-action=submit]")
    expect(page.get_by_test_id("case-status")).to_contain_text("已办结 Closed")
    completed = events(case)[-1]
    assert completed.case_id == case_id and completed.type == "task.completed"
    assert completed.data["input"] == {
        "note": "上门查看 visited",
        "contact": "李四",
        "outcome_kind": "partly",
        "resident_home": True,
        "visits": 3,
        "cost": 12.5,
        "next_visit": "2025-03-04T10:00:00+08:00",
        "visit_day": "2025-03-03",
        "photos": ["p1", "p2"],
    }


def test_conflict_is_explained_and_input_kept(
    app: Flask,
    org: dict[str, object],
    clock: FrozenClock,
    live_server: str,
    new_page: Callable[[], Page],
) -> None:
    deploy_simple()
    open_case(intake=INTAKE, actor="test", process_key="simple_request")
    add_user("grid1b", "grid_worker", "G-01")
    mine, theirs = new_page(), new_page()
    log_in(mine, live_server, "grid1")
    mine.click("li.task a.task-name")
    mine.fill("#f-result", "我来办 on my way")

    log_in(theirs, live_server, "grid1b")
    theirs.locator("li.task [data-action=claim]").click()
    expect(theirs.get_by_test_id("assignee")).to_have_text("grid1b")

    mine.click("[data-action=submit]")
    expect(mine.get_by_test_id("form-error")).to_contain_text("已被他人完成或领取")
    expect(mine.get_by_test_id("assignee")).to_have_text("grid1b")
    expect(mine.locator("#f-result")).to_have_value("我来办 on my way")
    expect(mine.locator("[data-action=submit]")).to_have_count(0)


def test_inbox_tabs_filters_and_overdue(
    app: Flask,
    org: dict[str, object],
    clock: FrozenClock,
    live_server: str,
    new_page: Callable[[], Page],
    tmp_path: Path,
) -> None:
    deploy_simple()
    open_case(intake=INTAKE, actor="test", process_key="simple_request")
    open_case(
        intake={**INTAKE, "title": "井盖缺失 Missing cover"},
        actor="test",
        process_key="simple_request",
    )
    clock.advance(timedelta(days=1))  # past the end of the working day both are due
    page = new_page()
    log_in(page, live_server, "grid1")
    cards = page.locator("li.task")
    expect(cards).to_have_count(2)
    expect(page.locator("li.task.overdue")).to_have_count(2)
    expect(cards.first.locator(".badge.sla-overdue")).to_have_text("已超时 Overdue")
    expect(cards.first.locator(".remaining")).to_contain_text("超时")
    page.screenshot(path=str(tmp_path / "inbox-overdue.png"), full_page=True)

    cards.first.locator("[data-action=claim]").click()
    expect(page.get_by_test_id("assignee")).to_have_text("网格员 王芳 Wang Fang")
    page.goto(f"{live_server}/")
    page.click("a.tab[data-scope=mine]")
    expect(page.locator("li.task")).to_have_count(1)
    expect(page.locator("li.task [data-action=claim]")).to_have_count(0)
    page.click("a.tab[data-scope=group]")
    expect(page.locator("li.task")).to_have_count(1)
    expect(page.locator("li.task [data-action=claim]")).to_have_count(1)

    # A filter applies as soon as it is chosen (a line of script; the button works without).
    page.click("a.tab[data-scope=all]")
    page.select_option("select[name=overdue]", "0")
    expect(page).to_have_url(re.compile(r"overdue=0"))
    expect(page.locator("li.task")).to_have_count(0)
    expect(page.locator(".empty")).to_contain_text("暂无任务")
    page.select_option("select[name=mode]", "immediate")
    expect(page).to_have_url(re.compile(r"mode=immediate"))
    page.select_option("select[name=overdue]", "1")
    expect(page).to_have_url(re.compile(r"overdue=1"))
    expect(page.locator("li.task")).to_have_count(2)
    page.select_option("select[name=mode]", "home_visit")
    expect(page).to_have_url(re.compile(r"mode=home_visit"))
    expect(page.locator("li.task")).to_have_count(0)
