"""A burst fires in groups: several cases' timers per transaction, and one bad timer in a
group costs only its own retry, never the others' firing."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import event, update

from app.core.models import CaseEvent, ProcessInstance, Timer
from app.extensions import db
from app.sla import scheduler
from app.sla.scheduler import fire_due
from tests.app.sla.support import deploy_timer_process, start_timer_case


def _fired_cases() -> set[int]:
    db.session.rollback()
    return set(
        db.session.scalars(db.select(CaseEvent.case_id).where(CaseEvent.type == "timer.fired"))
    )


def test_a_burst_fires_a_group_of_cases_in_one_commit(app: Flask, org: dict, clock) -> None:
    deploy_timer_process()
    cases = [start_timer_case(clock.now() + timedelta(minutes=1)) for _ in range(5)]
    clock.advance(timedelta(minutes=2))
    commits = []
    listener = lambda conn: commits.append(1)  # noqa: E731
    event.listen(db.engine, "commit", listener)
    try:
        assert fire_due(owner="t") == 5
    finally:
        event.remove(db.engine, "commit", listener)
    assert len(commits) == 2  # the claim, then one group of five
    assert _fired_cases() == {c.id for c in cases}
    assert db.session.scalar(db.select(db.func.count()).select_from(Timer)) == 0


def test_one_broken_timer_in_a_group_fails_alone(app: Flask, org: dict, clock, monkeypatch) -> None:
    deploy_timer_process()
    cases = [start_timer_case(clock.now() + timedelta(minutes=1)) for _ in range(4)]
    broken = cases[2]
    with db.session.begin():  # a corrupted instance row: loading it fails
        db.session.execute(
            update(ProcessInstance)
            .where(ProcessInstance.id == broken.instance_id)
            .values(state='{"not": "an instance"}')
        )
    clock.advance(timedelta(minutes=2))
    monkeypatch.setattr(scheduler, "GROUP", 4)
    assert fire_due(owner="t") == 3
    assert _fired_cases() == {c.id for c in cases} - {broken.id}
    timer = db.session.scalars(db.select(Timer).where(Timer.case_id == broken.id)).one()
    assert timer.retries == 1 and timer.status == "pending" and timer.last_error
    assert db.session.scalar(db.select(db.func.count()).select_from(Timer)) == 1
