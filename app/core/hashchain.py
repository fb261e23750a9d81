"""The audit hash chain: each event's hash covers its content and the previous event's hash.

Editing or deleting any row breaks the chain at that row, and verification names the first
seq that does not hold.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

GENESIS = "0" * 64


def plain(value: Any) -> Any:
    """JSON-safe copy of event data (datetimes as ISO strings) so it hashes the same after a
    round trip through either database."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, (date, UUID, Decimal)):
        return str(value)
    return value


def event_hash(
    *, case_id: int, seq: int, type: str, actor: str, at: datetime, data: Any, prev_hash: str
) -> str:
    body = {
        "case_id": case_id,
        "seq": seq,
        "type": type,
        "actor": actor,
        "at": at.astimezone(UTC).isoformat(),
        "data": data,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def first_broken(events: Iterable[Any]) -> int | None:
    """The seq of the first event whose hash, link or position does not hold, else None."""
    prev, expected_seq = GENESIS, 1
    for ev in events:
        if ev.seq != expected_seq or ev.prev_hash != prev:
            return expected_seq if ev.seq > expected_seq else ev.seq
        digest = event_hash(
            case_id=ev.case_id,
            seq=ev.seq,
            type=ev.type,
            actor=ev.actor,
            at=ev.at,
            data=ev.data,
            prev_hash=ev.prev_hash,
        )
        if digest != ev.hash:
            return ev.seq
        prev, expected_seq = ev.hash, expected_seq + 1
    return None
