"""挂起 pause/resume and 延期 extension: the deadline, the timer rows, the engine's own timers,
the data and the inbox move by the right working time; each action is one audit event; the
SLA state follows. The simple process: opened Mon 2025-03-03 09:30, reminder at 14:30, due
18:00 (Beijing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from app.core import hashchain, sla_actions, uow
from app.core.models import Case, ProcessInstance, Timer
from app.extensions import db
from app.sla.scheduler import fire_due
from app.sla.service import sla_state
from tests.app.api.support import as_user, prepare, problem
from tests.helpers import deploy_simple, events, only_task, open_simple_case
from tests.workflows.test_calendar import bj
from workflows import engine


@pytest.fixture
def case(org: dict, clock) -> Case:
    deploy_simple()
    return open_simple_case()


def _state(case: Case) -> dict:
    """Where everything stands: case due, timer row, the engine's timer, data, inbox."""
    db.session.rollback()
    row = db.session.get(Case, case.id)
    assert row is not None
    timer = db.session.scalars(db.select(Timer).where(Timer.case_id == case.id)).one()
    instance_row = db.session.get(ProcessInstance, row.instance_id)
    instance = engine.load_instance(uow.version_spec(instance_row.version), instance_row.state)
    [waiting] = instance.waiting_timers()
    return {
        "due": row.due_at,
        "timer": timer.due_at,
        "engine": waiting.due_at,
        "data": (instance.data["case_due_at"], instance.data["reminder_at"]),
        "task": only_task(row).due_at,
    }


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def test_resume_moves_everything_by_the_working_time_paused(case: Case, clock) -> None:
    clock.set(bj(2025, 3, 3, 10, 30))
    sla_actions.suspend_case(case_id=case.id, reason="等居民补材料", actor="staff1")
    assert sla_state(db.session.get(Case, case.id)).state == "paused"
    # paused past the reminder's time: the scheduler leaves it alone
    clock.set(bj(2025, 3, 3, 15))
    assert fire_due(owner="t") == 0
    paused = sla_state(db.session.get(Case, case.id))
    clock.set(bj(2025, 3, 4, 10))
    assert sla_state(db.session.get(Case, case.id)) == paused  # the clock stands still
    assert paused.remaining_working == 6 * 3600  # 10:30 -> 18:00 less the lunch break
    # resumed Tue 11:00: 8 working hours paused (Mon 10:30-18:00, Tue 09:00-11:00)
    clock.set(bj(2025, 3, 4, 11))
    sla_actions.resume_case(case_id=case.id, actor="staff1", reason="材料已到")
    reminder, due = _utc(bj(2025, 3, 4, 15)), _utc(bj(2025, 3, 5, 9, 30))
    assert _state(case) == {
        "due": due,
        "timer": reminder,
        "engine": reminder,
        "data": (due.isoformat(), reminder.isoformat()),
        "task": due,
    }
    resumed = sla_state(db.session.get(Case, case.id))
    assert (resumed.state, resumed.remaining_working) == ("on_track", paused.remaining_working)
    trail = events(case)
    assert [e.type for e in trail] == ["case.opened", "case.suspended", "case.resumed"]
    assert trail[-1].data["paused_working_seconds"] == 8 * 3600
    assert trail[-1].data["moved"]["due_at"] == [
        _utc(bj(2025, 3, 3, 18)).isoformat(),
        due.isoformat(),
    ]
    assert trail[-1].data["moved"]["timers"][0]["to"] == reminder.isoformat()
    assert hashchain.first_broken(trail) is None
    # the reminder fires at its new time, not before, once
    clock.set(reminder)
    assert fire_due(owner="t") == 0
    clock.advance(timedelta(seconds=1))
    assert fire_due(owner="t") == 1
    assert db.session.get(Case, case.id).paused_seconds == 8 * 3600


def test_a_pause_over_a_public_holiday_counts_only_working_time(org: dict, clock) -> None:
    clock.set(bj(2025, 4, 30, 9, 30))  # the day before 五一 (05-01..05-05 off)
    deploy_simple()
    case = open_simple_case()
    clock.set(bj(2025, 4, 30, 10, 30))
    sla_actions.suspend_case(case_id=case.id, reason="r", actor="staff1")
    clock.set(bj(2025, 5, 6, 10))  # 7 working hours later: Apr 30 10:30-18:00, May 6 09-10
    sla_actions.resume_case(case_id=case.id, actor="staff1")
    state = _state(case)
    assert state["timer"] == state["engine"] == _utc(bj(2025, 5, 6, 14))  # 2.5 h still left
    assert state["due"] == _utc(bj(2025, 5, 6, 17, 30))  # 6 h still left
    assert events(case)[-1].data["paused_working_seconds"] == 7 * 3600


def test_a_pause_outside_working_hours_moves_nothing(case: Case, clock) -> None:
    before = _state(case)
    clock.set(bj(2025, 3, 3, 12, 5))
    sla_actions.suspend_case(case_id=case.id, reason="r", actor="staff1")
    clock.set(bj(2025, 3, 3, 13, 25))  # lunch break only
    sla_actions.resume_case(case_id=case.id, actor="staff1")
    assert _state(case) == before
    assert events(case)[-1].data["moved"]["timers"] == []


def test_an_urgent_case_pauses_in_calendar_time(org: dict, clock) -> None:
    deploy_simple()
    case = open_simple_case(urgent=True)
    before = _state(case)
    clock.set(bj(2025, 3, 3, 11))
    sla_actions.suspend_case(case_id=case.id, reason="r", actor="staff1")
    clock.set(bj(2025, 3, 3, 12, 30))  # 90 minutes around the clock, lunch included
    sla_actions.resume_case(case_id=case.id, actor="staff1")
    after = _state(case)
    assert after["timer"] - before["timer"] == timedelta(minutes=90)
    assert after["due"] - before["due"] == timedelta(minutes=90)


def test_extension_moves_the_deadline_and_its_reminder(case: Case, clock) -> None:
    clock.set(bj(2025, 3, 3, 10))
    sla_actions.extend_deadline(
        case_id=case.id, actor="leader1", reason="需协调", by=timedelta(hours=15)
    )  # 2 working days
    reminder, due = _utc(bj(2025, 3, 5, 14, 30)), _utc(bj(2025, 3, 5, 18))
    assert _state(case) == {
        "due": due,
        "timer": reminder,
        "engine": reminder,
        "data": (due.isoformat(), reminder.isoformat()),
        "task": due,
    }
    assert db.session.get(Case, case.id).extension_count == 1
    # to a given moment: the deadline lands exactly there, the reminder by as much work
    sla_actions.extend_deadline(
        case_id=case.id, actor="leader1", reason="再延", until=_utc(bj(2025, 3, 6, 12))
    )
    state = _state(case)
    assert state["due"] == state["task"] == _utc(bj(2025, 3, 6, 12))
    assert state["timer"] == state["engine"] == _utc(bj(2025, 3, 5, 17, 30))  # + 3 working h
    with pytest.raises(uow.Conflict):
        sla_actions.extend_deadline(
            case_id=case.id, actor="x", reason="r", by=timedelta(hours=1), max_extensions=2
        )
    assert [e.type for e in events(case)][-2:] == ["case.extended", "case.extended"]


def test_an_overdue_case_extended_late_clears_its_flag(case: Case, clock) -> None:
    from app.sla.service import flag_overdue_cases

    clock.set(bj(2025, 3, 3, 14, 31))
    assert fire_due(owner="t") == 1  # the reminder fired at 14:30
    clock.set(bj(2025, 3, 4, 10))
    assert flag_overdue_cases() == {"overdue": 1}
    assert flag_overdue_cases() == {}  # once
    assert db.session.get(Case, case.id).sla_flag == "overdue"
    sla_actions.extend_deadline(case_id=case.id, actor="x", reason="r", by=timedelta(hours=7.5))
    db.session.rollback()
    extended = db.session.get(Case, case.id)
    assert extended.due_at == _utc(bj(2025, 3, 4, 18)) and extended.sla_flag is None
    assert sla_state(extended).state == "on_track"


def test_the_api_guards_pause_resume_and_extension(app: Flask, org: dict, clock) -> None:
    client = prepare(app)
    staff = as_user(client, "staff1")
    case_id = staff.post("/api/v1/cases", json=_intake()).get_json()["id"]
    url = f"/api/v1/cases/{case_id}"
    problem(as_user(client, "auditor").post(f"{url}/suspend", json={"reason": "x"}), 403)
    problem(staff.post(f"{url}/suspend", json={}), 422)
    assert staff.post(f"{url}/suspend", json={"reason": "等材料"}).status_code == 200
    assert staff.get(f"{url}/sla").get_json()["state"] == "paused"
    problem(staff.post(f"{url}/suspend", json={"reason": "again"}), 409)
    leader = as_user(client, "leader1")
    problem(leader.post(f"{url}/extend", json={"reason": "r", "working_days": 1}), 409)
    clock.advance(timedelta(hours=1))
    assert staff.post(f"{url}/resume", json={}).status_code == 200
    problem(staff.post(f"{url}/resume", json={}), 409)
    sla = staff.get(f"{url}/sla").get_json()
    assert sla["state"] == "on_track" and sla["calendar"] == "national"
    assert sla["remaining_working"] == 7 * 3600  # 09:30 -> 18:00, the hour paused given back
    grid1 = as_user(client, "grid1")
    problem(grid1.post(f"{url}/extend", json={"reason": "r", "working_days": 1}), 403)
    problem(leader.post(f"{url}/extend", json={"reason": "r"}), 422)
    problem(
        leader.post(f"{url}/extend", json={"reason": "r", "until": "2025-03-01T00:00:00Z"}), 422
    )
    response = leader.post(f"{url}/extend", json={"reason": "r", "working_days": 1})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["due_at"] == "2025-03-05T02:00:00+00:00"  # Wed 10:00
    problem(leader.post(f"{url}/extend", json={"reason": "r", "working_hours": 2}), 409)  # once
    types = [e["type"] for e in staff.get(f"{url}/events").get_json()]
    assert types == ["case.opened", "case.suspended", "case.resumed", "case.extended"]


def _intake() -> dict:
    from tests.app.api.support import intake_body

    return intake_body()


def test_a_suspended_case_cannot_be_worked_until_resumed(case: Case) -> None:
    task_id = only_task(case).id
    sla_actions.suspend_case(case_id=case.id, reason="等待居民补充材料", actor="staff1")
    with pytest.raises(uow.Conflict, match="suspended"):
        uow.complete_task(task_id=task_id, data={"result": "done"}, actor="grid1")
    sla_actions.resume_case(case_id=case.id, actor="staff1")
    uow.complete_task(task_id=task_id, data={"result": "done"}, actor="grid1")
    assert only_task(case).bpmn_id == "review"


def test_the_case_page_and_api_show_a_paused_case_as_paused(case: Case) -> None:
    from app.cases.queries import sla_of

    assert sla_of(case)["state"] == "on_track"
    sla_actions.suspend_case(case_id=case.id, reason="等待居民补充材料", actor="staff1")
    db.session.refresh(case)
    assert sla_of(case)["state"] == "paused"
