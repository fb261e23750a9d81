"""小心愿 wish wall: collect → 核实 verify → post on the wall → a volunteer claims it →
fulfilled → the resident confirms; the volunteer earns points (服务兑换服务).

Limits (set_policy of wish_wall.bpmn): a posted wish waits 10 working days for a volunteer and
is reposted once; the volunteer has 10 working days to fulfil it; an unconfirmed wish is
fulfilled again once. Times as in test_rr_modes.py (``bj`` = Beijing, 2025).
"""

from __future__ import annotations

from typing import Any

from tests.bpmn.scenario import Scenario, World, bj

GRID = {"expect_role": "grid_worker", "expect_unit": "G-01"}
STAFF = {"expect_role": "community_staff", "expect_unit": "C-01"}
VOLUNTEER = {"expect_role": "volunteer", "expect_unit": "C-01"}
RESIDENT = {"expect_role": "resident", "expect_unit": "G-01"}

INTAKE: dict[str, Any] = {
    "title": "小心愿: 想要一台收音机",
    "description": "独居老人想听戏",
    "category": "0901",
    "request_type": "help",
    "channel": "grid_patrol",
    "org_unit": "G-01",
    "resident": {"age": 82, "mobility": "limited", "vulnerable": True},
}
COLLECT = {
    "wish_title": "想要一台收音机",
    "wish_detail": "独居老人想听戏",
    "beneficiary_group": "elderly_alone",
}
VERIFY = {"verified": True, "verify_note": "已入户核实", "wish_points": 10}
CLAIM = {"volunteer_id": "volunteer1", "planned_date": "2025-03-08"}
FULFIL = {"fulfilment_note": "已送收音机并教会使用"}


def _posted(world: World, *, claim_due: Any) -> Scenario:
    """Collected by the grid worker, verified by the community: on the wall."""
    s = world.open(intake=INTAKE, as_="grid1", process="wish_wall")
    s.expect_case(stage="accept", status="open")
    s.advance(minutes=30)
    s.complete("collect_wish", as_="grid1", data=COLLECT, **GRID, next=["verify_wish"])
    s.advance(hours=1)
    s.complete("verify_wish", as_="staff1", data=VERIFY, **STAFF, next=["claim_wish"])
    s.expect_case(stage="dispatch")
    s.expect_timers(("bt_unclaimed", claim_due))
    return s


def test_wish_fulfilled_and_points_awarded(world: World) -> None:
    s = _posted(world, claim_due=bj(3, 17, 11, 0))
    s.advance_to(bj(3, 4, 10, 0))
    s.complete(
        "claim_wish",
        as_="volunteer1",
        data=CLAIM,
        **VOLUNTEER,
        expect_due=bj(3, 17, 11, 0),
        next=["fulfil_wish"],
    )
    s.expect_case(stage="supervise")
    s.advance_to(bj(3, 8, 10, 0))  # a Saturday: volunteers work weekends
    s.complete(
        "fulfil_wish",
        as_="volunteer1",
        data=FULFIL,
        **VOLUNTEER,
        expect_due=bj(3, 18, 10, 0),
        next=["confirm_wish"],
    )
    s.advance(hours=5)
    s.complete(
        "confirm_wish", as_="resident1", data={"confirmed": True, "rating": 5}, **RESIDENT, next=[]
    )
    s.expect_data(outcome="fulfilled", points_awarded=10)
    assert s.audited("award_points")["points_entry"] == {
        "volunteer_id": "volunteer1",
        "points": 10,
        "reason": "wish_fulfilled",
        "case_code": s.case.code,
        "at": "2025-03-08T07:00:00+00:00",
    }
    s.finish(status="closed", end="end_fulfilled")


def test_wish_declined_at_verification(world: World) -> None:
    s = world.open(intake=INTAKE, as_="grid1", process="wish_wall")
    s.advance(minutes=30)
    s.complete("collect_wish", as_="grid1", data=COLLECT, **GRID)
    s.advance(hours=1)
    s.complete(
        "verify_wish",
        as_="staff1",
        data={"verified": False, "verify_note": "经核实家中已有", "decline_reason": "非困难对象"},
        **STAFF,
        next=[],
    )
    s.expect_data(outcome="rejected")
    s.finish(status="closed", end="end_rejected")


def test_wish_unclaimed_is_reposted_once_then_expires(world: World) -> None:
    """Posted on Monday 21 April 2025: the 10 working days count Sunday 27 April (a 调休
    make-up working day) and skip the 劳动节 holiday (1-5 May)."""
    world.clock.set(bj(4, 21, 9, 30))
    s = _posted(world, claim_due=bj(5, 7, 11, 0))
    s.advance_to(bj(5, 7, 11, 1), fires=["bt_unclaimed"])
    s.expect_open("claim_wish")
    s.expect_data(repost_count=1)
    assert s.task_statuses("claim_wish") == ["cancelled", "open"]
    s.expect_timers(("bt_unclaimed", bj(5, 21, 11, 0, 1)))
    s.advance_to(bj(5, 21, 11, 1), fires=["bt_unclaimed"])
    s.expect_data(outcome="expired", repost_count=1)
    s.finish(status="closed", end="end_expired")


def test_wish_reposted_claimed_then_unconfirmed_twice(world: World) -> None:
    """Nobody claims it at first; after the repost a volunteer does. The resident does not
    confirm: the volunteer fulfils it again (once), still unconfirmed, so no points."""
    s = _posted(world, claim_due=bj(3, 17, 11, 0))
    s.advance_to(bj(3, 17, 11, 1), fires=["bt_unclaimed"])
    s.expect_timers(("bt_unclaimed", bj(3, 31, 11, 0, 1)))
    s.advance_to(bj(3, 18, 10, 0))
    s.complete(
        "claim_wish",
        as_="volunteer1",
        data=CLAIM | {"planned_date": "2025-03-20"},
        **VOLUNTEER,
        expect_due=bj(3, 31, 11, 0, 1),
    )
    s.advance(days=1)
    s.complete(
        "fulfil_wish", as_="volunteer1", data=FULFIL, **VOLUNTEER, expect_due=bj(4, 1, 10, 0)
    )
    s.advance(days=1)
    s.complete(
        "confirm_wish", as_="resident1", data={"confirmed": False}, **RESIDENT, next=["fulfil_wish"]
    )
    s.expect_data(refulfil_count=1)
    s.advance(days=1)
    s.complete(
        "fulfil_wish", as_="volunteer1", data=FULFIL, **VOLUNTEER, expect_due=bj(4, 1, 10, 0)
    )
    s.advance(hours=3)
    s.complete(
        "confirm_wish",
        as_="resident1",
        data={"confirmed": False, "resident_comment": "收音机不响"},
        **RESIDENT,
        next=[],
    )
    s.expect_data(outcome="unconfirmed", points_awarded=0)
    s.finish(status="closed", end="end_unconfirmed")
