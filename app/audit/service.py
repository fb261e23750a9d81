"""The audit trail of a case and its tamper check (the hash chain)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.core import hashchain
from app.core.models import Case, CaseEvent
from app.extensions import db


def events_of(case_id: int) -> list[CaseEvent]:
    """Every event of a case, oldest first."""
    return list(
        db.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
        )
    )


def verify(case_id: int) -> dict[str, Any]:
    """{ok, events, broken_at}: broken_at is the first seq whose hash or link does not hold.

    The case row keeps the chain's head (its last seq and hash, written in the same
    transaction as each event), so rows cut off the end are caught too: broken_at is then the
    first missing seq.
    """
    trail = events_of(case_id)
    broken = hashchain.first_broken(trail)
    case = db.session.get(Case, case_id)
    if broken is None and case is not None:
        last_seq = trail[-1].seq if trail else 0
        if last_seq < case.event_seq:
            broken = last_seq + 1
        elif trail and trail[-1].hash != case.event_hash:
            broken = last_seq
    return {"ok": broken is None, "events": len(trail), "broken_at": broken}
