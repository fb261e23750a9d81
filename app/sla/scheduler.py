"""The scheduler process: claim due timer rows with a lease and fire each through the unit of work.

Our ``timers`` table is the source of truth; APScheduler only runs the tick. A timer is claimed
by setting a lease (``lock_owner``, ``lock_expires_at``) in its own short transaction
(PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so several schedulers never claim the same row;
SQLite: one writer at a time). Firing deletes the row in the same transaction as the case
change, so a timer fires once; a scheduler killed mid-fire leaves a lease that expires and the
timer is claimed again. A timer that fails is retried with backoff and becomes an incident
when its retries run out.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from sqlalchemy import or_, select

from app.core import uow
from app.core.models import Timer
from app.database import write_transaction
from app.extensions import db
from workflows import clock

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_RETRIES = 5
BATCH = 200
TICK_SECONDS = 0.25


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_due(*, owner: str, limit: int = BATCH) -> list[str]:
    """Lease up to ``limit`` due timers to ``owner``; returns their ids, earliest first."""
    now = clock.now()
    with write_transaction() as session:
        query = (
            select(Timer)
            .where(
                Timer.status == "pending",
                Timer.due_at < now,
                or_(Timer.lock_expires_at.is_(None), Timer.lock_expires_at < now),
            )
            .order_by(Timer.due_at)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        timers = list(session.scalars(query))
        for timer in timers:
            timer.lock_owner = owner
            timer.lock_expires_at = now + LEASE
        return [t.id for t in timers]


def _record_failure(timer_id: str, error: Exception) -> None:
    with write_transaction() as session:
        timer = session.get(Timer, timer_id)
        if timer is None:
            return
        timer.retries += 1
        timer.last_error = f"{type(error).__name__}: {error}"[:2000]
        timer.lock_owner = None
        if timer.retries >= MAX_RETRIES:
            timer.status = "incident"
            timer.lock_expires_at = None
        else:  # back off: 2, 4, 8, 16 s before the next claim may take it
            timer.lock_expires_at = clock.now() + timedelta(seconds=2**timer.retries)


def fire_due(*, owner: str | None = None, limit: int = BATCH) -> int:
    """One tick: claim what is due and fire it. Returns how many timers fired."""
    owner = owner or default_owner()
    fired = 0
    for timer_id in claim_due(owner=owner, limit=limit):
        try:
            case = uow.fire_timer(timer_id=timer_id)
        except uow.Conflict:
            continue  # fired already by the same instance's earlier timer, or changed meanwhile
        except Exception as exc:
            db.session.rollback()
            log.exception("timer %s failed", timer_id)
            _record_failure(timer_id, exc)
            continue
        if case is not None:
            fired += 1
    return fired


def run_forever() -> None:
    """Run the tick under APScheduler until stopped (timers due while down fire at start)."""
    from apscheduler.schedulers.blocking import BlockingScheduler
    from flask import current_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    owner = default_owner()

    def tick() -> None:
        with app.app_context():
            while fire_due(owner=owner) >= BATCH:
                pass

    scheduler = BlockingScheduler()
    scheduler.add_job(
        tick,
        "interval",
        seconds=TICK_SECONDS,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        id="fire-due-timers",
    )
    log.info("scheduler %s started", owner)
    tick()
    scheduler.start()
