"""The admin audit log (管理日志): lock the head, append, page, verify.

Each event hashes like a case event (``hashchain.event_hash``) with case id 0, the admin
chain: the same canonical JSON, so one tool recomputes both kinds of chain.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.admin.models import AdminEvent, AdminEventHead
from app.core.hashchain import GENESIS, event_hash, plain
from app.extensions import db
from workflows import clock

HEAD_ID = 1
ADMIN_CHAIN = 0  # the case id admin events hash with
VERIFY_BATCH = 1000


def lock_head(session: Session) -> AdminEventHead:
    """The chain's head, locked until the transaction ends (PostgreSQL: ``FOR UPDATE``;
    SQLite's ``BEGIN IMMEDIATE`` already holds the one write lock). Every admin change takes
    it first, so admin changes run one at a time and each sees the one before it."""
    query = (
        select(AdminEventHead)
        .where(AdminEventHead.id == HEAD_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    head = session.scalar(query)
    if head is None:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(AdminEventHead)
            .values(id=HEAD_ID, seq=0, hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        head = session.scalar(query)
    assert head is not None
    return head


def append(head: AdminEventHead, *, type: str, actor: str, data: dict[str, Any]) -> AdminEvent:
    """Add one event after the locked ``head`` and move the head to it."""
    seq, at, payload = head.seq + 1, clock.now(), plain(data)
    digest = event_hash(
        case_id=ADMIN_CHAIN,
        seq=seq,
        type=type,
        actor=actor,
        at=at,
        data=payload,
        prev_hash=head.hash,
    )
    event = AdminEvent(
        seq=seq, type=type, actor=actor, at=at, data=payload, prev_hash=head.hash, hash=digest
    )
    db.session.add(event)
    head.seq, head.hash = seq, digest
    return event


def page(*, after: int | None, limit: int) -> tuple[list[AdminEvent], int | None]:
    """Events oldest first after seq ``after``, and the seq to continue after (or None)."""
    query = select(AdminEvent).order_by(AdminEvent.seq).limit(limit + 1)
    if after is not None:
        query = query.where(AdminEvent.seq > after)
    rows = list(db.session.scalars(query))
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1].seq
    return rows, None


def verify() -> dict[str, Any]:
    """{ok, events, broken_at}: the first seq whose hash, link or place does not hold.

    Read in batches (memory stays flat however long the log). The head row catches rows cut
    off the end: broken_at is then the first missing seq.
    """
    prev, expected, broken, after = GENESIS, 1, None, 0
    while broken is None:
        batch = list(
            db.session.scalars(
                select(AdminEvent)
                .where(AdminEvent.seq > after)
                .order_by(AdminEvent.seq)
                .limit(VERIFY_BATCH)
            )
        )
        for event in batch:
            if event.seq != expected or event.prev_hash != prev or event.hash != _rehash(event):
                broken = min(event.seq, expected)
                break
            prev, expected = event.hash, expected + 1
        if len(batch) < VERIFY_BATCH:
            break
        after = batch[-1].seq
    if broken is None:
        head = db.session.get(AdminEventHead, HEAD_ID)
        last = expected - 1
        if head is not None and last < head.seq:
            broken = last + 1
        elif last and (head is None or head.hash != prev):
            broken = last
    count = db.session.scalar(select(func.count()).select_from(AdminEvent)) or 0
    return {"ok": broken is None, "events": int(count), "broken_at": broken}


def _rehash(event: AdminEvent) -> str:
    return event_hash(
        case_id=ADMIN_CHAIN,
        seq=event.seq,
        type=event.type,
        actor=event.actor,
        at=event.at,
        data=event.data,
        prev_hash=event.prev_hash,
    )
