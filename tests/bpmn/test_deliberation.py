"""睦邻协商六步法 neighbourhood deliberation: 民事民提 propose → 民议 deliberate → 民筹 fund →
民决 decide by vote → 民办 implement → 民评 evaluate.

Limits (set_policy of deliberation.bpmn): a vote passes with more than half of the votes cast
in favour and at least half of the eligible households voting; 2 rounds of deliberation at
most; the decision is published for 5 working days before implementation. Times as in
test_rr_modes.py (``bj`` = Beijing, 2025).
"""

from __future__ import annotations

from typing import Any

from tests.bpmn.scenario import Scenario, World, bj

GRID = {"expect_role": "grid_worker", "expect_unit": "G-01"}
STAFF = {"expect_role": "community_staff", "expect_unit": "C-01"}
LEADER = {"expect_role": "community_leader", "expect_unit": "C-01"}
RESIDENT = {"expect_role": "resident", "expect_unit": "G-01"}

INTAKE: dict[str, Any] = {
    "title": "加装电梯 Add a lift to building 5",
    "description": "5号楼居民提议加装电梯",
    "category": "0601",
    "request_type": "suggestion",
    "channel": "resident_online",
    "org_unit": "G-01",
}
PROPOSE = {"topic_title": "加装电梯", "topic_detail": "5号楼加装电梯, 方便老人出行"}
DELIBERATE = {
    "meeting_at": "2025-03-05T11:00:00+00:00",
    "participants": 30,
    "options": ["方案A: 平层入户", "方案B: 半层入户"],
    "deliberation_record": "会议记录",
}
FUND = {"budget_total": 500000, "funding_plan": "居民自筹+政府补贴"}


def _vote(votes_for: int, against: int, abstain: int = 0) -> dict[str, Any]:
    return {
        "eligible_households": 40,
        "votes_for": votes_for,
        "votes_against": against,
        "votes_abstain": abstain,
        "vote_method": "meeting",
    }


def _accepted(world: World) -> Scenario:
    s = world.open(intake=INTAKE, process="deliberation")
    s.expect_case(stage="accept")
    s.advance(minutes=30)
    s.complete("propose", as_="resident1", data=PROPOSE, **RESIDENT, next=["accept_topic"])
    s.advance(hours=1)
    s.complete(
        "accept_topic",
        as_="leader1",
        data={"topic_accepted": True, "accept_note": "立项"},
        **LEADER,
        next=["deliberate"],
    )
    return s


def _round(s: Scenario, vote: dict[str, Any], *, next: list[str]) -> None:
    """民议 → 民筹 → 民决, a day apart."""
    s.advance(days=1)
    s.complete("deliberate", as_="staff1", data=DELIBERATE, **STAFF, next=["fund"])
    s.advance(days=1)
    s.expect_case(stage="dispatch")
    s.complete("fund", as_="staff1", data=FUND, **STAFF, next=["decide"])
    s.expect_case(stage="review")
    s.advance(days=1)
    s.complete("decide", as_="staff1", data=vote, **STAFF, next=next)


def test_six_steps_vote_passes(world: World) -> None:
    s = _accepted(world)  # Monday 11:00
    _round(s, _vote(30, 5, 1), next=[])  # decided Thursday 6 March, 11:00
    s.expect_data(vote_passed=True, round_count=1, votes_cast=36, turnout=0.9)
    s.expect_timers(("wait_publicity", bj(3, 13, 11, 0)))  # publicity: 5 working days
    s.advance_to(bj(3, 13, 11, 1), fires=["wait_publicity"])
    s.expect_case(stage="supervise")
    s.advance_to(bj(3, 17, 9, 30))
    s.complete(
        "implement",
        as_="grid1",
        data={"implementation_report": "电梯已安装"},
        **GRID,
        next=["evaluate"],
    )
    s.expect_case(stage="revisit")
    s.advance(days=1)
    s.complete("evaluate", as_="resident1", data={"evaluation": "satisfied"}, **RESIDENT, next=[])
    s.expect_data(outcome="completed")
    s.finish(status="closed", end="end_completed")


def test_topic_declined(world: World) -> None:
    s = world.open(intake=INTAKE, process="deliberation")
    s.advance(minutes=30)
    s.complete("propose", as_="resident1", data=PROPOSE, **RESIDENT)
    s.advance(hours=1)
    s.complete(
        "accept_topic",
        as_="leader1",
        data={"topic_accepted": False, "accept_note": "不属社区事务"},
        **LEADER,
        next=[],
    )
    s.expect_data(outcome="declined")
    s.finish(status="closed", end="end_declined")


def test_vote_fails_twice_and_the_topic_is_dropped(world: World) -> None:
    """Round 1: turnout fine but most vote against; round 2: too few households vote."""
    s = _accepted(world)
    _round(s, _vote(10, 25), next=["deliberate"])
    s.expect_data(vote_passed=False, round_count=1)
    _round(s, _vote(5, 5), next=[])
    s.expect_data(vote_passed=False, round_count=2, turnout=0.25, outcome="rejected")
    s.finish(status="closed", end="end_rejected")
