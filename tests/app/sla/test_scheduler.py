"""The scheduler in one process: clock shifts, leases and pauses, backoff and incidents, the
APScheduler runner waking just after the next due time and catching up after downtime."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from flask import Flask

from app.core import sla_actions, uow
from app.core.models import Case, CaseEvent, Timer
from app.extensions import db
from app.sla.scheduler import (
    MAX_RETRIES,
    Runner,
    _fire_one,
    backoff,
    claim_due,
    fire_due,
    next_due,
)
from tests.app.api.support import as_user, prepare, problem
from tests.app.sla.support import (
    count_fired,
    deploy_timer_process,
    fired,
    start_timer_case,
    wait_for,
)
from tests.helpers import events


def _timer(case_id: int) -> Timer:
    db.session.rollback()
    return db.session.scalars(db.select(Timer).where(Timer.case_id == case_id)).one()


def test_clock_shifts_fire_nothing_early_and_nothing_twice(org: dict, clock) -> None:
    deploy_timer_process()
    base = clock.now()
    dues = {start_timer_case(base + timedelta(minutes=m)).id: m for m in (10, 20, 30, 40, 50)}
    furthest = -1000
    for minutes in (15, 5, 25, 25, 9, 45, -30, 35, 20, 120, 60):
        clock.set(base + timedelta(minutes=minutes, seconds=1))
        fire_due(owner="t")
        furthest = max(furthest, minutes)
        record = fired()
        assert all(due < at for _, at, due in record), "fired early"
        counts = Counter(case_id for case_id, _, _ in record)
        assert set(counts.values()) <= {1}, "fired twice"
        assert set(counts) == {c for c, m in dues.items() if m <= furthest}
    assert len(fired()) == 5


def test_a_claim_the_clock_went_back_on_is_released_not_counted(org: dict, clock) -> None:
    deploy_timer_process()
    case = start_timer_case(clock.now() + timedelta(minutes=1))
    clock.advance(timedelta(minutes=2))
    [timer_id] = claim_due(owner="me")
    clock.advance(timedelta(minutes=-5))  # between the claim and the firing
    assert _fire_one(timer_id) is False
    timer = _timer(case.id)
    assert (timer.retries, timer.lock_owner, timer.lock_expires_at) == (0, None, None)
    assert fired() == []
    clock.advance(timedelta(minutes=5))
    assert fire_due(owner="me") == 1 and len(fired()) == 1


def test_leased_and_paused_timers_are_not_claimed(org: dict, clock) -> None:
    deploy_timer_process()
    now = clock.now()
    a, b, c = (start_timer_case(now + timedelta(minutes=m)) for m in (10, 20, 30))
    assert next_due() == now + timedelta(minutes=10)
    clock.set(now + timedelta(minutes=11))
    hour = timedelta(hours=1)
    assert claim_due(owner="other", lease=hour) == [_timer(a.id).id]  # another scheduler's
    assert next_due() == now + timedelta(minutes=20)
    sla_actions.suspend_case(case_id=b.id, reason="r", actor="t")
    assert next_due() == now + timedelta(minutes=30)
    clock.set(now + timedelta(minutes=31))
    assert claim_due(owner="me", lease=hour) == [_timer(c.id).id]  # a leased, b paused
    assert next_due() is None
    clock.set(now + timedelta(minutes=72))  # the other scheduler's lease ran out
    assert claim_due(owner="me") == [_timer(a.id).id]  # c: still my own lease
    sla_actions.resume_case(case_id=b.id, actor="t")  # paused 61 working minutes
    assert _timer(b.id).due_at == now + timedelta(minutes=20 + 61)


def test_a_failing_timer_backs_off_then_becomes_an_incident_an_admin_retries(
    app: Flask,
    org: dict,
    clock,
) -> None:
    deploy_timer_process()
    case = start_timer_case(clock.now() + timedelta(minutes=1))
    clock.advance(timedelta(minutes=2))

    def boom(action: str) -> None:
        if action == "timer":
            raise RuntimeError("notification service down")

    uow.before_commit_hooks.append(boom)
    try:
        for attempt in range(1, MAX_RETRIES + 1):
            assert fire_due(owner="t") == 0
            timer = _timer(case.id)
            assert timer.retries == attempt and "notification service down" in timer.last_error
            if attempt < MAX_RETRIES:
                assert timer.status == "pending"
                assert timer.lock_expires_at == clock.now() + backoff(attempt)
                clock.advance(backoff(attempt) - timedelta(seconds=1))
                assert claim_due(owner="t") == []  # not before the backoff is over
                clock.advance(timedelta(seconds=2))
        assert _timer(case.id).status == "incident"
        clock.advance(timedelta(hours=1))
        assert fire_due(owner="t") == 0 and _timer(case.id).retries == MAX_RETRIES
    finally:
        uow.before_commit_hooks.remove(boom)
    assert [e.type for e in events(case)] == ["case.opened", "timer.incident"]
    client = app.test_client()
    admin = as_user(client, "admin")
    [incident] = admin.get("/api/v1/sla/incidents").get_json()
    assert incident["case_code"] == case.code and incident["retries"] == MAX_RETRIES
    assert "notification service down" in incident["last_error"]
    problem(as_user(client, "grid1").get("/api/v1/sla/incidents"), 403)
    auditor = as_user(client, "auditor")
    assert len(auditor.get("/api/v1/sla/incidents").get_json()) == 1
    problem(auditor.post(f"/api/v1/sla/incidents/{incident['id']}/retry"), 403)
    assert admin.post(f"/api/v1/sla/incidents/{incident['id']}/retry").get_json() == []
    problem(admin.post(f"/api/v1/sla/incidents/{incident['id']}/retry"), 409)
    assert fire_due(owner="t") == 1
    assert [e.type for e in events(case)][-2:] == ["timer.retried", "timer.fired"]
    problem(admin.post(f"/api/v1/sla/incidents/{incident['id']}/retry"), 404)


def test_cli_lists_and_retries_incidents(app: Flask, org: dict, clock) -> None:
    deploy_timer_process()
    cases = [start_timer_case(clock.now() + timedelta(minutes=1)) for _ in range(2)]
    with db.engine.begin() as conn:  # two incidents, as the scheduler leaves them
        conn.execute(db.update(Timer).values(status="incident", retries=5, last_error="boom"))
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["timers", "incidents"])
    assert listed.exit_code == 0 and "2 incidents" in listed.output
    assert all(c.code in listed.output for c in cases)
    assert runner.invoke(args=["timers", "retry", "no-such-timer"]).exit_code == 1
    assert runner.invoke(args=["timers", "retry", "--all"]).exit_code == 0
    clock.advance(timedelta(minutes=2))
    assert "fired 2 timers" in runner.invoke(args=["scheduler", "--once"]).output


def test_timers_due_while_stopped_fire_when_the_scheduler_starts(
    app: Flask,
    org: dict,
    clock,
) -> None:
    deploy_timer_process()
    for minutes in range(1, 6):
        start_timer_case(clock.now() + timedelta(minutes=minutes))
    clock.advance(timedelta(hours=3))  # nothing ran meanwhile
    runner = Runner(app, background=True, periodic=False, poll=timedelta(seconds=0.2))
    runner.start()
    try:
        assert wait_for(lambda: count_fired() == 5, timeout=20)
    finally:
        runner.stop()
    assert runner.fired == 5 and len({case_id for case_id, _, _ in fired()}) == 5


def test_the_tick_wakes_just_after_the_next_due_time(app: Flask, org: dict) -> None:
    """System clock. With a 30 s poll only the planned wake-up can fire these on time."""
    deploy_timer_process()
    start = datetime.now(UTC)
    for seconds in (1.0, 1.6, 2.5):
        start_timer_case(start + timedelta(seconds=seconds))
    runner = Runner(app, background=True, periodic=False, poll=timedelta(seconds=30))
    runner.start()
    try:
        assert wait_for(lambda: count_fired() == 3, timeout=20)
    finally:
        runner.stop()
    lags = sorted((at - due).total_seconds() for _, at, due in fired())
    assert lags[0] > 0 and lags[-1] < 1.0, lags


def test_the_web_server_never_fires_timers(app: Flask, org: dict, clock) -> None:
    client = prepare(app)
    staff = as_user(client, "staff1")
    case_id = staff.post("/api/v1/cases", json=_intake()).get_json()["id"]
    clock.advance(timedelta(days=3))  # the reminder is long due
    staff = as_user(client, "staff1")  # a fresh token
    for url in (f"/api/v1/cases/{case_id}", "/api/v1/cases", "/api/v1/tasks?scope=all"):
        assert staff.get(url).status_code == 200
    assert staff.get(f"/api/v1/cases/{case_id}/sla").get_json()["state"] == "overdue"
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(Timer)) == 1
    fired_events = db.select(db.func.count()).where(CaseEvent.type == "timer.fired")
    assert db.session.scalar(fired_events) == 0
    assert db.session.get(Case, case_id).closed_at is None


def _intake() -> dict:
    from tests.app.api.support import intake_body

    return intake_body()
