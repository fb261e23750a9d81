"""The unit of work's note actions: comments (备注/公开答复) and attachments (附件) on a case.

Each is one write transaction holding the row and its audit event (``comment.added``,
``attachment.added``), so neither exists without the other. The case row is locked
(``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serializes writers), so a
note racing a task completion waits for it instead of failing on the event sequence.

Notes are allowed on a closed case too: a caseworker may record a follow-up remark or file
evidence after closure (回访 remarks, a late photo), and the audit trail shows when. They
change no workflow state, so a suspended (挂起) case takes them as well. Auditors never get
here: the API refuses their writes.

An attachment's bytes are written to the content-addressed store *before* this
transaction (see ``app/cases/blobs.py``); only their hash, size and type are recorded here,
never the bytes.
"""

from __future__ import annotations

from sqlalchemy import select

from app.core.models import Case, CaseAttachment, CaseComment
from app.core.uow import NotFound, _unit, append_event
from app.extensions import db
from workflows import clock


def _locked_case(case_id: int) -> Case:
    case = db.session.scalar(
        select(Case)
        .where(Case.id == case_id)
        .with_for_update(of=Case)  # the joined org unit stays unlocked (and outer-joined)
        .execution_options(populate_existing=True)
    )
    if case is None:
        raise NotFound(f"case {case_id} not found")
    return case


def add_comment(*, case_id: int, author: str, body: str, public: bool) -> CaseComment:
    """Add a comment (``public``: a 公开答复 the resident sees on the tracking page)."""
    with _unit("comment") as session:
        case = _locked_case(case_id)
        comment = CaseComment(
            case_id=case.id, author=author, body=body, public=public, created_at=clock.now()
        )
        session.add(comment)
        session.flush()  # the id goes into the event
        append_event(
            case,
            type="comment.added",
            actor=author,
            data={"comment": {"id": comment.id, "body": body, "public": public}},
        )
    return comment


def add_attachment(
    *,
    case_id: int,
    filename: str,
    content_type: str,
    size: int,
    sha256: str,
    uploaded_by: str,
) -> tuple[CaseAttachment, bool]:
    """Record a stored file on the case; ``(row, created)``. The same content on the same
    case again (a retried upload from a phone) returns the existing row and writes nothing."""
    with _unit("attachment") as session:
        case = _locked_case(case_id)
        existing = session.scalar(
            select(CaseAttachment)
            .where(CaseAttachment.case_id == case.id, CaseAttachment.sha256 == sha256)
            .order_by(CaseAttachment.id)
            .limit(1)
        )
        if existing is not None:
            return existing, False
        row = CaseAttachment(
            case_id=case.id,
            filename=filename,
            content_type=content_type,
            size=size,
            sha256=sha256,
            uploaded_by=uploaded_by,
            created_at=clock.now(),
        )
        session.add(row)
        session.flush()
        append_event(
            case,
            type="attachment.added",
            actor=uploaded_by,
            data={
                "attachment": {
                    "id": row.id,
                    "filename": filename,
                    "content_type": content_type,
                    "size": size,
                    "sha256": sha256,
                }
            },
        )
    return row, True
