"""Bulk claim / assign (批量领取 / 批量指派) from the inbox.

Each id runs as its own unit of work, exactly as if it had been sent alone: one id failing
(someone else claimed it, it is not yours to see, the user cannot hold it) does not undo the
others, and its result says why, with the HTTP status the single call would have answered.
A bad request as a whole (unknown action, too many or repeated ids, an unknown user to assign
to) is a 422 before anything is written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.auth.access import Forbidden, Principal
from app.cases.queries import InvalidInput
from app.core import uow
from app.extensions import db
from app.orgs.models import User
from app.tasks import service

MAX_IDS = 100
ACTIONS = ("claim", "assign")


def _one(p: Principal, action: str, task_id: str, username: str | None) -> dict[str, Any]:
    try:
        if action == "claim":
            task = service.claim(p, task_id)
        else:
            assert username is not None
            task = service.assign(p, task_id, username)
    except uow.NotFound as exc:
        return {"id": task_id, "status": 404, "detail": str(exc)}
    except Forbidden as exc:
        return {"id": task_id, "status": 403, "detail": str(exc)}
    except uow.Conflict as exc:
        return {"id": task_id, "status": 409, "detail": str(exc)}
    except InvalidInput as exc:
        messages = "; ".join(m for ms in exc.errors.values() for m in ms)
        return {"id": task_id, "status": 422, "detail": f"{exc}: {messages}"}
    return {"id": task_id, "status": 200, "task": task}


def run(p: Principal, *, action: str, ids: list[str], username: str | None) -> list[dict[str, Any]]:
    """Apply ``action`` to every id in order; one result per id."""
    if action == "assign":
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None or not user.active:
            raise InvalidInput({"username": [f"no active user {username!r}"]}, "cannot assign")
    return [_one(p, action, task_id, username) for task_id in ids]
