"""群众诉求 resident_request: 吹哨报到 at the street. The dispatcher picks departments (one
parallel instance each); each 认领 claims within 2 working hours (chased after), may 退单
return a misrouted order within 2 working days (the dispatcher re-routes it; unclaimed past
that, it is deemed claimed), 整改 rectifies, may ask for 延期 an extension (the supervisor
approves or refuses; once), and 答卷 answers. See test_rr_modes.py for the time conventions.
"""

from __future__ import annotations

from datetime import datetime

from tests.bpmn.rr import (
    LEADER,
    STAFF,
    STREET,
    SUPERVISOR,
    accept,
    dept,
    dispatch,
    intake,
    review_and_revisit,
)
from tests.bpmn.scenario import Scenario, World, bj


def _escalate_to_the_street(
    s: Scenario, *, case_due: datetime, whistle_due: datetime, flag_at: datetime
) -> None:
    """接单 (needs departments) → 派单 提级办 → 社区协调 escalates → the street's whistle task."""
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(depts=True), **STAFF)
    s.advance(minutes=20)
    s.complete(
        "dispatch", as_="staff1", data=dispatch("escalated"), **STAFF, next=["community_coordinate"]
    )
    s.expect_case(mode="escalated", due=case_due)
    s.advance(minutes=30)
    s.complete(
        "community_coordinate",
        as_="leader1",
        data={"coordinate_decision": "escalate_street", "coordination_note": "涉及多个部门"},
        **LEADER,
        next=["whistle"],
    )
    s.expect_case(stage="dispatch")
    s.expect_data(escalation_level="street")
    s.expect_timers(("bt_supervisor_flag", flag_at))
    assert datetime.fromisoformat(s.data["whistle_due_at"]) == whistle_due


def test_whistle_claim_return_extension_reroute_and_auto_claim(world: World) -> None:
    """Two departments are whistled: 城管 D-CITY claims late (chased), asks for an extension
    (approved: 10 working days) and is chased again at the new due time before answering;
    住建 D-HOUSING returns the order as misrouted; the dispatcher re-routes it to 水务 D-WATER,
    which never claims: chased after 2 working hours, deemed claimed after 2 working days."""
    s = world.open(intake=intake(category="0601", title="加压泵房漏水 Pump room leaking"))
    _escalate_to_the_street(
        s, case_due=bj(3, 24, 10, 0), whistle_due=bj(3, 24, 10, 30), flag_at=bj(3, 31, 10, 30)
    )
    s.advance(minutes=30)  # 11:00
    s.complete(
        "whistle",
        as_="dispatcher",
        data={"departments": ["D-CITY", "D-HOUSING"], "whistle_note": "泵房漏水, 涉及城管、住建"},
        **STREET,
        next=["claim@D-CITY", "claim@D-HOUSING"],
    )
    s.expect_case(stage="supervise")
    # each department must claim within 2 working hours (11:00 → 14:30 over lunch)
    assert [t.due_at for t in s.open_tasks()] == [bj(3, 3, 14, 30)] * 2
    s.expect_timers(
        ("bt_claim_chase", bj(3, 3, 14, 30)),
        ("bt_claim_chase", bj(3, 3, 14, 30)),
        ("bt_return_deadline", bj(3, 5, 11, 0)),
        ("bt_return_deadline", bj(3, 5, 11, 0)),
        ("bt_supervisor_flag", bj(3, 31, 10, 30)),
    )
    s.advance_to(bj(3, 3, 15, 0), fires=["bt_claim_chase", "bt_claim_chase"])
    s.complete(
        "claim",
        as_="dept_city",
        data={"claim_action": "claim"},
        **dept("D-CITY"),
        next=["claim@D-HOUSING", "rectify@D-CITY"],
    )
    s.advance(minutes=30)
    s.complete(
        "claim",
        as_="dept_housing",
        data={"claim_action": "return", "return_reason": "泵房归水务所管理, 不属本部门职责"},
        **dept("D-HOUSING"),
        next=["rectify@D-CITY"],
    )
    # 延期: asked the next morning, approved by the supervisor for 10 working days
    s.advance_to(bj(3, 4, 10, 0))
    s.complete(
        "rectify",
        as_="dept_city",
        data={
            "rectify_status": "extension",
            "rectify_note": "需采购配件",
            "extension_reason": "配件到货需时",
            "extension_days_requested": 10,
        },
        **dept("D-CITY"),
        expect_due=bj(3, 24, 10, 30),
        next=["approve_extension"],
    )
    s.advance(hours=1)
    s.complete(
        "approve_extension",
        as_="supervisor",
        data={"extension_decision": "approve", "extension_days_granted": 10},
        **SUPERVISOR,
        next=["rectify@D-CITY"],
    )
    s.expect_timers(("bt_rectify_due", bj(3, 18, 11, 0)), ("bt_supervisor_flag", bj(3, 31, 10, 30)))
    s.advance_to(bj(3, 18, 14, 0), fires=["bt_rectify_due"])
    s.complete(
        "rectify",
        as_="dept_city",
        data={"rectify_status": "done", "rectify_note": "已更换配件"},
        **dept("D-CITY"),
        expect_due=bj(3, 18, 11, 0),
        next=["answer@D-CITY"],
    )
    s.advance(minutes=30)
    s.complete(
        "answer",
        as_="dept_city",
        data={"answer_status": "solved", "answer_summary": "泵房已修复", "evidence": ["照片1"]},
        **dept("D-CITY"),
        expect_due=bj(3, 18, 11, 0),
        next=["reroute"],
    )
    # 改派: the returned order goes to the water utility
    s.expect_case(stage="dispatch")
    s.advance(minutes=30)  # 15:00
    s.complete(
        "reroute",
        as_="dispatcher",
        data={"departments": ["D-WATER"], "reroute_note": "泵房归水务所"},
        **STREET,
        next=["claim@D-WATER"],
    )
    s.expect_data(reroute_count=1, return_allowed=True)
    s.expect_timers(
        ("bt_claim_chase", bj(3, 18, 17, 0)),
        ("bt_return_deadline", bj(3, 20, 15, 0)),
        ("bt_supervisor_flag", bj(3, 31, 10, 30)),
    )
    s.advance_to(bj(3, 20, 15, 30), fires=["bt_claim_chase", "bt_return_deadline"])
    assert s.task_statuses("claim", unit="D-WATER") == ["cancelled"]  # deemed claimed
    s.advance_to(bj(3, 21, 10, 0))
    s.complete(
        "rectify",
        as_="dept_water",
        data={"rectify_status": "done", "rectify_note": "已检修管道"},
        **dept("D-WATER"),
        expect_due=bj(3, 24, 10, 30),
    )
    s.advance(minutes=30)
    s.complete(
        "answer",
        as_="dept_water",
        data={"answer_status": "solved", "answer_summary": "管道已检修"},
        **dept("D-WATER"),
        next=["review"],
    )
    answers = {(a["department"], a["status"]) for a in s.data["answers_all"]}
    assert answers == {("D-CITY", "solved"), ("D-HOUSING", "returned"), ("D-WATER", "solved")}
    assert [a.get("auto_claimed") for a in s.data["answers_all"] if a["status"] == "solved"] in (
        [False, True],
        [True, False],
    )
    review_and_revisit(s, review_at=(3, 21, 14, 0), revisit_at=(3, 24, 14, 0))
    s.expect_data(whistle_count=1, reroute_count=1)
    s.finish(status="closed", end="end_closed")


def test_whistle_extension_refused_unsolved_goes_on_the_ledger(world: World) -> None:
    """One department; its extension is refused; the second request cannot go to the
    supervisor again (once only), so it must answer: unsolved. The street supervisor is
    flagged 5 working days after the whistle's 15-day limit, both counted across the 清明
    holiday (Friday 4 April 2025); the case goes on the ledger (挂账)."""
    world.clock.set(bj(3, 17, 9, 30))
    s = world.open(intake=intake(category="0601", title="违建拆除 Illegal structure"))
    _escalate_to_the_street(
        s, case_due=bj(4, 8, 10, 0), whistle_due=bj(4, 8, 10, 30), flag_at=bj(4, 15, 10, 30)
    )
    s.advance(minutes=30)  # 11:00
    s.complete(
        "whistle",
        as_="dispatcher",
        data={"departments": ["D-CITY"], "whistle_note": "违建拆除"},
        **STREET,
        next=["claim@D-CITY"],
    )
    s.advance(minutes=30)
    s.complete(
        "claim",
        as_="dept_city",
        data={"claim_action": "claim"},
        **dept("D-CITY"),
        expect_due=bj(3, 17, 14, 30),
        next=["rectify@D-CITY"],
    )
    s.advance_to(bj(3, 18, 10, 0))
    extension = {
        "rectify_status": "extension",
        "rectify_note": "需走法律程序",
        "extension_reason": "程序时限",
        "extension_days_requested": 20,
    }
    s.complete(
        "rectify",
        as_="dept_city",
        data=extension,
        **dept("D-CITY"),
        expect_due=bj(4, 8, 10, 30),
        next=["approve_extension"],
    )
    s.advance(hours=1)
    s.complete(
        "approve_extension",
        as_="supervisor",
        data={"extension_decision": "refuse", "extension_comment": "请按期整改"},
        **SUPERVISOR,
        next=["rectify@D-CITY"],
    )
    s.expect_data(extension_count=1, extension_decision="refuse")
    s.advance_to(bj(3, 19, 10, 0))
    s.complete(
        "rectify",
        as_="dept_city",
        data=extension,
        **dept("D-CITY"),
        expect_due=bj(4, 8, 10, 30),
        next=["answer@D-CITY"],
    )
    s.advance_to(bj(4, 15, 11, 0), fires=["bt_supervisor_flag"])
    assert s.audited("flag_supervisor") == {
        "flag": {
            "kind": "whistle_overdue",
            "due_at": "2025-04-08T02:30:00+00:00",
            "at": "2025-04-15T02:30:01+00:00",
        }
    }
    s.complete(
        "answer",
        as_="dept_city",
        data={"answer_status": "unsolved", "answer_summary": "历史遗留, 需立法解决"},
        **dept("D-CITY"),
        expect_due=bj(4, 8, 10, 30),
        next=["ledger"],
    )
    s.expect_case(stage="review")
    s.advance_to(bj(4, 15, 14, 0))
    s.complete(
        "ledger",
        as_="leader1",
        data={
            "ledger_reason": "historical",
            "ledger_explanation": "历史遗留问题, 列入长期台账",
            "next_review_on": "2025-10-15",
        },
        **LEADER,
        next=[],
    )
    s.finish(status="ledgered", end="end_ledgered")


def test_department_steps_are_audited_and_their_tasks_projected(world: World) -> None:
    s = world.open(intake=intake(category="0601"))
    _escalate_to_the_street(
        s, case_due=bj(3, 24, 10, 0), whistle_due=bj(3, 24, 10, 30), flag_at=bj(3, 31, 10, 30)
    )
    s.advance(minutes=30)  # 11:00
    s.complete(
        "whistle",
        as_="dispatcher",
        data={"departments": ["D-CITY"], "whistle_note": "泵房漏水"},
        **STREET,
    )
    s.advance_to(bj(3, 3, 15, 0), fires=["bt_claim_chase"])
    s.complete(
        "claim",
        as_="dept_city",
        data={"claim_action": "claim"},
        **dept("D-CITY"),
        next=["rectify@D-CITY"],
    )
    # the department's claim was completed, not cancelled
    assert s.task_statuses("claim") == ["completed"]
    # and the audit trail has the chase and the claim, with the path taken
    assert s.audited("chase_claim") == {
        "chase": {
            "kind": "claim",
            "department": "D-CITY",
            "due_at": "2025-03-03T06:30:00+00:00",
            "at": "2025-03-03T06:30:01+00:00",
        }
    }
    claimed = s.events()[-1].data["finished"]
    assert ("init_department", "claim", "COMPLETED") in [
        (f["came_from"], f["bpmn_id"], f["state"]) for f in claimed
    ]
