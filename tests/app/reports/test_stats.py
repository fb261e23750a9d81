"""统计 GET /api/v1/stats: the seeds' figures and the rates, for a period and an org unit.

One March of real cases through the shipped processes (the clock moved by hand, every timer
fired on the way), then each figure is checked against what the script did (Beijing times):

- A (G-01) 即办: handled Mon 3/3 10:00 (signed for in time), approved 10:30 (due 18:00: on
  time); the resident rates 满意 on Tue 3/4 → closed.
- B (G-01) 代办: dispatched Mon 09:45, first touched Wed 3/5 (respond limit Tue 09:45: late);
  delivered and approved Mon 3/10 after its due time 09:45 (late); rated 基本满意 but not
  solved on Tue 3/11 → closed.
- C (G-03, community C-02) 即办: approved Mon 10:10 (on time), but the resident says 不满意 on
  Tue 3/4 (重办); approved again Tue 14:00 (now late); 满意 on Wed 3/5 → closed.
- D (G-01) 提级办: the street whistles two departments, both answer; approved Mon 11:30 (due
  3/24); 满意 on Tue 3/4 → closed: a hard problem solved.
- E (G-01) 调解 mediation: resolved at the building Mon 11:00, followed up Mon 3/17 → resolved.
- F (G-01): withdrawn after accept on Mon 3/3.
- H, I (G-01): opened at 23:59:59 on Mon 3/31 and 07:00 on Tue 4/1 (I is still 3/31 in UTC).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.app.api.support import as_user, problem
from tests.app.residents.support import advance_to, revisit, shipped_world
from tests.bpmn.rr import (
    IMMEDIATE,
    PROXY_COLLECT,
    PROXY_DELIVER,
    PROXY_HANDLE,
    REVIEW_OK,
    accept,
    dispatch,
    intake,
)
from tests.bpmn.scenario import Scenario, World, bj

STATS = "/api/v1/stats"
MARCH = {"from": "2025-03-01", "to": "2025-03-31"}
MEDIATION_INTAKE = {
    **intake(title="楼上漏水纠纷", category="0801", request_type="complaint"),
    "channel": "building_head",
}
NOTHING = {
    "received": 0, "handled": 0, "whistles": 0, "answers": 0, "hard_solved": 0, "mediated": 0,
    "response_rate": None, "resolution_rate": None, "satisfaction_rate": None,
    "on_time_rate": None, "overdue": 0,
}  # fmt: skip


@pytest.fixture
def client(app: Flask, org: dict, clock: Any, request: pytest.FixtureRequest) -> FlaskClient:
    client = app.test_client()
    _march(shipped_world(clock, request.node.nodeid), client)
    return client


def _rate(client: FlaskClient, s: Scenario, satisfaction: str, comment: str = "") -> None:
    """The resident rates the 回访 on the tracking page."""
    body = {"satisfaction": satisfaction, **({"comment": comment} if comment else {})}
    response = client.post(f"/api/v1/track/{s.case.tracking_code}/rating", json=body)
    assert response.status_code == 200, response.get_json()


def _march(world: World, client: FlaskClient) -> None:
    clock = world.clock
    a = world.open(intake=intake(title="A"))
    b = world.open(intake=intake(title="B"))
    c = world.open(intake=intake(title="C", org_unit="G-03"), as_="admin")
    d = world.open(intake=intake(title="D", category="0601"))
    e = world.open(intake=MEDIATION_INTAKE, as_="building1", process="mediation")
    f = world.open(intake=intake(title="F"))
    # Monday 3 March
    advance_to(clock, bj(3, 3, 9, 40))
    a.complete("accept", as_="staff1", data=accept(on_spot=True))
    a.complete("dispatch", as_="staff1", data=dispatch("immediate"))
    advance_to(clock, bj(3, 3, 9, 45))
    b.complete("accept", as_="staff1", data=accept())
    b.complete("dispatch", as_="staff1", data=dispatch("proxy"))
    advance_to(clock, bj(3, 3, 9, 50))
    c.complete("accept", as_="admin", data=accept(on_spot=True))
    c.complete("dispatch", as_="admin", data=dispatch("immediate"))
    advance_to(clock, bj(3, 3, 9, 55))
    d.complete("accept", as_="staff1", data=accept(depts=True))
    d.complete("dispatch", as_="staff1", data=dispatch("escalated"))
    advance_to(clock, bj(3, 3, 10, 0))
    a.complete("immediate_handle", as_="grid1", data=IMMEDIATE)
    c.complete("immediate_handle", as_="admin", data=IMMEDIATE)
    d.complete(
        "community_coordinate",
        as_="leader1",
        data={"coordinate_decision": "escalate_street", "coordination_note": "涉及多个部门"},
    )
    advance_to(clock, bj(3, 3, 10, 5))
    f.complete("accept", as_="staff1", data=accept())
    f.withdraw("已自行解决")
    advance_to(clock, bj(3, 3, 10, 10))
    d.complete(
        "whistle",
        as_="dispatcher",
        data={"departments": ["D-CITY", "D-HOUSING"], "whistle_note": "电梯故障, 涉及城管、住建"},
    )
    c.complete("review", as_="admin", data=REVIEW_OK)
    advance_to(clock, bj(3, 3, 10, 20))
    for unit, user in (("D-CITY", "dept_city"), ("D-HOUSING", "dept_housing")):
        d.complete("claim", as_=user, unit=unit, data={"claim_action": "claim"})
        d.complete(
            "rectify",
            as_=user,
            unit=unit,
            data={"rectify_status": "done", "rectify_note": "已维修"},
        )
        d.complete(
            "answer",
            as_=user,
            unit=unit,
            data={"answer_status": "solved", "answer_summary": "已修复"},
        )
    advance_to(clock, bj(3, 3, 10, 30))
    a.complete("review", as_="leader1", data=REVIEW_OK)
    advance_to(clock, bj(3, 3, 11, 0))
    e.complete(
        "mediate_building",
        as_="building1",
        data={
            "mediation_result": "resolved",
            "mediation_note": "调解",
            "agreement_summary": "和解",
        },
    )
    advance_to(clock, bj(3, 3, 11, 30))
    d.complete("review", as_="leader1", data=REVIEW_OK)
    # Tuesday 4 March: the 回访 of A, C and D are open
    advance_to(clock, bj(3, 4, 11, 45))
    _rate(client, a, "satisfied")
    _rate(client, c, "unsatisfied", "灯还是不亮")
    d.complete("revisit", as_="staff1", data=revisit("satisfied"))
    advance_to(clock, bj(3, 4, 13, 40))
    c.complete("immediate_handle", as_="admin", data=IMMEDIATE)
    advance_to(clock, bj(3, 4, 14, 0))
    c.complete("review", as_="admin", data=REVIEW_OK)
    # Wednesday 5 March
    advance_to(clock, bj(3, 5, 14, 30))
    _rate(client, c, "satisfied")
    advance_to(clock, bj(3, 5, 15, 0))
    b.complete("proxy_collect", as_="grid1", data=PROXY_COLLECT)
    advance_to(clock, bj(3, 5, 15, 10))
    b.complete("proxy_handle", as_="staff1", data=PROXY_HANDLE)
    # Monday 10 March: B after its due time (09:45), before its escalation (Tue 09:45)
    advance_to(clock, bj(3, 10, 14, 0))
    b.complete("proxy_deliver", as_="grid1", data=PROXY_DELIVER)
    advance_to(clock, bj(3, 10, 15, 0))
    b.complete("review", as_="leader1", data=REVIEW_OK)
    advance_to(clock, bj(3, 11, 15, 30))
    b.complete("revisit", as_="staff1", data=revisit("basically_satisfied", resolved=False))
    advance_to(clock, bj(3, 17, 11, 30))
    e.complete(
        "follow_up", as_="staff1", data={"agreement_kept": True, "satisfaction": "satisfied"}
    )
    for s, status in ((a, "closed"), (b, "closed"), (c, "closed"), (d, "closed"), (e, "closed")):
        s.expect_case(status=status)
    f.expect_case(status="withdrawn")
    advance_to(clock, bj(3, 31, 23, 59, 59))
    world.open(intake=intake(title="H"))
    advance_to(clock, bj(4, 1, 7, 0))
    world.open(intake=intake(title="I"))


def _stats(client: FlaskClient, user: str, **query: str) -> dict[str, Any]:
    response = as_user(client, user).get(STATS, query_string=query)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def _figures(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in NOTHING}


def test_the_street_in_march(app: Flask, client: FlaskClient) -> None:
    body = _stats(client, "admin", **MARCH)
    assert _figures(body) == {
        "received": 7,  # A-F and H (I opened on 1 April, Beijing time)
        "handled": 5,  # A, B, C, D, E closed; F withdrawn is not handled
        "whistles": 1,  # D
        "answers": 2,  # D's two departments
        "hard_solved": 1,  # D, 提级办 and closed
        "mediated": 1,  # E
        "response_rate": 0.75,  # A, C, D signed for in time; B a day late
        "resolution_rate": 0.75,  # last ratings: A, C, D solved; B not solved
        "satisfaction_rate": 1.0,  # 满意 A, C (its last), D; 基本满意 B counts by default
        "on_time_rate": 0.5,  # due in March: A, D on time; B late, C late after 重办
        "overdue": 2,
    }
    assert body["closure_rate"] == 1.0
    assert body["basis"] == {
        "dispatched": 4, "responded": 3, "rated": 4, "solved": 3, "satisfied": 4,
        "due": 4, "on_time": 2, "closed": 4,
    }  # fmt: skip
    assert (body["from"], body["to"], body["org_unit"]) == ("2025-03-01", "2025-03-31", None)
    assert _stats(client, "auditor", **MARCH, org_unit="S-01") == {**body, "org_unit": "S-01"}
    app.config["STATS_BASICALLY_SATISFIED_COUNTS"] = False  # the setting: only 满意 counts
    body = _stats(client, "admin", **MARCH)
    assert (body["satisfaction_rate"], body["basis"]["satisfied"]) == (0.75, 3)  # not B


def test_each_caller_sees_the_units_they_cover(client: FlaskClient) -> None:
    c01 = _stats(client, "leader1", **MARCH)  # C-01 and below by default: no C
    assert _figures(c01) == {
        "received": 6, "handled": 4, "whistles": 1, "answers": 2, "hard_solved": 1,
        "mediated": 1, "response_rate": 2 / 3, "resolution_rate": 2 / 3,
        "satisfaction_rate": 1.0, "on_time_rate": 2 / 3, "overdue": 1,
    }  # fmt: skip
    assert _stats(client, "grid1", **MARCH)["received"] == 6  # all of C-01's cases are in G-01
    assert _stats(client, "leader1", **MARCH, org_unit="G-01") == {**c01, "org_unit": "G-01"}
    c02 = _stats(client, "admin", **MARCH, org_unit="C-02")  # C alone
    assert _figures(c02) == {
        "received": 1, "handled": 1, "whistles": 0, "answers": 0, "hard_solved": 0,
        "mediated": 0, "response_rate": 1.0, "resolution_rate": 1.0, "satisfaction_rate": 1.0,
        "on_time_rate": 0.0, "overdue": 1,
    }  # fmt: skip
    assert _figures(_stats(client, "grid2", **MARCH)) == NOTHING  # G-02: no cases, no rates
    problem(as_user(client, "leader1").get(STATS, query_string={"org_unit": "C-02"}), 403)
    problem(as_user(client, "grid1").get(STATS, query_string={"org_unit": "C-01"}), 403)
    problem(as_user(client, "dept_city").get(STATS, query_string={"org_unit": "G-01"}), 403)
    body = problem(as_user(client, "admin").get(STATS, query_string={"org_unit": "X-99"}), 422)
    assert set(body["errors"]) == {"org_unit"}
    problem(client.get(STATS), 401)


def test_periods_are_whole_beijing_days(client: FlaskClient) -> None:
    monday = _stats(client, "admin", **{"from": "2025-03-03", "to": "2025-03-03"})
    assert _figures(monday) == {
        "received": 6, "handled": 0, "whistles": 1, "answers": 2, "hard_solved": 0,
        "mediated": 0, "response_rate": 0.75, "resolution_rate": None,
        "satisfaction_rate": None, "on_time_rate": 0.5, "overdue": 1,
    }  # fmt: skip
    tuesday = _stats(client, "admin", **{"from": "2025-03-04", "to": "2025-03-04"})
    assert _figures(tuesday) == {  # rated that day: A 满意, C 不满意 (its first), D 满意
        "received": 0, "handled": 2, "whistles": 0, "answers": 0, "hard_solved": 1,
        "mediated": 0, "response_rate": None, "resolution_rate": 2 / 3,
        "satisfaction_rate": 2 / 3, "on_time_rate": None, "overdue": 0,
    }  # fmt: skip
    last_of_march = _stats(client, "admin", **{"from": "2025-03-31", "to": "2025-03-31"})
    assert last_of_march["received"] == 1  # H at 23:59:59; I (23:00 UTC that day) is April's
    april = _stats(client, "admin", **{"from": "2025-04-01", "to": "2025-04-30"})
    assert _figures(april) == {**NOTHING, "received": 1}
    by_default = _stats(client, "admin")  # this month (1 April) to today
    assert by_default == {**april, "to": "2025-04-01"}


def test_bad_periods_are_refused_naming_the_field(app: Flask, org: dict, clock: Any) -> None:
    clock.set(bj(4, 1, 7, 0))
    admin = as_user(app.test_client(), "admin")
    body = problem(admin.get(STATS, query_string={"from": "2025-03-10", "to": "2025-03-01"}), 422)
    assert set(body["errors"]) == {"from"}
    body = problem(admin.get(STATS, query_string={"from": "2025-04-02"}), 422)  # after today
    assert set(body["errors"]) == {"from"}
    body = problem(admin.get(STATS, query_string={"to": "31/03/2025"}), 422)
    assert set(body["errors"]) == {"to"}
    body = problem(admin.get(STATS, query_string={"from": "0001-01-01"}), 422)
    assert set(body["errors"]) == {"from"}  # no UTC moment before year 1
