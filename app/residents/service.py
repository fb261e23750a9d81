"""Residents (居民), who have no login: follow a case by its tracking code (查询码) and rate the
回访 follow-up.

What a resident sees is chosen field by field (no title, description, address, reporter,
resident details or caseworker names: a tracking code can be shared or overheard). Every
lookup that finds nothing goes the same way whatever the reason (unknown, malformed, ...) and
counts against the caller's address in the login slowdown table (``login_failures``, key
``track:<address>``): after ``TRACK_ADDR_FREE`` misses within an hour each further miss
blocks the address for a growing time, so tracking codes cannot be enumerated.

A rating completes the open ``revisit`` task of a ``resident_request`` case through the unit
of work, as ``resident:<tracking code>`` with ``revisit_method`` ``online``; the process
decides what follows (不满意 unsatisfied reopens the case once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.auth.service import blocked_for, record_failure
from app.cases.queries import InvalidInput
from app.core import uow
from app.core.models import Case, CaseComment, HumanTask
from app.extensions import db
from app.tasks.service import form_errors, form_schema
from workflows import clock

RATED_PROCESS = "resident_request"  # the only process whose follow-up a resident rates
REVISIT_TASK = "revisit"
SATISFACTION = ("satisfied", "basically_satisfied", "unsatisfied")
TRACK_ADDR_FREE = 20  # misses per address within an hour before the slowdown starts
MAX_CODE = 64  # longer input cannot be a code; it is still looked up the same way
NOT_FOUND = "未找到该查询码 no request has this tracking code"
NO_FOLLOW_UP = "当前没有待评价的回访 no follow-up is open for rating"
# form field → the rating body's field, for 422 messages in the resident's terms
_FIELD_OF = {"unsatisfied_reason": "comment", "revisit_note": "comment"}


class Throttled(Exception):
    """Too many unknown codes from this address (HTTP 429)."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many lookups; retry in {retry_after} s")


@dataclass(frozen=True)
class Tracked:
    """A case as its resident may see it, with the public notes and the rating state."""

    case: Case
    notes: list[CaseComment]
    rating_open: bool


def _key(address: str | None) -> str:
    return f"track:{(address or 'unknown')[:150]}"


def find_case(code: str, *, address: str | None) -> Case:
    """The case with this tracking code; NotFound (counted against ``address``) otherwise."""
    key = _key(address)
    wait = blocked_for([key], clock.now())
    if wait:
        raise Throttled(wait)
    wanted = code.strip().upper()[:MAX_CODE]
    case = db.session.scalar(select(Case).where(Case.tracking_code == wanted))
    if case is None:
        free = int(current_app.config.get("TRACK_ADDR_FREE", TRACK_ADDR_FREE))
        record_failure([(key, free)], clock.now())
        raise uow.NotFound(NOT_FOUND)
    return case


def open_revisit(case: Case) -> HumanTask | None:
    """The open 回访 task a resident may answer, or None."""
    if case.instance is None or case.instance.version.definition.key != RATED_PROCESS:
        return None
    return db.session.scalar(
        select(HumanTask)
        .where(
            HumanTask.case_id == case.id,
            HumanTask.bpmn_id == REVISIT_TASK,
            HumanTask.status == "open",
        )
        .order_by(HumanTask.created_at)
        .limit(1)
    )


def track(code: str, *, address: str | None) -> Tracked:
    case = find_case(code, address=address)
    notes = list(
        db.session.scalars(
            select(CaseComment)
            .where(CaseComment.case_id == case.id, CaseComment.public.is_(True))
            .order_by(CaseComment.created_at, CaseComment.id)
        )
    )
    return Tracked(case=case, notes=notes, rating_open=open_revisit(case) is not None)


def revisit_data(
    *, satisfaction: str, comment: str | None, resolved: bool | None
) -> dict[str, Any]:
    """The 回访 form's fields from a resident's rating: solved unless they say otherwise or
    are unsatisfied; the comment is the reason when unsatisfied, the note otherwise."""
    unsatisfied = satisfaction == "unsatisfied"
    data: dict[str, Any] = {
        "revisit_method": "online",
        "resolved": (not unsatisfied) if resolved is None else resolved,
        "satisfaction": satisfaction,
    }
    if comment:
        data["unsatisfied_reason" if unsatisfied else "revisit_note"] = comment
    return data


def rate(
    code: str,
    *,
    satisfaction: str,
    comment: str | None = None,
    resolved: bool | None = None,
    address: str | None,
) -> Case:
    """Complete the open 回访 with the resident's rating; Conflict (409) when none is open.
    Nothing is written on any error (the form is checked before the unit of work runs)."""
    case = find_case(code, address=address)
    task = open_revisit(case)
    if task is None:
        raise uow.Conflict(NO_FOLLOW_UP)
    data = revisit_data(satisfaction=satisfaction, comment=comment, resolved=resolved)
    schema = form_schema(task)
    if schema is not None:
        errors = form_errors(schema, data)
        if errors:
            raise InvalidInput(_rating_errors(errors), "评价无效 the rating is invalid")
    return uow.complete_task(
        task_id=task.id, data=data, actor=f"resident:{case.tracking_code}", as_user=None
    )


def _rating_errors(errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, messages in errors.items():
        out.setdefault(_FIELD_OF.get(name, name), []).extend(messages)
    return out
