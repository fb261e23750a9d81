"""Helpers the residents' and the reports' tests share: the shipped library with the demo org,
and a clock that fires every case's due timers on its way (as the scheduler's tick would)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.core.models import Case, CaseEvent, Timer
from app.extensions import db
from app.sla.scheduler import fire_due
from tests.bpmn.scenario import World, add_extra_users, deploy_all
from workflows.clock import FrozenClock


def shipped_world(clock: FrozenClock, nodeid: str) -> World:
    """bpmn/ deployed, the demo org plus the scenario users, the clock at Monday 3 March."""
    deploy_all()
    add_extra_users()
    return World(clock, nodeid)


def advance_to(clock: FrozenClock, moment: datetime) -> None:
    """Move the clock to ``moment``, firing each pending timer of any case one second after
    its due time on the way; a timer that fails fails the test."""
    assert moment >= clock.now(), "the clock only moves forward"
    while True:
        db.session.rollback()
        pending = db.session.scalars(
            select(Timer)
            .where(Timer.status == "pending", Timer.due_at < moment)
            .order_by(Timer.due_at)
        ).first()
        if pending is None:
            break
        clock.set(max(clock.now(), pending.due_at + timedelta(seconds=1)))
        assert fire_due(owner="test") >= 1, f"timer {pending.bpmn_id} did not fire"
        failed = db.session.scalars(select(Timer).where(Timer.last_error.is_not(None))).all()
        assert not failed, [(t.bpmn_id, t.last_error) for t in failed]
    clock.set(moment)


def case_row(case_id: int) -> Case:
    db.session.rollback()  # a fresh snapshot
    case = db.session.get(Case, case_id)
    assert case is not None
    return case


def last_event(case_id: int) -> CaseEvent:
    db.session.rollback()
    event = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq.desc())
    ).first()
    assert event is not None
    return event


def revisit(satisfaction: str = "satisfied", *, resolved: bool | None = None) -> dict[str, Any]:
    """A caseworker's 回访 form (by phone)."""
    data: dict[str, Any] = {
        "revisit_method": "phone",
        "resolved": satisfaction != "unsatisfied" if resolved is None else resolved,
        "satisfaction": satisfaction,
    }
    if satisfaction == "unsatisfied":
        data["unsatisfied_reason"] = "问题没有解决"
    return data
