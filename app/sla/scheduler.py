"""The scheduler process: claim due timer rows with a lease and fire each through the unit of work.

Our ``timers`` table is the source of truth; APScheduler only runs the jobs (its own job store
keeps nothing: it can't be shared by processes, and its misfire grace would drop timers that
fell due while we were down). A timer is claimed by setting a lease (``lock_owner``,
``lock_expires_at``) in its own short transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so
several schedulers never claim the same row; SQLite: one writer at a time). Firing deletes
the row in the same transaction as the case change, so a timer fires once; a scheduler killed
mid-fire leaves a lease that expires, and the timer is claimed again. A timer that fails is
retried with backoff and becomes an incident when its retries run out.

A claim is one statement (``UPDATE … WHERE id IN (due rows … SKIP LOCKED) RETURNING id``).
The claimed timers fire ``GROUP`` per transaction (``uow.fire_timers``): one commit for a
group instead of one per timer, which is what lets a burst go out at hundreds per second. A
group is all or nothing; when anything in it fails, it is fired again one timer at a time.

The tick does not poll at a fixed rate: after each run it reads the next due time from the
table and asks APScheduler to run it again just after that (strictly after: the engine fires
only when ``due < now``), at most ``poll`` later so timers created by other processes are seen.
Timers of a suspended (挂起) case are never claimed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.orm import aliased

from app.core import sla_actions, uow
from app.core.models import Case, Timer
from app.database import end_read, write_transaction
from app.extensions import db
from workflows import clock

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_RETRIES = 5
BATCH = 128  # claimed at once: small enough that several schedulers share a burst evenly
GROUP = 64  # timers fired per transaction in a burst (a case waits at most one group)
POLL = timedelta(seconds=0.5)  # the longest sleep: how soon a timer made elsewhere is seen
SLACK = timedelta(milliseconds=2)  # wake just after the due time (firing needs due < now)
INLINE = timedelta(milliseconds=50)  # a wait shorter than this is slept inside the tick
FALLBACK = timedelta(seconds=30)  # the tick's own interval, should a tick fail to plan
TICK_JOB = "fire-due-timers"


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff(failures: int) -> timedelta:
    """2, 4, 8, 16 s before the next attempt."""
    return timedelta(seconds=2**failures)


def _claimable(now: datetime, timer: Any = Timer) -> tuple[Any, ...]:
    paused = select(Case.id).where(Case.id == timer.case_id, Case.paused_at.is_not(None))
    return (
        timer.status == "pending",
        or_(timer.lock_expires_at.is_(None), timer.lock_expires_at < now),
        ~paused.exists(),
    )


def claim_due(*, owner: str, limit: int = BATCH, lease: timedelta = LEASE) -> list[str]:
    """Lease up to ``limit`` due timers to ``owner``; returns their ids, earliest first.

    One statement: UPDATE ... WHERE id IN (the due rows, PostgreSQL: FOR UPDATE SKIP LOCKED,
    so concurrent schedulers take disjoint rows) RETURNING id."""
    now = clock.now()
    table = Timer.__table__
    with write_transaction() as session:
        due = aliased(Timer)
        pick = (
            select(due.id)
            .where(due.due_at < now, *_claimable(now, due))
            .order_by(due.due_at)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True, of=due)
        claimed = session.execute(
            update(table)
            .where(table.c.id.in_(pick))
            .values(
                lock_owner=owner,
                lock_expires_at=now + lease,
                revision=table.c.revision + 1,
            )
            .returning(table.c.id, table.c.due_at)
        ).all()
    return [timer_id for timer_id, _ in sorted(claimed, key=lambda r: (r[1], r[0]))]


def next_due() -> datetime | None:
    """The earliest due time this scheduler could claim (leased and paused timers aside)."""
    now = clock.now()
    try:
        return db.session.scalar(
            select(Timer.due_at).where(*_claimable(now)).order_by(Timer.due_at).limit(1)
        )
    finally:
        end_read()  # SQLite keeps its snapshot until then


def _fire_one(timer_id: str) -> bool:
    """Fire one claimed timer; a conflict (another action on the case won) is tried once
    more, then counted as a failure like any error."""
    error: Exception | None = None
    for _attempt in range(2):
        try:
            return uow.fire_timer(timer_id=timer_id) is not None
        except uow.Conflict as exc:
            error = exc
        except Exception as exc:
            db.session.rollback()
            log.exception("timer %s failed", timer_id)
            error = exc
            break
    assert error is not None
    if isinstance(error, uow.Conflict) and not _still_due(timer_id):
        return False
    sla_actions.record_timer_failure(
        timer_id=timer_id,
        error=f"{type(error).__name__}: {error}",
        max_retries=MAX_RETRIES,
        backoff=backoff,
    )
    return False


def _still_due(timer_id: str) -> bool:
    """After a conflict: is the timer still there and due? A timer that a resume or an
    extension moved after the claim is released (not counted as a failure)."""
    with write_transaction() as session:
        timer = session.get(Timer, timer_id)
        if timer is None:
            return False
        if timer.due_at >= clock.now():
            timer.lock_owner = timer.lock_expires_at = None
            return False
        return True


def _fire_group(ids: list[str]) -> int:
    """Fire a group in one transaction; if anything in it fails, nothing of it is written
    and each timer is fired on its own (so one bad timer costs only its own retries)."""
    if len(ids) > 1:
        try:
            return uow.fire_timers(timer_ids=ids)
        except Exception as exc:
            db.session.rollback()
            log.info("a group of %d timers failed (%s); firing one by one", len(ids), exc)
    return sum(_fire_one(timer_id) for timer_id in ids)


def fire_batch(*, owner: str, limit: int = BATCH, lease: timedelta = LEASE) -> tuple[int, int]:
    """Claim up to ``limit`` due timers and fire them, ``GROUP`` per transaction:
    (claimed, fired)."""
    ids = claim_due(owner=owner, limit=limit, lease=lease)
    fired = sum(_fire_group(ids[i : i + GROUP]) for i in range(0, len(ids), GROUP))
    return len(ids), fired


def fire_due(*, owner: str | None = None, limit: int = BATCH, lease: timedelta = LEASE) -> int:
    """One tick: claim what is due and fire it. Returns how many timers fired."""
    return fire_batch(owner=owner or default_owner(), limit=limit, lease=lease)[1]


class Runner:
    """One scheduler process: APScheduler runs the timer tick and the periodic SLA jobs."""

    def __init__(
        self,
        app: Flask,
        *,
        owner: str | None = None,
        lease: timedelta = LEASE,
        batch: int = BATCH,
        poll: timedelta = POLL,
        periodic: bool = True,
        background: bool = False,
    ) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.schedulers.blocking import BlockingScheduler

        self.app, self.owner = app, owner or default_owner()
        self.lease, self.batch, self.poll, self.periodic = lease, batch, poll, periodic
        self.stopping = threading.Event()
        self.fired = 0
        self.blocking = not background
        kind = BlockingScheduler if self.blocking else BackgroundScheduler
        self.scheduler = kind(timezone=UTC, job_defaults={"misfire_grace_time": None})

    # -- the timer tick ----------------------------------------------------------------------
    def tick(self) -> None:
        """Fire everything claimable now, then plan the next run just after the next due."""
        delay = self.poll
        try:
            with self.app.app_context():
                delay = self._drain()
        except Exception:
            log.exception("scheduler tick failed; retrying in %ss", self.poll.total_seconds())
        if not self.stopping.is_set():
            self._plan(delay)

    def _drain(self) -> timedelta:
        while not self.stopping.is_set():
            claimed, fired = fire_batch(owner=self.owner, limit=self.batch, lease=self.lease)
            self.fired += fired
            if claimed >= self.batch:
                continue  # a burst: more is due at once
            due = next_due()
            delay = self.poll if due is None else due - clock.now() + SLACK
            delay = max(timedelta(0), min(delay, self.poll))
            if delay >= INLINE:
                return delay
            self.stopping.wait(delay.total_seconds())
        return self.poll

    def _plan(self, delay: timedelta) -> None:
        from apscheduler.jobstores.base import JobLookupError

        with contextlib.suppress(JobLookupError):  # gone: shutting down
            self.scheduler.modify_job(TICK_JOB, next_run_time=datetime.now(UTC) + delay)

    # -- periodic jobs -------------------------------------------------------------------------
    def _job(self, name: str) -> None:
        from app.sla import calendar_admin, service

        with self.app.app_context():
            try:
                if name == "overdue":
                    flags = service.flag_overdue_cases()
                    if flags:
                        log.info("overdue flags raised: %s", dict(flags))
                elif name == "digest":
                    day = service.local_day(clock.now()) - timedelta(days=1)
                    written = service.write_digests(day)
                    if written:
                        log.info("SLA digest of %s written for %d org units", day, written)
                elif name == "coverage":
                    calendar_admin.warn_uncovered(today=service.local_day(clock.now()))
            finally:
                db.session.remove()

    def add_jobs(self) -> None:
        now = datetime.now(UTC)
        self.scheduler.add_job(
            self.tick,
            "interval",  # only a fallback: every tick plans the next one itself
            seconds=max(FALLBACK, self.poll).total_seconds(),
            id=TICK_JOB,
            max_instances=1,
            coalesce=True,
            next_run_time=now,  # timers that fell due while nothing ran fire at start
        )
        if not self.periodic:
            return
        common: dict[str, Any] = {"max_instances": 1, "coalesce": True, "next_run_time": now}
        self.scheduler.add_job(self._job, "interval", args=["overdue"], minutes=1, **common)
        self.scheduler.add_job(self._job, "interval", args=["coverage"], hours=6, **common)
        self.scheduler.add_job(
            self._job,
            "cron",
            args=["digest"],
            hour=0,
            minute=5,
            timezone="Asia/Shanghai",
            max_instances=1,
            coalesce=True,
            next_run_time=now,  # and once at start, catching up a missed day
        )

    def start(self) -> None:
        """Run until stopped (blocking unless built with ``background=True``)."""
        self.add_jobs()
        log.info(
            "scheduler %s started (lease %ss, batch %d, poll %ss)",
            self.owner,
            self.lease.total_seconds(),
            self.batch,
            self.poll.total_seconds(),
        )
        if self.blocking and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: self.stop(wait=False))
        self.scheduler.start()

    def stop(self, *, wait: bool = True) -> None:
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)


def run_forever(**options: Any) -> None:
    """Run the scheduler in this process until SIGTERM/SIGINT (see :class:`Runner`)."""
    from flask import current_app

    Runner(current_app._get_current_object(), **options).start()  # type: ignore[attr-defined]
