"""The unit of work on both databases: one audit event per change, atomicity, races, timers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from app.core import hashchain, uow
from app.core.models import Case, CaseEvent, HumanTask, ProcessInstance, Timer
from app.extensions import db
from app.sla.scheduler import fire_due
from tests.helpers import deploy_simple, events, only_task, open_simple_case, open_tasks


@pytest.fixture
def case(org: dict, clock) -> Case:
    deploy_simple()
    return open_simple_case()


def _counts() -> tuple[int, int, int]:
    db.session.rollback()
    return (
        db.session.scalar(db.select(db.func.count()).select_from(CaseEvent)),
        db.session.scalar(db.select(db.func.count()).select_from(HumanTask)),
        db.session.scalar(db.select(db.func.max(ProcessInstance.revision))),
    )


def test_open_case_projects_first_task_with_role_unit_and_due(case: Case) -> None:
    task = only_task(case)
    assert (task.bpmn_id, task.role, task.org_unit.code) == ("handle", "grid_worker", "G-01")
    assert case.status == "open" and case.stage == "dispatch" and case.mode == "immediate"
    # 即办 closes the same working day: 18:00 Beijing = 10:00 UTC
    assert case.due_at.isoformat() == "2025-03-03T10:00:00+00:00"
    assert task.due_at == case.due_at
    assert case.code.startswith("GC20250303-") and len(case.tracking_code) == 10


def test_each_action_appends_exactly_one_chained_event(case: Case) -> None:
    uow.complete_task(task_id=only_task(case).id, data={"result": "换了灯泡"}, actor="grid1")
    uow.complete_task(task_id=only_task(case).id, data={"approved": True}, actor="leader1")
    trail = events(case)
    assert [(e.seq, e.type, e.actor) for e in trail] == [
        (1, "case.opened", "test"),
        (2, "task.completed", "grid1"),
        (3, "task.completed", "leader1"),
    ]
    assert hashchain.first_broken(trail) is None
    assert trail[2].data["ended_at"] == "end_closed"
    db.session.refresh(case)
    assert case.status == "closed" and case.closed_at is not None
    assert open_tasks(case) == []


def test_failure_forced_mid_commit_writes_nothing(case: Case) -> None:
    task_id = only_task(case).id
    before = _counts()

    def explode(action: str) -> None:
        raise RuntimeError("disk full")

    uow.before_commit_hooks.append(explode)
    try:
        with pytest.raises(RuntimeError):
            uow.complete_task(task_id=task_id, data={"result": "x"}, actor="grid1")
    finally:
        uow.before_commit_hooks.remove(explode)
    assert _counts() == before
    assert only_task(case).id == task_id
    # and the case still works afterwards
    uow.complete_task(task_id=task_id, data={"result": "x"}, actor="grid1")
    assert only_task(case).bpmn_id == "review"


def _race(app, work_a, work_b) -> list[object]:
    """Run two units of work; A pauses just before commit until B has started and waited."""
    at_commit, release = threading.Event(), threading.Event()
    results: list[object] = [None, None]

    def hook(action: str) -> None:
        if threading.current_thread().name == "A":
            at_commit.set()
            release.wait(10)

    def run(index: int, work) -> None:
        with app.app_context():
            try:
                results[index] = work()
            except Exception as exc:
                results[index] = exc

    uow.before_commit_hooks.append(hook)
    try:
        a = threading.Thread(target=run, args=(0, work_a), name="A")
        a.start()
        assert at_commit.wait(10)
        b = threading.Thread(target=run, args=(1, work_b), name="B")
        b.start()
        b.join(0.5)  # B runs up to its own write and waits for A's lock
        release.set()
        a.join(10)
        b.join(10)
    finally:
        uow.before_commit_hooks.remove(hook)
    return results


def test_racing_completions_one_wins_one_conflicts(app, case: Case) -> None:
    task_id = only_task(case).id

    def complete() -> str:
        uow.complete_task(task_id=task_id, data={"result": "done"}, actor="grid1")
        return "ok"

    results = _race(app, complete, complete)
    assert results[0] == "ok"
    assert isinstance(results[1], uow.Conflict)
    trail = events(case)
    assert [e.type for e in trail] == ["case.opened", "task.completed"]
    assert only_task(case).bpmn_id == "review"


def test_racing_claims_one_wins_one_conflicts(app, org: dict, case: Case) -> None:
    task_id = only_task(case).id
    grid1, grid2 = org["users"]["grid1"].id, org["users"]["grid2"].id

    def claim(user_id: int):
        return lambda: (
            uow.claim_task(
                task_id=task_id,
                user=db.session.get(type(org["users"]["grid1"]), user_id),
                actor="x",
            ).assignee_id
        )

    results = _race(app, claim(grid1), claim(grid2))
    assert results[0] == grid1
    assert isinstance(results[1], uow.Conflict)
    assert only_task(case).assignee_id == grid1
    assert [e.type for e in events(case)][-1] == "task.claimed"


def test_timer_fires_once_when_due_never_early(case: Case, clock) -> None:
    timer = db.session.scalars(db.select(Timer)).one()
    assert timer.bpmn_id == "remind"
    # 50 % of the working time from 09:30 to 18:00 is 14:30 Beijing (lunch break skipped)
    due = timer.due_at
    assert due.isoformat() == "2025-03-03T06:30:00+00:00"
    clock.set(due)
    assert fire_due(owner="t") == 0  # due is not past yet
    clock.advance(timedelta(seconds=1))
    assert fire_due(owner="t") == 1
    assert fire_due(owner="t") == 0
    clock.set(due - timedelta(hours=1))  # the clock goes back: nothing again
    assert fire_due(owner="t") == 0
    clock.advance(timedelta(hours=3))
    assert fire_due(owner="t") == 0
    fired = [e for e in events(case) if e.type == "timer.fired"]
    assert len(fired) == 1 and fired[0].data["fired"][0]["bpmn_id"] == "remind"
    assert only_task(case).bpmn_id == "handle"  # non-interrupting: the task stays


def test_withdrawal_message_cancels_open_tasks_and_is_audited(case: Case) -> None:
    uow.deliver_message(
        case_id=case.id,
        name="resident_withdrawal",
        payload={"reason": "已自行解决"},
        actor="resident",
    )
    db.session.refresh(case)
    assert case.status == "withdrawn" and case.closed_at is not None
    assert open_tasks(case) == []
    assert db.session.scalars(db.select(Timer)).all() == []
    last = events(case)[-1]
    assert last.type == "message.received" and last.data["payload"] == {"reason": "已自行解决"}
    assert db.session.get(HumanTask, last.data["tasks"]["closed"][0]).status == "cancelled"
    with pytest.raises(uow.Conflict):  # nothing waits for a second withdrawal
        uow.deliver_message(case_id=case.id, name="resident_withdrawal", payload={}, actor="r")


def test_completing_a_finished_task_is_a_conflict(case: Case) -> None:
    task_id = only_task(case).id
    uow.complete_task(task_id=task_id, data={"result": "ok"}, actor="grid1")
    with pytest.raises(uow.Conflict):
        uow.complete_task(task_id=task_id, data={"result": "again"}, actor="grid1")
    with pytest.raises(uow.NotFound):
        uow.complete_task(task_id="not-a-task", data={}, actor="grid1")
