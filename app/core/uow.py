"""The unit of work: the only writer of workflow state.

Every action runs as: load the instance → apply one action → run engine steps → sync the task
projection, the timers and the case row → append one audit event (hash chained) → commit, in
one transaction. A concurrent change to the same instance or task (a stale revision) raises
:class:`Conflict` and nothing is written.
"""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, lazyload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from app.core import hashchain, writes
from app.core.models import Case, CaseEvent, HumanTask, ProcessInstance, ProcessVersion, Timer
from app.core.projection import Known, sync
from app.database import write_transaction
from app.extensions import db
from app.orgs.calendars import calendar_for
from app.orgs.models import User
from workflows import clock, engine, errors, serializer
from workflows.engine import Instance, Step


class Conflict(Exception):
    """Someone else acted first (stale revision, task no longer open): HTTP 409."""


class NotFound(Exception):
    pass


# Tests pause a transaction just before commit here (a threading.Event) to force races.
before_commit_hooks: list[Callable[[str], None]] = []

_spec_cache: dict[tuple[int, str], tuple[Any, dict[str, Any]]] = {}
_spec_lock = threading.Lock()


def version_spec(version: ProcessVersion) -> tuple[Any, dict[str, Any]]:
    """The parsed spec of a version, deserialized once per process and kept (versions are
    immutable, so the cache never goes stale)."""
    key = (version.id, version.content_hash)
    cached = _spec_cache.get(key)
    if cached is None:
        with _spec_lock:
            cached = _spec_cache.get(key)
            if cached is None:
                cached = serializer.load_spec(version.spec_json)
                _spec_cache[key] = cached
    return cached


def spec_for(version_id: int) -> tuple[Any, dict[str, Any]]:
    """The parsed spec of a version by id: once this app has seen the version, no read (a
    version is immutable and its id never reused)."""
    known: dict[int, tuple[Any, dict[str, Any]]] = current_app.extensions.setdefault(
        "gridcase.specs", {}
    )
    spec = known.get(version_id)
    if spec is None:
        version = db.session.get(ProcessVersion, version_id)
        if version is None:
            raise NotFound(f"process version {version_id} not found")
        spec = known[version_id] = version_spec(version)
    return spec


def _compactor() -> Callable[[Any], object] | None:
    if not current_app.config.get("COMPACTION", True):
        return None
    from workflows.compaction import compact

    return functools.partial(compact, records=False)  # the audit event has the finished tasks


def _load(row: ProcessInstance, case: Case) -> Instance:
    return engine.load_instance(
        spec_for(row.version_id),
        row.state,
        calendar=lambda: calendar_for(case.org_unit),
        compactor=_compactor(),
    )


@contextmanager
def _unit(action: str) -> Iterator[Any]:
    """One write transaction; engine refusals and stale revisions become Conflict."""
    try:
        with write_transaction(expire=_expire_projection) as session:
            yield session
            writes.send()  # the queued writes, before the hooks (and the race tests) run
            session.flush()
            for hook in list(before_commit_hooks):
                hook(action)
    except (StaleDataError, errors.TaskNotReady, errors.NotWaiting) as exc:
        raise Conflict(str(exc) or "someone else changed this case first") from exc
    except IntegrityError as exc:
        raise Conflict("someone else changed this case first") from exc


def _expire_projection(session: Any) -> None:
    """After a unit's commit: forget the rows it wrote as plain SQL (tasks, timers, events).
    The case and instance rows stay loaded: written through (app.core.writes), what the
    session holds is what was committed."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, HumanTask | Timer | CaseEvent):
            session.expire(obj)


EVENTS = CaseEvent.__table__
_INSERT_EVENT = insert(EVENTS)


def append_event(case: Case, *, type: str, actor: str, data: Mapping[str, Any]) -> None:
    """Append the next event of ``case``'s hash chain (the chain's head lives on the case).

    Queued as one plain INSERT (app.core.writes), not as an ORM object: the log is
    append-only, and the case row's head moving in the same transaction is what orders
    concurrent appends."""
    seq, prev = case.event_seq + 1, case.event_hash
    at = clock.now()
    body = hashchain.plain(dict(data))
    digest = hashchain.event_hash(
        case_id=case.id, seq=seq, type=type, actor=actor, at=at, data=body, prev_hash=prev
    )
    case.event_seq, case.event_hash = seq, digest
    _write_dirty()
    writes.queue(
        _INSERT_EVENT,
        {
            "case_id": case.id,
            "seq": seq,
            "type": type,
            "actor": actor,
            "at": at,
            "data": body,
            "prev_hash": prev,
            "hash": digest,
        },
    )


def _write_dirty() -> None:
    """Write the changed case and instance rows now, as plain UPDATEs (see app.core.writes)."""
    for obj in list(db.session.dirty):
        if isinstance(obj, Case | ProcessInstance):
            writes.write_through(obj)


def _step_record(step: Step, changes: dict[str, Any]) -> dict[str, Any]:
    return {
        # shallow: append_event makes the record plain (and so copies it) before hashing
        "finished": [dict(f.__dict__) for f in step.finished],
        "ended_at": step.ended_at,
        **changes,
    }


def _save(row: ProcessInstance, instance: Instance) -> None:
    row.state = instance.dump()
    row.updated_at = clock.now()


def new_tracking_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on the phone
    return "".join(secrets.choice(alphabet) for _ in range(10))


def start_case(*, version: ProcessVersion, case: Case, data: Mapping[str, Any], actor: str) -> Case:
    """Open ``case`` (unsaved, fields set) and start its process instance on ``version``."""
    with _unit("start") as session:
        now = clock.now()
        case.opened_at = now
        case.tracking_code = new_tracking_code()
        case.code = f"tmp-{case.tracking_code}"
        session.add(case)
        session.flush()
        case.code = f"GC{now:%Y%m%d}-{case.id:06d}"
        start_data = {**data, "case_code": case.code}
        instance, step = engine.start_instance(
            version_spec(version),
            start_data,
            calendar=lambda: calendar_for(case.org_unit),
            compactor=_compactor(),
        )
        row = ProcessInstance(version=version, state="", created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        case.instance = row
        case.instance_id = row.id
        changes = sync(case, row, instance, step, Known(open_tasks=(), timers=()))
        _save(row, instance)
        append_event(
            case,
            type="case.opened",
            actor=actor,
            data={
                "process": {"key": version.definition.key, "version": version.version},
                "input": start_data,
                **_step_record(step, changes),
            },
        )
    return case


def _open_ids_of(case_id: Any) -> Any:
    """SQL: the ids of a case's open task rows, comma-joined (task ids are UUIDs; a case has
    one instance; ix_tasks_case serves it)."""
    sibling = aliased(HumanTask)  # never correlated with a HumanTask of the outer query
    return (
        select(func.aggregate_strings(sibling.id, ","))
        .where(sibling.case_id == case_id, sibling.status == "open")
        .correlate_except(sibling)
        .scalar_subquery()
    )


# Built once: constructing these ORM statements cost more than running them. The case and the
# instance come as entities of their own (not eager joins, whose loaders are built again on
# every execution); task.case and case.instance then resolve from the identity map, no SQL.
@functools.cache
def _task_query() -> Any:
    return (
        select(HumanTask, Case, ProcessInstance, _open_ids_of(HumanTask.case_id))
        .join(Case, Case.id == HumanTask.case_id)
        .join(ProcessInstance, ProcessInstance.id == Case.instance_id)
        .where(HumanTask.id == bindparam("task_id"))
        .options(lazyload(ProcessInstance.version))  # spec_for() finds the spec by id
    )


@functools.cache
def _timer_query() -> Any:
    """Due timers with their case, instance and open task ids; one statement for a group."""
    return (
        select(Timer.id, Timer.due_at, Case, ProcessInstance, _open_ids_of(Case.id))
        .join(Case, Case.id == Timer.case_id)
        .join(ProcessInstance, ProcessInstance.id == Case.instance_id)
        .where(Timer.id.in_(bindparam("timer_ids", expanding=True)))
        .options(lazyload(ProcessInstance.version))
    )


def _split(ids: str | None) -> list[str]:
    return ids.split(",") if ids else []


def _open_task(task_id: str) -> HumanTask:
    """The open task with its case, instance and version, in one query."""
    return _open_task_and_siblings(task_id)[0]


def _open_task_and_siblings(task_id: str) -> tuple[HumanTask, list[str]]:
    """The open task with its case, instance and version, and the ids of every open task
    of its instance, in one query (the projection then needs no read of its own)."""
    found = db.session.execute(_task_query(), {"task_id": task_id}).first()
    if found is None:
        raise NotFound(f"task {task_id} not found")
    task, case, row, open_ids = found
    # Link them as the eager joins did: else the identity map's weak references let the
    # case and the instance go, and task.case.instance would read them again.
    set_committed_value(task, "case", case)
    set_committed_value(case, "instance", row)
    if task.status != "open":
        raise Conflict(f"task {task_id} is already {task.status}")
    return task, _split(open_ids)


_ANYONE: Any = object()


def complete_task(
    *, task_id: str, data: Mapping[str, Any], actor: str, as_user: int | None = None
) -> Case:
    """Complete a task; with ``as_user``, only if it is unclaimed or claimed by that user
    (checked inside the transaction, so a claim racing in between is a conflict)."""
    with _unit("complete"):
        task, open_ids = _open_task_and_siblings(task_id)
        if as_user is not None and task.assignee_id not in (None, as_user):
            raise Conflict(f"task {task_id} is claimed by someone else")
        if task.case.paused_at is not None:  # 挂起: the clock stopped, and so does the work
            raise Conflict(f"case {task.case.code} is suspended: resume it first")
        case, row = task.case, task.case.instance
        assert row is not None
        instance = _load(row, case)
        timers = instance.waiting_timers()
        step = instance.complete(task_id, data)
        known = Known(open_tasks=open_ids, completed=(task_id, task.revision, actor), timers=timers)
        changes = sync(case, row, instance, step, known)
        _save(row, instance)
        append_event(
            case,
            type="task.completed",
            actor=actor,
            data={
                "task": {"id": task_id, "bpmn_id": task.bpmn_id},
                "input": dict(data),
                **_step_record(step, changes),
            },
        )
    return case


def deliver_message(*, case_id: int, name: str, payload: Mapping[str, Any], actor: str) -> Case:
    with _unit("message"):
        case = db.session.get(Case, case_id)
        if case is None or case.instance is None:
            raise NotFound(f"case {case_id} not found")
        row = case.instance
        instance = _load(row, case)
        timers = instance.waiting_timers()
        step = instance.send_message(name, payload)
        changes = sync(case, row, instance, step, Known(timers=timers))
        _save(row, instance)
        append_event(
            case,
            type="message.received",
            actor=actor,
            data={"message": name, "payload": dict(payload), **_step_record(step, changes)},
        )
    return case


def fire_timer(*, timer_id: str, actor: str = "scheduler") -> Case | None:
    """Fire a due timer (and any other of its instance due by now). None if already gone."""
    with _unit("timer"):
        return next(iter(_fire_all([timer_id], actor)), None)


def fire_timers(*, timer_ids: Sequence[str], actor: str = "scheduler") -> int:
    """Fire several due timers in one transaction, all or nothing; returns how many fired.

    The scheduler's fast path under a burst: one read and one commit for a group instead of
    one of each per timer. Any failure (a conflict, a script error, a timer moved since its
    claim) raises and writes nothing; the scheduler then fires that group one timer at a
    time."""
    with writes.grouped(), _unit("timer"):
        return len(_fire_all(timer_ids, actor))


_Due = tuple[Any, Case, ProcessInstance, str | None]


def _fire_all(timer_ids: Sequence[str], actor: str) -> list[Case]:
    """Fire the given timers that still exist; a second timer of an instance already fired
    here went with the first (an instance fires everything due at once)."""
    found: dict[str, _Due] = {
        timer_id: (due_at, case, row, open_ids)
        for timer_id, due_at, case, row, open_ids in db.session.execute(
            _timer_query(), {"timer_ids": list(timer_ids)}
        )
    }
    fired: list[Case] = []
    for timer_id in timer_ids:
        due = found.get(timer_id)
        if due is not None and all(due[1] is not case for case in fired):
            fired.append(_fire(timer_id, due, actor))
    return fired


def _fire(timer_id: str, found: _Due, actor: str) -> Case:
    due_at, case, row, open_ids = found
    set_committed_value(case, "instance", row)
    if due_at >= clock.now():
        raise Conflict(f"timer {timer_id} is not due yet")
    instance = _load(row, case)
    timers = instance.waiting_timers()
    step = instance.fire_due_timers(timers)
    known = Known(open_tasks=_split(open_ids), timers=timers, fired=timer_id)
    changes = sync(case, row, instance, step, known)
    _save(row, instance)
    append_event(
        case,
        type="timer.fired",
        actor=actor,
        data={
            "fired": [
                {"id": t.task_id, "bpmn_id": t.bpmn_id, "due_at": t.due_at}
                for t in step.fired_timers
            ],
            **_step_record(step, changes),
        },
    )
    return case


def claim_task(*, task_id: str, user: User, actor: str) -> HumanTask:
    return _set_assignee(task_id, user, actor, event="task.claimed", expect_assignee=None)


def assign_task(
    *, task_id: str, user: User | None, actor: str, expect_assignee: Any = _ANYONE
) -> HumanTask:
    """Assign (or, with no user, unclaim) a task; ``expect_assignee`` (a user id or None)
    makes it conditional on who holds the task now, checked inside the transaction."""
    return _set_assignee(
        task_id,
        user,
        actor,
        event="task.assigned" if user else "task.unclaimed",
        expect_assignee=expect_assignee,
    )


def _set_assignee(
    task_id: str, user: User | None, actor: str, *, event: str, expect_assignee: Any
) -> HumanTask:
    with _unit(event):
        task = _open_task(task_id)
        if expect_assignee is not _ANYONE and task.assignee_id != expect_assignee:
            raise Conflict(
                f"task {task_id} is already claimed"
                if expect_assignee is None
                else f"task {task_id} was claimed or released by someone else"
            )
        before = task.assignee.username if task.assignee else None
        task.assignee = user
        # 委派: a dispatcher's assign or release ends a delegation (app/core/delegation.py)
        ended = {"owner": [task.owner.username, None]} if task.owner else {}
        task.owner = None
        append_event(
            task.case,
            type=event,
            actor=actor,
            data={
                "task": {"id": task_id, "bpmn_id": task.bpmn_id},
                "assignee": [before, user.username if user else None],
                **ended,
            },
        )
    return task
