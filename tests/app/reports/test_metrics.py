"""GET /metrics: Prometheus gauges computed from the database at scrape time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from app.core import uow
from app.core.models import Timer
from app.database import write_transaction
from app.extensions import db
from tests.app.api.support import as_user, open_case, prepare, problem
from tests.conftest import START

TASKS = "/api/v1/tasks"


@pytest.fixture
def client(app: Flask, org: dict, clock) -> FlaskClient:
    return prepare(app)


def scrape(client: FlaskClient, **headers: str) -> dict[tuple[str, tuple[str, ...]], float]:
    """{(name, label values): value} of one scrape."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def test_an_empty_system_reports_zeros_for_every_series(client: FlaskClient) -> None:
    got = scrape(client)
    for stage in ("accept", "dispatch", "supervise", "review", "revisit"):
        assert got[("gridcase_open_tasks", (stage,))] == 0
    assert got[("gridcase_open_cases", ("open",))] == 0
    for name in (
        "gridcase_overdue_cases", "gridcase_pending_timers", "gridcase_due_timers",
        "gridcase_timer_incidents", "gridcase_timer_lag_seconds",
    ):  # fmt: skip
        assert got[(name, ())] == 0, name


def test_gauges_follow_the_cases_tasks_and_timers(client: FlaskClient, clock) -> None:
    grid1 = as_user(client, "grid1")
    first, second = open_case(grid1), open_case(grid1, title="第二件")
    handle = first["tasks"][0]["id"]
    done = grid1.post(f"{TASKS}/{handle}/complete", json={"data": {"result": "换了灯泡"}})
    assert done.status_code == 200
    got = scrape(client)
    assert got[("gridcase_open_tasks", ("dispatch",))] == 1  # the second case's 办理
    assert got[("gridcase_open_tasks", ("review",))] == 1
    assert got[("gridcase_open_cases", ("open",))] == 2
    assert got[("gridcase_pending_timers", ())] == 1  # the second case's 50 % reminder
    assert got[("gridcase_overdue_cases", ())] == 0

    # 15 minutes after the 50 % reminder fell due, and no scheduler has fired it.
    timer = db.session.scalars(select(Timer)).one()
    clock.set(timer.due_at - timedelta(seconds=1))
    assert scrape(client)[("gridcase_due_timers", ())] == 0
    clock.set(timer.due_at + timedelta(minutes=15))
    got = scrape(client)
    assert got[("gridcase_due_timers", ())] == 1
    assert got[("gridcase_timer_lag_seconds", ())] == 15 * 60
    uow.fire_timer(timer_id=timer.id)
    got = scrape(client)
    assert got[("gridcase_due_timers", ())] == got[("gridcase_timer_lag_seconds", ())] == 0

    clock.set(START + timedelta(hours=9))  # 18:30: both past 18:00, the end of the working day
    assert scrape(client)[("gridcase_overdue_cases", ())] == 2
    staff = as_user(client, "staff1")
    paused = staff.post(f"/api/v1/cases/{second['id']}/suspend", json={"reason": "等材料"})
    assert paused.status_code == 200, paused.get_json()
    got = scrape(client)
    assert got[("gridcase_overdue_cases", ())] == 1 and got[("gridcase_suspended_cases", ())] == 1


def test_timer_incidents_are_counted(client: FlaskClient) -> None:
    open_case(as_user(client, "grid1"))
    with write_transaction() as session:  # the scheduler's retries ran out
        session.scalars(select(Timer)).one().status = "incident"
    got = scrape(client)
    assert got[("gridcase_timer_incidents", ())] == 1 and got[("gridcase_pending_timers", ())] == 0


def test_calendar_coverage_warns_before_a_year_without_holidays(client: FlaskClient, clock) -> None:
    assert scrape(client)[("gridcase_calendar_missing_years", ("national",))] == 0
    clock.advance(timedelta(days=660))  # late December 2026: 2027 is not entered yet
    assert scrape(client)[("gridcase_calendar_missing_years", ("national",))] == 1


def test_no_personal_data_and_a_token_when_configured(app: Flask, client: FlaskClient) -> None:
    case = open_case(as_user(client, "grid1"))
    text = client.get("/metrics").get_data(as_text=True)
    # the whole phone number: a bare "138" also turns up inside a float (a scrape's seconds)
    for private in (case["code"], case["tracking_code"], "grid1", "张三", "138 0000 0000", "G-01"):
        assert private not in text
    app.config["METRICS_TOKEN"] = "scrape-secret"
    problem(client.get("/metrics"), 401)
    problem(client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401)
    problem(client.get("/metrics", headers={"Authorization": f"Bearer {case['id']}"}), 401)
    assert scrape(client, Authorization="Bearer scrape-secret")[("gridcase_open_cases", ("open",))]
