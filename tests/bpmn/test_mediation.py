"""四级调解 four-level mediation: building → compound → community → street; each level resolves
the dispute or passes it up (by decision, or when its time runs out); the street's limit only
chases; unresolved at the street, the parties are referred to court or arbitration. A resolved
dispute is followed up 10 working days after the agreement.

Limits (set_policy of mediation.bpmn): building 3, compound 5, community 10, street 15 working
days. The start level is start data (``start_level``; default building): intake does not carry
it, so those scenarios start the case through the unit of work directly. Times as in
test_rr_modes.py (``bj`` = Beijing, 2025).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.bpmn.scenario import Scenario, World, bj

BUILDING = {"expect_role": "building_head", "expect_unit": "G-01"}
GRID = {"expect_role": "grid_worker", "expect_unit": "G-01"}
STAFF = {"expect_role": "community_staff", "expect_unit": "C-01"}
STREET = {"expect_role": "street_dispatcher", "expect_unit": "S-01"}
WHO = {
    "building": ("building1", BUILDING),
    "compound": ("grid1", GRID),
    "community": ("staff1", STAFF),
    "street": ("dispatcher", STREET),
}

INTAKE: dict[str, Any] = {
    "title": "楼上漏水纠纷 Leak dispute",
    "description": "501漏水至401, 双方协商不成",
    "category": "1001",
    "request_type": "complaint",
    "channel": "building_head",
    "org_unit": "G-01",
}


def _open(world: World, start_level: str | None = None) -> Scenario:
    start = None if start_level is None else {"start_level": start_level}
    return world.open(intake=INTAKE, as_="building1", process="mediation", start_data=start)


def _mediate(s: Scenario, level: str, result: str, *, due: Any, next: list[str]) -> None:
    data = {"mediation_result": result, "mediation_note": "组织双方调解"}
    if result == "resolved":
        data["agreement_summary"] = "501承担维修费用"
    user, who = WHO[level]
    s.complete(f"mediate_{level}", as_=user, data=data, **who, expect_due=due, next=next)


def _follow_up(s: Scenario, *, at: Any, level: str) -> None:
    """回访 10 working days after the agreement (``at``), then the case closes."""
    s.expect_timers(("wait_follow_up", at))
    s.advance_to(at + timedelta(seconds=1), fires=["wait_follow_up"])
    s.expect_case(stage="revisit")
    s.advance(hours=1)
    s.complete(
        "follow_up",
        as_="staff1",
        data={"agreement_kept": True, "satisfaction": "satisfied"},
        **STAFF,
        next=[],
    )
    s.expect_data(outcome="resolved", resolved_level=level)
    s.finish(status="closed", end="end_resolved")


def test_resolved_at_the_building(world: World) -> None:
    """Opened by the building head (楼栋长) with no start level: the building mediates first."""
    s = _open(world)
    s.expect_case(stage="supervise")
    s.advance_to(bj(3, 3, 14, 0))
    _mediate(s, "building", "resolved", due=bj(3, 6, 9, 30), next=[])
    _follow_up(s, at=bj(3, 17, 14, 0), level="building")


def test_passed_up_to_the_compound_and_resolved(world: World) -> None:
    s = _open(world, "building")
    s.advance(hours=1)  # 10:30
    _mediate(s, "building", "pass_up", due=bj(3, 6, 9, 30), next=["mediate_compound"])
    s.advance_to(bj(3, 5, 10, 0))
    _mediate(s, "compound", "resolved", due=bj(3, 10, 10, 30), next=[])
    _follow_up(s, at=bj(3, 19, 10, 0), level="compound")


def test_building_times_out_compound_passes_up_community_resolves(world: World) -> None:
    s = _open(world)
    s.advance_to(bj(3, 6, 9, 31), fires=["bt_building_timeout"])
    assert s.task_statuses("mediate_building") == ["cancelled"]
    s.expect_open("mediate_compound")
    s.advance_to(bj(3, 7, 10, 0))
    _mediate(s, "compound", "pass_up", due=bj(3, 13, 9, 30, 1), next=["mediate_community"])
    s.advance_to(bj(3, 12, 15, 0))
    _mediate(s, "community", "resolved", due=bj(3, 21, 10, 0), next=[])
    _follow_up(s, at=bj(3, 26, 15, 0), level="community")


def test_compound_and_community_time_out_street_chased_and_resolves(world: World) -> None:
    """From the compound: both lower levels run out of time; the street's 15 working days
    cross the 清明 holiday (4 April), its chase fires, and it still resolves; the follow-up's
    10 working days count Sunday 27 April, a make-up working day."""
    s = _open(world, "compound")
    s.expect_timers(("bt_compound_timeout", bj(3, 10, 9, 30)))
    s.advance_to(bj(3, 10, 9, 31), fires=["bt_compound_timeout"])
    s.expect_timers(("bt_community_timeout", bj(3, 24, 9, 30, 1)))
    s.advance_to(bj(3, 24, 9, 31), fires=["bt_community_timeout"])
    s.expect_open("mediate_street")
    s.expect_timers(("bt_street_due", bj(4, 15, 9, 30, 2)))
    s.advance_to(bj(4, 15, 10, 0), fires=["bt_street_due"])
    assert s.audited("chase_street") == {
        "chase": {
            "kind": "mediation_due",
            "due_at": "2025-04-15T01:30:02+00:00",
            "at": "2025-04-15T01:30:03+00:00",
        }
    }
    s.advance_to(bj(4, 15, 14, 0))
    _mediate(s, "street", "resolved", due=bj(4, 15, 9, 30, 2), next=[])
    _follow_up(s, at=bj(4, 28, 14, 0), level="street")


def test_from_the_community_street_fails_referred_out(world: World) -> None:
    s = _open(world, "community")
    s.advance(hours=1)
    _mediate(s, "community", "pass_up", due=bj(3, 17, 9, 30), next=["mediate_street"])
    s.advance(hours=1)
    _mediate(s, "street", "pass_up", due=bj(3, 24, 10, 30), next=[])
    s.expect_data(outcome="referred")
    s.finish(status="closed", end="end_referred")


def test_from_the_street_resolved(world: World) -> None:
    s = _open(world, "street")
    s.advance(hours=1)
    _mediate(s, "street", "resolved", due=bj(3, 24, 9, 30), next=[])
    _follow_up(s, at=bj(3, 17, 10, 30), level="street")
