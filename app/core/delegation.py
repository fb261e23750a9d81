"""委派 delegation in the unit of work: lend a task, and give it back.

The owner (the task's assignee) lends it to a delegate: ``owner_id`` records the owner and the
delegate becomes the assignee, so it sits in the delegate's "mine" inbox. The delegate
resolves it: the owner is the assignee again and ``owner_id`` is cleared. As in Flowable, the
delegate does the work but does not complete the task; the owner completes it after the
resolve. Each write checks, inside its transaction, that the task is still in the state the
caller saw (``expect_*``) and bumps the task's revision, so a concurrent claim, assign or
delegation is a Conflict (409), never a silent overwrite.
"""

from __future__ import annotations

from app.core.models import HumanTask
from app.core.uow import Conflict, _open_task, _unit, append_event
from app.orgs.models import User

DELEGATED = "task.delegated"
RESOLVED = "task.resolved"


def delegate_task(*, task_id: str, owner: User, delegate: User, note: str, actor: str) -> HumanTask:
    """Lend ``owner``'s task to ``delegate`` (eligibility is the caller's check)."""
    with _unit(DELEGATED):
        task = _open_task(task_id)
        if task.owner_id is not None:
            raise Conflict(f"task {task_id} is already delegated")
        if task.assignee_id != owner.id:
            raise Conflict(f"task {task_id} was claimed or released by someone else")
        task.owner = owner
        task.assignee = delegate
        append_event(
            task.case,
            type=DELEGATED,
            actor=actor,
            data={
                "task": {"id": task_id, "bpmn_id": task.bpmn_id},
                "owner": owner.username,
                "assignee": [owner.username, delegate.username],
                "note": note,
            },
        )
    return task


def resolve_task(*, task_id: str, delegate: User, note: str, actor: str) -> HumanTask:
    """Give a delegated task back to its owner; only while ``delegate`` still holds it."""
    with _unit(RESOLVED):
        task = _open_task(task_id)
        owner = task.owner
        if owner is None:
            raise Conflict(f"task {task_id} is not delegated")
        if task.assignee_id != delegate.id:
            raise Conflict(f"task {task_id} was reassigned by someone else")
        task.assignee = owner
        task.owner = None
        append_event(
            task.case,
            type=RESOLVED,
            actor=actor,
            data={
                "task": {"id": task_id, "bpmn_id": task.bpmn_id},
                "owner": owner.username,
                "assignee": [delegate.username, owner.username],
                "note": note,
            },
        )
    return task
