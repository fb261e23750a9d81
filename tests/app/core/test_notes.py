"""Notes in the unit of work: a comment racing a task completion waits for it instead of
failing, and every write lands in the hash chain once."""

from __future__ import annotations

import threading

import pytest

from app.core import hashchain, notes, uow
from app.core.models import Case, CaseAttachment, CaseComment
from app.extensions import db
from tests.helpers import deploy_simple, events, only_task, open_simple_case


@pytest.fixture
def case(org: dict, clock) -> Case:
    deploy_simple()
    return open_simple_case()


def test_a_comment_racing_a_completion_waits_and_both_land(app, case: Case) -> None:
    task_id = only_task(case).id
    at_commit, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def hook(action: str) -> None:
        if threading.current_thread().name == "complete":
            at_commit.set()
            release.wait(10)

    def run(name: str, work) -> None:
        with app.app_context():
            try:
                results[name] = work()
            except Exception as exc:
                results[name] = exc

    def complete() -> str:
        uow.complete_task(task_id=task_id, data={"result": "换了灯泡"}, actor="grid1")
        return "ok"

    def comment() -> int:
        return notes.add_comment(case_id=case.id, author="leader1", body="已核实", public=False).id

    uow.before_commit_hooks.append(hook)
    try:
        first = threading.Thread(target=run, args=("complete", complete), name="complete")
        first.start()
        assert at_commit.wait(10)
        second = threading.Thread(target=run, args=("comment", comment), name="comment")
        second.start()
        second.join(0.5)
        assert second.is_alive(), "the comment should wait for the completion's lock"
        release.set()
        first.join(10)
        second.join(10)
    finally:
        uow.before_commit_hooks.remove(hook)
    assert results["complete"] == "ok" and isinstance(results["comment"], int)
    trail = events(case)
    assert [(e.seq, e.type) for e in trail] == [
        (1, "case.opened"),
        (2, "task.completed"),
        (3, "comment.added"),
    ]
    assert hashchain.first_broken(trail) is None


def test_a_failed_commit_leaves_neither_row_nor_event(case: Case) -> None:
    def explode(action: str) -> None:
        raise RuntimeError("disk full")

    uow.before_commit_hooks.append(explode)
    try:
        with pytest.raises(RuntimeError):
            notes.add_comment(case_id=case.id, author="grid1", body="x", public=True)
        with pytest.raises(RuntimeError):
            notes.add_attachment(
                case_id=case.id,
                filename="a.pdf",
                content_type="application/pdf",
                size=3,
                sha256="0" * 64,
                uploaded_by="grid1",
            )
    finally:
        uow.before_commit_hooks.remove(explode)
    assert [e.type for e in events(case)] == ["case.opened"]
    assert db.session.scalars(db.select(CaseComment)).all() == []
    assert db.session.scalars(db.select(CaseAttachment)).all() == []
    with pytest.raises(uow.NotFound):
        notes.add_comment(case_id=case.id + 1000, author="grid1", body="x", public=False)
