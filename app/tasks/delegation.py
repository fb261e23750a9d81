"""委派 delegate and resolve: the assignee lends a task to a colleague and gets it back.

Rules (Flowable's delegation, which the Chinese BPM products follow):
- only the task's assignee (the owner) delegates, to an active user who holds the task's role
  in its unit (or above it with include_below), never to themselves; a delegated task cannot be
  delegated again;
- only the delegate resolves, which hands the task back to the owner;
- while delegated, nobody completes the task: the delegate resolves, the owner completes;
- the delegate cannot unclaim it (resolve gives it back); a dispatcher's assign, or a
  release by an admin or a dispatcher holding the role, ends the delegation
  (app/core/uow.py ``_set_assignee``).
State that does not allow the action (not open, not claimed, already or not delegated, a
concurrent change) is a Conflict (409); a caller who is not the one to act is Forbidden (403);
a target user who does not exist or cannot hold the task is 422 naming ``username``.
"""

from __future__ import annotations

from sqlalchemy import select

from app.auth.access import Forbidden, Principal
from app.cases.queries import InvalidInput
from app.core import delegation, uow
from app.core.models import HumanTask
from app.extensions import db
from app.orgs.models import User
from app.tasks.service import can_act, visible_task


def eligible_user(task: HumanTask, username: str, *, action: str) -> User:
    """The active user ``username`` who may hold ``task``, or 422 naming ``username``."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise InvalidInput({"username": [f"no active user {username!r}"]}, f"cannot {action}")
    if not Principal.of(user).holds(task.role, task.org_unit):
        raise InvalidInput(
            {"username": [f"{username} does not hold {task.role} in {task.org_unit.code}"]},
            f"cannot {action}",
        )
    return user


def _open(task: HumanTask) -> None:
    if task.status != "open":
        raise uow.Conflict(f"task {task.id} is already {task.status}")


def delegate(p: Principal, task_id: str, username: str, note: str = "") -> HumanTask:
    """Lend my task to ``username``; it shows in their "mine" inbox until they resolve it."""
    task = visible_task(p, task_id)
    if not can_act(p, task):
        raise Forbidden(f"you may not act on task {task_id}")
    _open(task)
    if task.owner_id is not None:
        raise uow.Conflict(f"task {task_id} is already delegated: the delegate resolves it first")
    if task.assignee_id is None:
        raise uow.Conflict(f"task {task_id} is not claimed: claim it before delegating it")
    if task.assignee_id != p.user.id:
        raise Forbidden("only the task's assignee may delegate it")
    user = eligible_user(task, username, action="delegate")
    if user.id == p.user.id:
        raise InvalidInput({"username": ["cannot delegate a task to yourself"]}, "cannot delegate")
    return delegation.delegate_task(
        task_id=task_id, owner=p.user, delegate=user, note=note, actor=p.username
    )


def resolve(p: Principal, task_id: str, note: str = "") -> HumanTask:
    """Give a task delegated to me back to its owner, who completes it."""
    task = visible_task(p, task_id)
    _open(task)
    if task.owner_id is None:
        raise uow.Conflict(f"task {task_id} is not delegated")
    if p.read_only or task.assignee_id != p.user.id:
        raise Forbidden("only the delegate may resolve a delegated task")
    return delegation.resolve_task(task_id=task_id, delegate=p.user, note=note, actor=p.username)
