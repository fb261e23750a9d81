"""群众诉求 resident_request: the resident withdraws (撤回) at several stages. The message
``resident_withdrawal`` interrupts the whole case (the boundary event on ``sp_case``): every
open task is cancelled, every timer dropped, and the withdrawal is audited with its reason.
See test_rr_modes.py for the time conventions.
"""

from __future__ import annotations

from tests.bpmn.rr import (
    GRID,
    IMMEDIATE,
    LEADER,
    PROXY_COLLECT,
    REVIEW_OK,
    STAFF,
    STREET,
    accept,
    dept,
    dispatch,
    intake,
)
from tests.bpmn.scenario import Scenario, World, bj


def _withdrawn(s: Scenario, reason: str) -> None:
    s.expect_case(status="withdrawn", stage="closed")
    s.expect_data(outcome="withdrawn", withdrawal_reason=reason)
    last = s.events()[-1]
    assert (last.type, last.actor, last.data["payload"]) == (
        "message.received",
        "staff1",
        {"reason": reason},
    )
    finished = [f["bpmn_id"] for f in last.data["finished"] if f["state"] == "COMPLETED"]
    assert finished[-3:] == ["bd_withdrawal", "record_withdrawal", "end_withdrawn"]
    s.finish(status="withdrawn", end="end_withdrawn")


def test_withdrawal_before_dispatch(world: World) -> None:
    s = world.open(intake=intake())
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(), **STAFF, next=["dispatch"])
    s.advance(hours=1)
    s.withdraw("已自行解决")
    assert s.task_statuses("dispatch") == ["cancelled"]
    _withdrawn(s, "已自行解决")


def test_withdrawal_during_handling_with_reminders_waiting(world: World) -> None:
    """代办 under way: the office step is open and the 督单 timers wait."""
    s = world.open(intake=intake())
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(), **STAFF)
    s.advance(minutes=20)
    s.complete("dispatch", as_="staff1", data=dispatch("proxy"), **STAFF)
    s.advance(hours=2)
    s.complete("proxy_collect", as_="grid1", data=PROXY_COLLECT, **GRID, next=["proxy_handle"])
    s.expect_timers(
        ("bt_remind_50", bj(3, 5, 15, 15)),
        ("bt_remind_80", bj(3, 7, 10, 0)),
        ("bt_due", bj(3, 10, 10, 0)),
        ("bt_overdue", bj(3, 11, 10, 0)),
    )
    s.advance_to(bj(3, 4, 9, 0))
    s.withdraw("不办了")
    assert s.task_statuses("proxy_handle") == ["cancelled"]
    _withdrawn(s, "不办了")


def test_withdrawal_while_departments_work_on_a_whistle(world: World) -> None:
    """Inside the parallel department instances: one department is rectifying, the other
    has not claimed yet; both tasks and all their timers go."""
    s = world.open(intake=intake(category="0601"))
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(depts=True), **STAFF)
    s.advance(minutes=20)
    s.complete("dispatch", as_="staff1", data=dispatch("escalated"), **STAFF)
    s.advance(minutes=30)
    s.complete(
        "community_coordinate",
        as_="leader1",
        data={"coordinate_decision": "escalate_street", "coordination_note": "需街道协调"},
        **LEADER,
    )
    s.advance(minutes=30)
    s.complete(
        "whistle",
        as_="dispatcher",
        data={"departments": ["D-CITY", "D-HOUSING"], "whistle_note": "需两部门"},
        **STREET,
    )
    s.advance(minutes=30)
    s.complete(
        "claim",
        as_="dept_city",
        data={"claim_action": "claim"},
        **dept("D-CITY"),
        next=["claim@D-HOUSING", "rectify@D-CITY"],
    )
    assert len(s.timers()) == 4  # D-HOUSING's two claim timers, D-CITY's due, the flag
    s.advance(minutes=30)
    s.withdraw("不需要了")
    assert s.task_statuses("claim", unit="D-HOUSING") == ["cancelled"]
    assert s.task_statuses("rectify") == ["cancelled"]
    _withdrawn(s, "不需要了")


def test_withdrawal_while_waiting_for_the_revisit(world: World) -> None:
    """Handled and reviewed; the resident withdraws before the next-day revisit."""
    s = world.open(intake=intake())
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(on_spot=True), **STAFF)
    s.advance(minutes=20)
    s.complete("dispatch", as_="staff1", data=dispatch("immediate"), **STAFF)
    s.advance(minutes=30)
    s.complete("immediate_handle", as_="grid1", data=IMMEDIATE, **GRID)
    s.advance(minutes=30)
    s.complete("review", as_="leader1", data=REVIEW_OK, **LEADER, next=[])
    s.expect_timers(("wait_revisit", bj(3, 4, 11, 0)))
    s.advance_to(bj(3, 3, 17, 0))
    s.withdraw("搬走了")
    _withdrawn(s, "搬走了")
