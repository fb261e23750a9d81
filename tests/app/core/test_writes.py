"""The write queue (app.core.writes): one round trip on PostgreSQL, the same results as
writing at once on both databases: order kept, row counts checked, nothing kept on rollback."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.core import writes
from app.core.models import Case, CaseEvent, HumanTask
from app.database import write_transaction
from app.extensions import db
from tests.helpers import deploy_simple, events, only_task, open_simple_case

EVENTS = CaseEvent.__table__
TASKS = HumanTask.__table__
_RENAME = (
    update(TASKS)
    .where(TASKS.c.id == bindparam("task_id"), TASKS.c.revision == bindparam("revision"))
    .values(name=bindparam("name"), revision=TASKS.c.revision + 1)
)
_INSERT_EVENT = insert(EVENTS)


@pytest.fixture
def case(org: dict, clock) -> Case:
    deploy_simple()
    return open_simple_case()


def _event(case: Case, seq: int, type: str = "test.note") -> dict[str, object]:
    from workflows import clock

    return {
        "case_id": case.id,
        "seq": seq,
        "type": type,
        "actor": "test",
        "at": clock.now(),
        "data": {"note": "记录", "n": seq},
        "prev_hash": "0" * 64,
        "hash": f"{seq:064d}",
    }


def test_a_queued_write_is_seen_by_the_next_read_of_the_transaction(case: Case) -> None:
    task = only_task(case)
    with write_transaction() as session:
        writes.queue(
            _RENAME, {"task_id": task.id, "revision": task.revision, "name": "改名"}, expect=1
        )
        name = session.scalar(select(HumanTask.name).where(HumanTask.id == task.id))
    assert name == "改名"
    db.session.expire_all()
    assert only_task(case).name == "改名"


def test_writes_keep_their_order_and_json_and_times_arrive_intact(case: Case) -> None:
    seq = case.event_seq
    with write_transaction():
        for n in (1, 2, 3):
            writes.queue(_INSERT_EVENT, _event(case, seq + n))
    trail = events(case)[-3:]
    assert [e.seq for e in trail] == [seq + 1, seq + 2, seq + 3]
    assert trail[0].data == {"note": "记录", "n": seq + 1}
    assert trail[0].at.tzinfo is not None


def test_a_row_count_other_than_expected_is_stale_and_nothing_is_written(case: Case) -> None:
    task = only_task(case)
    before = len(events(case))
    with pytest.raises(StaleDataError), write_transaction():
        writes.queue(_INSERT_EVENT, _event(case, case.event_seq + 1))
        writes.queue(
            _RENAME, {"task_id": task.id, "revision": task.revision + 7, "name": "x"}, expect=1
        )
        writes.send()
    db.session.expire_all()
    assert len(events(case)) == before
    assert only_task(case).name != "x"


def test_a_constraint_violation_is_sqlalchemys_integrity_error(case: Case) -> None:
    before = len(events(case))
    with pytest.raises(IntegrityError), write_transaction():
        writes.queue(_INSERT_EVENT, _event(case, case.event_seq + 1))
        writes.queue(_INSERT_EVENT, _event(case, case.event_seq + 1))  # same (case, seq)
        writes.send()
    assert len(events(case)) == before
    # the session is usable again after the failed batch
    with write_transaction():
        writes.queue(_INSERT_EVENT, _event(case, case.event_seq + 1))
    assert len(events(case)) == before + 1


def test_a_rollback_drops_what_was_queued(case: Case) -> None:
    before = len(events(case))

    class Boom(Exception):
        pass

    with pytest.raises(Boom), write_transaction():
        writes.queue(_INSERT_EVENT, _event(case, case.event_seq + 1))
        raise Boom
    with write_transaction():
        pass  # a later transaction must not send the dropped write
    assert len(events(case)) == before


def test_a_statement_that_needs_python_side_defaults_is_refused(case: Case, backend) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite writes at once through SQLAlchemy, which applies the defaults")
    row = {"id": "t-1", "case_id": case.id, "instance_id": case.instance_id, "bpmn_id": "x"}
    row |= {"name": "x", "org_unit_id": case.org_unit_id, "created_at": case.opened_at}
    with pytest.raises(ValueError, match="Python-side defaults"), write_transaction():
        writes.queue(insert(TASKS), row)  # no status, priority or revision
        writes.send()


def test_a_stale_row_in_a_group_fails_the_whole_group(case: Case) -> None:
    """Grouped, one statement goes once for several rows: the row counts add up, so one stale
    row among them still raises and nothing of the group is written."""
    other = open_simple_case()
    fresh, stale = only_task(case), only_task(other)
    with pytest.raises(StaleDataError), writes.grouped(), write_transaction():
        writes.queue(
            _RENAME, {"task_id": fresh.id, "revision": fresh.revision, "name": "x"}, expect=1
        )
        writes.queue(
            _RENAME, {"task_id": stale.id, "revision": stale.revision + 7, "name": "x"}, expect=1
        )
        writes.send()
    db.session.expire_all()
    assert {only_task(case).name, only_task(other).name}.isdisjoint({"x"})
    with writes.grouped(), write_transaction():  # both fresh: one statement, both rows
        for task in (fresh, stale):
            writes.queue(
                _RENAME, {"task_id": task.id, "revision": task.revision, "name": "改名"}, expect=1
            )
    db.session.expire_all()
    assert only_task(case).name == only_task(other).name == "改名"
