"""群众诉求 resident_request: 审单 rework, 重办 reopen, 挂账 ledger and 提级 escalation (by the
caseworker's decision, and automatically when the limit is breached). See test_rr_modes.py
for the time conventions.
"""

from __future__ import annotations

from datetime import datetime

from tests.bpmn.rr import (
    GRID,
    IMMEDIATE,
    LEADER,
    PROXY_COLLECT,
    PROXY_DELIVER,
    PROXY_HANDLE,
    REVIEW_NO,
    REVIEW_OK,
    STAFF,
    accept,
    dispatch,
    intake,
    review_and_revisit,
    revisit,
)
from tests.bpmn.scenario import Scenario, World, bj


def _proxy_pass(s: Scenario, *, first_due: datetime, due: datetime) -> None:
    """代办: collect → handle at the office → deliver, 30 minutes apart."""
    s.complete("proxy_collect", as_="grid1", data=PROXY_COLLECT, **GRID, expect_due=first_due)
    s.advance(minutes=30)
    s.complete("proxy_handle", as_="staff1", data=PROXY_HANDLE, **STAFF, expect_due=due)
    s.advance(minutes=30)
    s.complete(
        "proxy_deliver", as_="grid1", data=PROXY_DELIVER, **GRID, expect_due=due, next=["review"]
    )


def test_override_reminders_rework_and_reopen_once(world: World) -> None:
    """The caseworker overrides 即办 with 代办 (audited with a reason); the handlers let the
    reminders and the chase fire; the reviewer sends it back once (rework: 2 working days);
    the resident is unsatisfied, so it is reopened once (重办) and passes review again;
    unsatisfied a second time, it closes (one reopen only)."""
    s = world.open(intake=intake())
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(on_spot=True), **STAFF)
    s.expect_case(mode="immediate")
    s.advance(minutes=20)  # 10:00
    s.complete(
        "dispatch",
        as_="staff1",
        data=dispatch("proxy", "需要代为到供电所办理"),
        **STAFF,
        next=["proxy_collect"],
    )
    s.expect_case(mode="proxy", stage="supervise", due=bj(3, 10, 10, 0))
    s.expect_data(
        mode_overridden=True, proposed_mode="immediate", override_reason="需要代为到供电所办理"
    )
    s.advance_to(bj(3, 10, 10, 30), fires=["bt_remind_50", "bt_remind_80", "bt_due"])
    assert s.audited("chase_due") == {
        "reminder": {
            "kind": "chase",
            "due_at": "2025-03-10T02:00:00+00:00",
            "at": "2025-03-10T02:00:01+00:00",
        }
    }
    s.expect_timers(("bt_overdue", bj(3, 11, 10, 0)))
    _proxy_pass(s, first_due=bj(3, 4, 10, 0), due=bj(3, 10, 10, 0))
    # 审单 rejects: the rework pass gets 2 working days from now, reminders re-armed
    s.advance_to(bj(3, 10, 14, 0))
    s.complete("review", as_="leader1", data=REVIEW_NO, **LEADER, next=["proxy_collect"])
    s.expect_case(stage="supervise", due=bj(3, 10, 10, 0))  # the case's own due time stays
    s.expect_data(rework_count=1, pass_kind="rework")
    s.expect_timers(
        ("bt_remind_50", bj(3, 11, 14, 0)),
        ("bt_remind_80", bj(3, 12, 9, 30)),
        ("bt_due", bj(3, 12, 14, 0)),
        ("bt_overdue", bj(3, 13, 14, 0)),
    )
    s.advance(hours=1)
    _proxy_pass(s, first_due=bj(3, 11, 14, 0), due=bj(3, 12, 14, 0))
    s.advance_to(bj(3, 10, 16, 30))
    s.complete("review", as_="leader1", data=REVIEW_OK, **LEADER, next=[])
    s.advance_to(bj(3, 11, 16, 31), fires=["wait_revisit"])
    s.advance_to(bj(3, 11, 17, 0))
    # 回访 unsatisfied → 重办: a full pass again (5 working days), counters reset
    s.complete(
        "revisit", as_="staff1", data=revisit("unsatisfied"), **STAFF, next=["proxy_collect"]
    )
    s.expect_case(stage="supervise", status="open")
    s.expect_data(reopen_count=1, rework_count=0, pass_kind="reopen")
    s.expect_timers(
        ("bt_remind_50", bj(3, 14, 11, 45)),
        ("bt_remind_80", bj(3, 17, 17, 0)),
        ("bt_due", bj(3, 18, 17, 0)),
        ("bt_overdue", bj(3, 19, 17, 0)),
    )
    s.advance_to(bj(3, 12, 9, 30))
    _proxy_pass(s, first_due=bj(3, 12, 17, 0), due=bj(3, 18, 17, 0))
    review_and_revisit(
        s, review_at=(3, 12, 11, 0), revisit_at=(3, 13, 11, 0), satisfaction="unsatisfied"
    )
    s.expect_data(satisfaction="unsatisfied", reopen_count=1)
    s.finish(status="closed", end="end_closed")


def test_rework_exhausted_goes_on_the_ledger(world: World) -> None:
    """挂账: rejected four times (3 reworks allowed), the leader writes the explanation and the
    case goes on the long-term ledger."""
    s = world.open(intake=intake())
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(on_spot=True), **STAFF)
    s.advance(minutes=20)  # 10:00
    s.complete("dispatch", as_="staff1", data=dispatch("immediate"), **STAFF)
    s.advance(minutes=30)
    s.complete("immediate_handle", as_="grid1", data=IMMEDIATE, **GRID, expect_due=bj(3, 3, 18, 0))
    # each rework pass has 2 working days from the rejection; a rejection in the lunch break
    # (12:00 is not a working moment) counts from 13:30
    for rework, due in ((1, bj(3, 5, 11, 0)), (2, bj(3, 5, 13, 30)), (3, bj(3, 5, 13, 30))):
        s.advance(minutes=30)
        s.complete("review", as_="leader1", data=REVIEW_NO, **LEADER, next=["immediate_handle"])
        s.expect_data(rework_count=rework)
        s.advance(minutes=30)
        s.complete("immediate_handle", as_="grid1", data=IMMEDIATE, **GRID, expect_due=due)
    s.advance(minutes=30)
    s.complete("review", as_="leader1", data=REVIEW_NO, **LEADER, next=["ledger"])
    s.expect_case(stage="review")
    s.advance(minutes=30)
    s.complete(
        "ledger",
        as_="leader1",
        data={"ledger_reason": "funding", "ledger_explanation": "需列入明年改造计划"},
        **LEADER,
        next=[],
    )
    s.expect_data(outcome="ledgered", rework_count=3, ledger_required=True)
    s.finish(status="ledgered", end="end_ledgered")


def test_overdue_escalates_to_the_community(world: World) -> None:
    """超期提级: nobody handles a 即办 case; the reminders and the chase fire, and one working
    day after the due time the interrupting escalation takes the task away from the grid and
    gives it to the community leader, who solves it."""
    s = world.open(intake=intake())
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(on_spot=True), **STAFF)
    s.advance(minutes=20)  # 10:00
    s.complete(
        "dispatch", as_="staff1", data=dispatch("immediate"), **STAFF, next=["immediate_handle"]
    )
    s.advance_to(bj(3, 4, 10, 30), fires=["bt_remind_50", "bt_remind_80", "bt_due", "bt_overdue"])
    s.expect_open("community_coordinate")
    assert s.task_statuses("immediate_handle") == ["cancelled"]
    s.expect_case(mode="escalated", stage="supervise", due=bj(3, 3, 18, 0))
    s.expect_data(
        escalated_reason="overdue", escalated_from_mode="immediate", escalation_level="community"
    )
    s.complete(
        "community_coordinate",
        as_="leader1",
        data={
            "coordinate_decision": "resolved",
            "coordination_note": "社区协调物业",
            "result_summary": "物业已维修",
        },
        **LEADER,
        expect_due=bj(3, 6, 10, 0, 1),  # 2 working days from the escalation (10:00:01)
        next=["review"],
    )
    review_and_revisit(s, review_at=(3, 4, 14, 0), revisit_at=(3, 5, 14, 0))
    s.finish(status="closed", end="end_closed")


def test_escalated_at_dispatch_community_solves_and_reworks(world: World) -> None:
    """提级办 by the caseworker: the community coordinates and solves it without a whistle;
    the reviewer sends it back, and the rework goes back to the community."""
    s = world.open(intake=intake(category="0601", title="小区电梯故障 Lift broken"))
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(depts=True), **STAFF)
    s.expect_data(proposed_mode="escalated", sla_tier="complex")
    s.advance(minutes=20)  # 10:00
    s.complete(
        "dispatch", as_="staff1", data=dispatch("escalated"), **STAFF, next=["community_coordinate"]
    )
    # the complex tier: 15 working days
    s.expect_case(mode="escalated", stage="supervise", due=bj(3, 24, 10, 0))
    s.expect_data(escalated_reason="dispatch", escalation_level="community")
    s.expect_timers()
    s.advance(minutes=30)
    s.complete(
        "community_coordinate",
        as_="leader1",
        data={
            "coordinate_decision": "resolved",
            "coordination_note": "协调物业维修",
            "result_summary": "已修复",
        },
        **LEADER,
        expect_due=bj(3, 5, 10, 0),
        next=["review"],
    )
    s.advance_to(bj(3, 4, 9, 30))
    s.complete("review", as_="leader1", data=REVIEW_NO, **LEADER, next=["community_coordinate"])
    s.expect_data(rework_count=1)
    s.advance(hours=1)
    s.complete(
        "community_coordinate",
        as_="leader1",
        data={
            "coordinate_decision": "resolved",
            "coordination_note": "更换主板",
            "result_summary": "已彻底修复",
        },
        **LEADER,
        expect_due=bj(3, 6, 9, 30),
        next=["review"],
    )
    review_and_revisit(s, review_at=(3, 4, 14, 0), revisit_at=(3, 5, 14, 0))
    s.finish(status="closed", end="end_closed")
