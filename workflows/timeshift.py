"""Moving an instance's SLA clock: 挂起 (resume after a pause) and 延期 (extension).

Both move "what is still ahead" by some working time. Our timer rows are a projection, so the
move is made in the engine itself: each waiting timer's ``event_value`` (the due time the
engine tests on ``refresh_timers``) and the planned moments in the live data (``case_due_at``,
``remind_80_at``...) that later steps and timers read. The projection then follows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from SpiffWorkflow.util.task import TaskState

from workflows.engine import Instance, Timer

_PENDING = (
    TaskState.READY
    | TaskState.WAITING
    | TaskState.STARTED
    | TaskState.FUTURE
    | TaskState.LIKELY
    | TaskState.MAYBE
)

Move = Callable[[datetime], datetime]


def shift_timers(
    instance: Instance, move: Move, *, since: datetime
) -> list[tuple[Timer, datetime]]:
    """Move every waiting timer due at or after ``since`` to ``move(due)``.

    The engine's own ``event_value`` is rewritten, so the engine and the timer rows agree and
    ``refresh_timers`` fires at the new time. A cycle timer keeps its dict form (cycles left,
    duration); only its ``next`` moves. Returns (timer as it was, new due) pairs.
    """
    moved = []
    for timer in instance.waiting_timers():
        if timer.due_at < since:
            continue
        new_due = move(timer.due_at)
        if new_due == timer.due_at:
            continue
        task = instance.workflow.get_task_from_id(UUID(timer.task_id))
        text = new_due.astimezone(UTC).isoformat()
        value = task.internal_data.get("event_value")
        task.internal_data["event_value"] = (
            {**value, "next": text} if isinstance(value, dict) else text
        )
        moved.append((timer, new_due))
    return moved


def shift_data_times(instance: Instance, move: Move, *, since: datetime) -> list[str]:
    """Move the moments still ahead in the live data: top-level ISO datetimes at or after
    ``since`` become ``move(value)``. Returns the keys moved.

    Live tasks hold the data later steps copy forward; the task :attr:`Instance.data` reads
    is updated too, so the case row follows in this very step.
    """
    workflow = instance.workflow
    tasks = workflow.get_tasks(state=_PENDING)
    freshest = workflow.get_tasks(state=TaskState.COMPLETED | TaskState.READY)
    if freshest:
        tasks.append(max(freshest, key=lambda t: t.last_state_change or 0))
    keys: set[str] = set()
    seen: set[int] = set()
    for task in tasks:
        if id(task.data) in seen:
            continue
        seen.add(id(task.data))
        for key, value in list(task.data.items()):
            moment = aware_moment(value)
            if moment is not None and moment >= since:
                task.data[key] = move(moment).astimezone(UTC).isoformat()
                keys.add(key)
    return sorted(keys)


def aware_moment(value: object) -> datetime | None:
    """``value`` as an aware datetime if it is an ISO 8601 date-time with an offset."""
    if not isinstance(value, str) or len(value) < 19 or value[4:5] != "-":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
