"""群众诉求 resident_request: one scenario per handling mode (派单 dispatch to the mode).

Every due time below was worked out by hand from the working-time rules (09:00-12:00 and
13:30-18:00 Beijing, Monday to Friday, the State Council holiday calendar) and the limits in
triage.dmn, mode_limits.dmn and the script task set_policy; ``bj(month, day, h, m)`` is a
Beijing wall-clock time in 2025. The clock starts on Monday 3 March 2025, 09:30.
"""

from __future__ import annotations

import pytest

from app.core import uow
from tests.bpmn.rr import (
    GRID,
    IMMEDIATE,
    LEADER,
    PROXY_COLLECT,
    PROXY_DELIVER,
    PROXY_HANDLE,
    STAFF,
    accept,
    dispatch,
    intake,
    review_and_revisit,
)
from tests.bpmn.scenario import World, bj


def test_immediate_on_the_spot_with_a_reminder(world: World) -> None:
    """即办: the same working day; the 50 % reminder fires while the grid worker is out."""
    s = world.open(intake=intake())
    s.expect_case(stage="accept", status="open", mode=None, due=None)
    s.advance(minutes=10)  # 09:40
    s.complete("accept", as_="staff1", data=accept(on_spot=True), **STAFF, next=["dispatch"])
    # triage proposes 即办 (on the spot, general tier); the case shows the proposal
    s.expect_case(stage="dispatch", mode="immediate", priority=3)
    s.advance(minutes=20)  # 10:00
    s.complete("dispatch", as_="staff1", data=dispatch("immediate"), **STAFF)
    # due at the end of the working day; reminders at 50 % / 80 % of the 6.5 working hours
    # left (10:00-12:00 + 13:30-18:00), the chase at 18:00, escalation one working day later
    s.expect_open("immediate_handle")
    s.expect_case(stage="supervise", mode="immediate", due=bj(3, 3, 18, 0))
    s.expect_timers(
        ("bt_remind_50", bj(3, 3, 14, 45)),
        ("bt_remind_80", bj(3, 3, 16, 42)),
        ("bt_due", bj(3, 3, 18, 0)),
        ("bt_overdue", bj(3, 4, 10, 0)),
    )
    s.advance_to(bj(3, 3, 15, 0), fires=["bt_remind_50"])
    s.complete("immediate_handle", as_="grid1", data=IMMEDIATE, **GRID, expect_due=bj(3, 3, 18, 0))
    s.expect_open("review")
    s.expect_case(stage="review")
    assert s.audited("remind_50") == {
        "reminder": {
            "kind": "remind_50",
            "due_at": "2025-03-03T10:00:00+00:00",
            "at": "2025-03-03T06:45:01+00:00",
        }
    }
    s.expect_data(mode_overridden=False)
    review_and_revisit(s, review_at=(3, 3, 15, 30), revisit_at=(3, 4, 15, 30))
    s.finish(status="closed", end="end_closed")
    assert [who for *_, who in s.sequence] == ["staff1", "staff1", "grid1", "leader1", "staff1"]
    # a closed case can no longer be withdrawn
    with pytest.raises(uow.Conflict):
        s.withdraw("太晚了")


def test_requested_accompany(world: World) -> None:
    """陪办 because the resident asked for it (requested_mode): appointment within 2 working
    days, handled within the general tier's 5 working days."""
    s = world.open(intake=intake(mode="accompany", title="陪同办理医保 Medical insurance"))
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(), **STAFF, next=["dispatch"])
    s.expect_case(mode="accompany", priority=3)
    s.advance(minutes=20)  # 10:00
    s.complete("dispatch", as_="staff1", data=dispatch("accompany"), **STAFF)
    s.expect_case(stage="supervise", due=bj(3, 10, 10, 0))
    s.expect_timers(
        ("bt_remind_50", bj(3, 5, 15, 15)),  # 18.75 of 37.5 working hours
        ("bt_remind_80", bj(3, 7, 10, 0)),  # 30 working hours
        ("bt_due", bj(3, 10, 10, 0)),
        ("bt_overdue", bj(3, 11, 10, 0)),
    )
    s.advance(hours=1)
    s.complete(
        "accompany_book",
        as_="grid1",
        data={"appointment_at": "2025-03-04T02:00:00+00:00", "appointment_place": "区医保中心"},
        **GRID,
        expect_due=bj(3, 5, 10, 0),  # first step within 2 working days
        next=["accompany_go"],
    )
    s.advance_to(bj(3, 4, 11, 30))
    s.complete(
        "accompany_go",
        as_="grid1",
        data={"accompanied": True},
        **GRID,
        expect_due=bj(3, 10, 10, 0),
        next=["accompany_record"],
    )
    s.advance_to(bj(3, 4, 14, 0))
    s.complete(
        "accompany_record",
        as_="grid1",
        data={"result_summary": "已陪同办理"},
        **GRID,
        next=["review"],
    )
    s.expect_data(proposed_mode="accompany", mode_overridden=False, first_step_days=2)
    review_and_revisit(s, review_at=(3, 4, 15, 0), revisit_at=(3, 5, 15, 0))
    s.finish(status="closed", end="end_closed")


def test_proxy_by_the_catch_all_rule(world: World) -> None:
    """代办: a consultation no rule singles out falls to the catch-all row (general tier)."""
    s = world.open(intake=intake(category="0901", request_type="consult"))
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(), **STAFF)
    s.expect_data(proposed_mode="proxy", sla_tier="general", triage_reason="一般 general")
    s.advance(minutes=20)  # 10:00
    s.complete("dispatch", as_="staff1", data=dispatch("proxy"), **STAFF, next=["proxy_collect"])
    s.advance_to(bj(3, 3, 14, 0))
    # the first step is due within the tier's response limit: 7.5 working hours
    s.complete(
        "proxy_collect",
        as_="grid1",
        data=PROXY_COLLECT,
        **GRID,
        expect_due=bj(3, 4, 10, 0),
        next=["proxy_handle"],
    )
    s.advance_to(bj(3, 4, 10, 0))
    s.complete(
        "proxy_handle",
        as_="staff1",
        data=PROXY_HANDLE,
        **STAFF,
        expect_due=bj(3, 10, 10, 0),
        next=["proxy_deliver"],
    )
    s.advance_to(bj(3, 4, 16, 0))
    s.complete(
        "proxy_deliver",
        as_="grid1",
        data=PROXY_DELIVER,
        **GRID,
        expect_due=bj(3, 10, 10, 0),
        next=["review"],
    )
    review_and_revisit(
        s, review_at=(3, 5, 9, 30), revisit_at=(3, 6, 9, 30), satisfaction="basically_satisfied"
    )
    s.finish(status="closed", end="end_closed")


def test_accompany_for_an_older_resident_over_the_weekend(world: World) -> None:
    """陪办 for a resident of 65 (triage's 60+ row); both reminders fire before the
    appointment; the revisit after a Friday review waits for Monday."""
    s = world.open(intake=intake(resident={"age": 65}))
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(), **STAFF)
    s.expect_data(proposed_mode="accompany", triage_reason="老年 aged 60+")
    s.advance(minutes=20)  # 10:00
    s.complete("dispatch", as_="staff1", data=dispatch("accompany"), **STAFF)
    s.advance(hours=1)
    s.complete(
        "accompany_book",
        as_="grid1",
        data={
            "appointment_at": "2025-03-07T01:30:00+00:00",
            "appointment_place": "街道政务服务中心",
        },
        **GRID,
        expect_due=bj(3, 5, 10, 0),
    )
    s.advance_to(bj(3, 7, 11, 0), fires=["bt_remind_50", "bt_remind_80"])
    assert s.audited("remind_80") == {
        "reminder": {
            "kind": "remind_80",
            "due_at": "2025-03-10T02:00:00+00:00",
            "at": "2025-03-07T02:00:01+00:00",
        }
    }
    s.complete("accompany_go", as_="grid1", data={"accompanied": True}, **GRID)
    s.advance(minutes=30)
    s.complete("accompany_record", as_="grid1", data={"result_summary": "已办理"}, **GRID)
    # reviewed on Friday 14:00: the next working day is Monday
    review_and_revisit(s, review_at=(3, 7, 14, 0), revisit_at=(3, 10, 14, 0))
    s.finish(status="closed", end="end_closed")


def test_home_visit_for_a_bedridden_resident(world: World) -> None:
    """上门办: the visit is due within 1 working day of dispatch (11:50 → Tuesday 11:50);
    the 7.5-hour response limit crosses the lunch break."""
    world.clock.set(bj(3, 3, 11, 20))
    s = world.open(intake=intake(resident={"age": None, "mobility": "bedridden"}))
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(), **STAFF)
    s.expect_case(mode="home_visit", priority=2)
    s.advance(minutes=20)  # 11:50
    s.complete("dispatch", as_="staff1", data=dispatch("home_visit"), **STAFF)
    s.expect_data(first_step_days=1, respond_due_at="2025-03-04T03:50:00+00:00")
    s.expect_timers(
        ("bt_remind_50", bj(3, 5, 17, 5)),
        ("bt_remind_80", bj(3, 7, 11, 50)),
        ("bt_due", bj(3, 10, 11, 50)),
        ("bt_overdue", bj(3, 11, 11, 50)),
    )
    s.advance_to(bj(3, 3, 14, 0))
    s.complete(
        "visit_schedule",
        as_="grid1",
        data={"visit_at": "2025-03-04T02:00:00+00:00"},
        **GRID,
        expect_due=bj(3, 4, 11, 50),
        next=["visit_handle"],
    )
    s.advance_to(bj(3, 4, 11, 0))
    s.complete(
        "visit_handle",
        as_="grid1",
        data={"visit_done": True, "visit_findings": "需办理护理补贴"},
        **GRID,
        expect_due=bj(3, 10, 11, 50),
    )
    s.advance_to(bj(3, 4, 14, 0))
    s.complete("visit_record", as_="grid1", data={"result_summary": "已代为申请"}, **GRID)
    review_and_revisit(s, review_at=(3, 4, 15, 0), revisit_at=(3, 5, 15, 0))
    s.finish(status="closed", end="end_closed")


def test_urgent_at_night_around_the_clock(world: World) -> None:
    """紧急立刻办 on a Saturday night: calendar time, respond within 30 min, resolve within
    2 h; the on-duty leader is alerted at once; the 30-minute response chase and both
    reminders fire before the pipe is fixed."""
    world.clock.set(bj(3, 8, 22, 0))  # Saturday
    s = world.open(
        intake=intake(urgent=True, category="0403", channel="hotline", title="水管爆裂 Burst pipe")
    )
    s.advance(minutes=5)
    s.complete("accept", as_="staff1", data=accept(), **STAFF)
    s.expect_data(sla_tier="urgent", respond_calendar=True, resolve_hours=2)
    s.expect_case(mode="urgent", priority=1)
    s.advance(minutes=5)  # 22:10
    s.complete("dispatch", as_="staff1", data=dispatch("urgent"), **STAFF)
    s.expect_open("urgent_handle", "urgent_leader_alert")
    s.expect_case(stage="supervise", due=bj(3, 9, 0, 10))
    s.expect_timers(
        ("bt_urgent_respond", bj(3, 8, 22, 40)),
        ("bt_remind_50", bj(3, 8, 23, 10)),
        ("bt_remind_80", bj(3, 8, 23, 46)),
        ("bt_due", bj(3, 9, 0, 10)),
        ("bt_overdue", bj(3, 9, 1, 10)),
    )
    s.advance_to(bj(3, 8, 22, 45), fires=["bt_urgent_respond"])
    assert s.audited("urgent_response_chase") == {
        "chase": {
            "kind": "urgent_response",
            "due_at": "2025-03-08T14:40:00+00:00",
            "at": "2025-03-08T14:40:01+00:00",
        }
    }
    s.complete(
        "urgent_leader_alert",
        as_="leader1",
        data={"leader_acknowledged": True},
        **LEADER,
        expect_due=bj(3, 9, 0, 10),
        next=["urgent_handle"],
    )
    s.advance_to(bj(3, 8, 23, 50), fires=["bt_remind_50", "bt_remind_80"])
    s.complete(
        "urgent_handle",
        as_="grid1",
        data={
            "arrived_at": "2025-03-08T14:50:00+00:00",
            "measures_taken": "关阀抢修",
            "result_summary": "管道已修复",
        },
        **GRID,
        expect_due=bj(3, 9, 0, 10),
        next=["review"],
    )
    s.expect_timers()
    # reviewed on Monday morning; the revisit is the next working day
    review_and_revisit(s, review_at=(3, 10, 9, 30), revisit_at=(3, 11, 9, 30))
    s.finish(status="closed", end="end_closed")


def test_green_channel_for_a_vulnerable_resident(world: World) -> None:
    """绿色通道办: shortened limits (respond ≤ 2 working hours, resolve ≤ 3 working days)
    and priority 1, handled by the community's own staff."""
    s = world.open(intake=intake(resident={"vulnerable": True}, title="残疾人证办理"))
    s.advance(minutes=10)
    s.complete("accept", as_="staff1", data=accept(), **STAFF)
    s.expect_case(mode="green_channel", priority=2)
    s.advance(minutes=20)  # 10:00
    s.complete("dispatch", as_="staff1", data=dispatch("green_channel"), **STAFF)
    s.expect_case(priority=1, due=bj(3, 6, 10, 0))
    s.expect_data(respond_hours=2, resolve_days=3, respond_due_at="2025-03-03T04:00:00+00:00")
    s.expect_timers(
        ("bt_remind_50", bj(3, 4, 15, 15)),
        ("bt_remind_80", bj(3, 5, 14, 30)),
        ("bt_due", bj(3, 6, 10, 0)),
        ("bt_overdue", bj(3, 7, 10, 0)),
    )
    s.advance_to(bj(3, 3, 16, 0))
    task = s.task("green_handle")
    assert task.priority == 1
    s.complete(
        "green_handle",
        as_="staff1",
        data={"green_item": "残疾人证办理", "result_summary": "已办结"},
        **STAFF,
        expect_due=bj(3, 6, 10, 0),
        next=["review"],
    )
    review_and_revisit(s, review_at=(3, 4, 9, 30), revisit_at=(3, 5, 9, 30))
    s.finish(status="closed", end="end_closed")
