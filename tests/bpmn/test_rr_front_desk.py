"""群众诉求 resident_request at the 百通岗 one window (channel ``front_desk``): the front desk
closes the request at once, or hands it to the back office with a time limit and feeds the
back office's result back to the resident. See test_rr_modes.py for the time conventions.
"""

from __future__ import annotations

from tests.bpmn.rr import STAFF, accept, intake
from tests.bpmn.scenario import World, bj


def test_front_desk_closes_at_once(world: World) -> None:
    """百通岗当场办结: answered at the window; the case closes in the same step."""
    s = world.open(intake=intake(channel="front_desk", request_type="consult"))
    s.advance(minutes=10)
    s.complete(
        "accept",
        as_="staff1",
        data=accept(front_desk_action="close_at_once", front_desk_result="已当场解答"),
        **STAFF,
        next=[],
    )
    s.expect_case(mode="immediate")
    s.expect_data(front_desk_closed=True, result_summary="已当场解答", outcome="closed")
    s.finish(status="closed", end="end_closed")


def test_front_desk_hands_to_the_back_office(world: World) -> None:
    """百通岗转后台: a water-supply request (utilities tier: 24 calendar hours) goes to the
    back office, which is chased when the limit passes; the desk then feeds the result back."""
    s = world.open(intake=intake(channel="front_desk", category="0404", title="停水 No water"))
    s.advance(minutes=10)  # 09:40
    s.complete(
        "accept",
        as_="staff1",
        data=accept(front_desk_action="back_office"),
        **STAFF,
        next=["back_office_handle"],
    )
    s.expect_data(sla_tier="utilities", front_desk_closed=False)
    s.expect_case(stage="supervise")
    s.expect_timers(("bt_back_office_due", bj(3, 4, 9, 40)))
    s.advance_to(bj(3, 4, 10, 0), fires=["bt_back_office_due"])
    assert s.audited("back_office_chase") == {
        "chase": {
            "kind": "back_office_due",
            "due_at": "2025-03-04T01:40:00+00:00",
            "at": "2025-03-04T01:40:01+00:00",
        }
    }
    s.complete(
        "back_office_handle",
        as_="staff1",
        data={"result_summary": "已联系自来水公司恢复供水"},
        **STAFF,
        expect_due=bj(3, 4, 9, 40),
        next=["front_desk_feedback"],
    )
    s.expect_case(stage="revisit")
    s.advance(minutes=30)
    s.complete(
        "front_desk_feedback",
        as_="staff1",
        data={"feedback_method": "phone", "satisfaction": "satisfied"},
        **STAFF,
        next=[],
    )
    s.finish(status="closed", end="end_closed")
