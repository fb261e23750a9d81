"""The engine facade: start, complete, message, fire timers, and read what waits.

Nothing outside ``workflows/`` imports SpiffWorkflow. Every action on an :class:`Instance`
returns a :class:`Step` saying which tasks finished (the audit log keeps them, so compaction
may drop them from the state) and how the instance stands afterwards. A process counts as
closed only when one of its own end events was really reached: SpiffWorkflow reports a stalled
deep tree as completed (the depth trap), and we must never close a case that did not end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

from workflows import clock, serializer
from workflows.errors import NotWaiting, ScriptFailure, TaskNotReady
from workflows.functions import SCRIPT_FUNCTIONS, CalendarSource, using_calendar
from workflows.sandbox import SandboxError, make_script_engine
from workflows.specs import ProcessBundle
from workflows.tree import Workflow, run_engine_steps, walk_tasks

# SpiffWorkflow logs every task state change at INFO (eight lines per timer firing, and most of
# a scheduler's time once logging is on): the audit log records each step, so keep it quiet.
logging.getLogger("spiff").setLevel(logging.WARNING)

Status = Literal["running", "completed", "stalled"]
_SCRIPT_ENGINE = make_script_engine(SCRIPT_FUNCTIONS)
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


@dataclass(frozen=True)
class HumanTask:
    id: str
    bpmn_id: str
    name: str
    lane: str | None
    process_id: str
    properties: Mapping[str, str]

    @property
    def form(self) -> str | None:
        return self.properties.get("formJsonSchemaFilename")


@dataclass(frozen=True)
class Timer:
    task_id: str
    bpmn_id: str
    due_at: datetime
    kind: str  # boundary | catch | gateway
    interrupting: bool
    attached_to: str | None  # task id of the activity a boundary timer watches


@dataclass(frozen=True)
class FinishedTask:
    id: str
    bpmn_id: str
    name: str | None
    spec_type: str
    state: str
    lane: str | None
    data: dict[str, Any]  # what this task changed in the data (form input, script output)
    came_from: str | None = None  # bpmn id of the element it was reached from (the path taken)


@dataclass
class Step:
    finished: list[FinishedTask] = field(default_factory=list)
    fired_timers: list[Timer] = field(default_factory=list)
    ended_at: str | None = None  # bpmn id of the top-level end event reached in this step


class Instance:
    """One running process instance: a SpiffWorkflow workflow plus its calendar."""

    def __init__(
        self,
        workflow: BpmnWorkflow,
        *,
        calendar: CalendarSource = None,
        compactor: Callable[[BpmnWorkflow], object] | None = None,
    ) -> None:
        self.workflow = workflow
        self.calendar = calendar
        self.compactor = compactor
        self._walked: list[Any] | None = None  # every task, depth first; None: walk again

    def _tasks(self) -> list[Any]:
        """Every task (subprocesses included) in the engine's depth-first order: one walk,
        shared by the readers below until the next action changes the tree."""
        if self._walked is None:
            self._walked = walk_tasks(self.workflow)
        return self._walked

    # -- reading ------------------------------------------------------------------------
    def ready_tasks(self) -> list[HumanTask]:
        return [
            HumanTask(
                id=str(t.id),
                bpmn_id=t.task_spec.bpmn_id,
                name=t.task_spec.bpmn_name or t.task_spec.bpmn_id,
                lane=t.task_spec.lane,
                process_id=t.workflow.spec.name,
                properties=dict(t.task_spec.extensions.get("properties", {})),
            )
            for t in self._tasks()
            if t.state == TaskState.READY and t.task_spec.manual
        ]

    def waiting_timers(self) -> list[Timer]:
        timers = []
        for task in self._tasks():
            if task.state != TaskState.WAITING:
                continue
            spec = task.task_spec
            definition = getattr(spec, "event_definition", None)
            if isinstance(definition, MultipleEventDefinition):
                if not any(
                    isinstance(d, TimerEventDefinition) for d in definition.event_definitions
                ):
                    continue
                kind = "gateway"
            elif isinstance(definition, TimerEventDefinition):
                kind = "boundary" if hasattr(spec, "cancel_activity") else "catch"
            else:
                continue
            due = _due(task.internal_data.get("event_value"))
            if due is None:
                continue
            attached = _attached_activity(task) if kind == "boundary" else None
            timers.append(
                Timer(
                    task_id=str(task.id),
                    bpmn_id=spec.bpmn_id,
                    due_at=due,
                    kind=kind,
                    interrupting=bool(getattr(spec, "cancel_activity", True)),
                    attached_to=str(attached.id) if attached is not None else None,
                )
            )
        return timers

    def task_data(self, task_id: str) -> dict[str, Any]:
        return dict(self._task(task_id).data)

    @property
    def data(self) -> dict[str, Any]:
        """The freshest data in the instance (subprocesses included): that of the task that
        changed state last among the finished and ready ones; what the case row shows."""
        tasks = [t for t in self._tasks() if t.state & (TaskState.COMPLETED | TaskState.READY)]
        if not tasks:
            return dict(self.workflow.data)
        return dict(max(tasks, key=lambda t: t.last_state_change or 0).data)

    @property
    def status(self) -> Status:
        if self.workflow.is_completed():
            return "completed"
        return "running" if any(t.state & _LIVE for t in self._tasks()) else "stalled"

    def dump(self) -> str:
        return serializer.dump_instance(self.workflow)

    # -- acting -------------------------------------------------------------------------
    def start(self) -> Step:
        return self._act(lambda: None)

    def complete(self, task_id: str, data: Mapping[str, Any]) -> Step:
        task = self._task(task_id)
        if task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskNotReady(f"task {task_id} is not ready")

        def action() -> None:
            task.data.update(data)
            task.run()

        return self._act(action)

    def send_message(self, name: str, payload: Mapping[str, Any]) -> Step:
        def action() -> None:
            try:
                self.workflow.send_event(BpmnEvent(MessageEventDefinition(name), dict(payload)))
            except WorkflowException as exc:
                raise NotWaiting(str(exc)) from exc

        return self._act(action)

    def fire_due_timers(self, waiting: list[Timer] | None = None) -> Step:
        """Fire every timer due strictly before now (the engine's own test is ``due < now``);
        ``waiting``: this instance's waiting timers, when the caller has just read them."""
        moment = clock.now()
        waiting = self.waiting_timers() if waiting is None else waiting
        due = [t for t in waiting if t.due_at < moment]
        if not due:
            raise NotWaiting("no timer of this instance is due")
        step = self._act(self.workflow.refresh_timers)
        step.fired_timers = due
        return step

    # -- internals ----------------------------------------------------------------------
    def _task(self, task_id: str) -> Any:
        try:
            task = self.workflow.get_task_from_id(UUID(task_id))
        except ValueError:
            task = None
        if task is None:
            raise TaskNotReady(f"task {task_id} does not exist in this instance")
        return task

    def _act(self, action: Callable[[], object]) -> Step:
        before = {t.id: t.state for t in self._tasks()}
        self._walked = None
        with self._running():
            action()
            run_engine_steps(self.workflow)
        tasks = walk_tasks(self.workflow)  # one walk of the tree for origins and finished tasks
        _mark_origins(tasks)
        step = Step(finished=self._finished_since(before, tasks))
        top_ends = [
            f.bpmn_id
            for f, t in zip(step.finished, self._finished_tasks, strict=True)
            if f.spec_type == "EndEvent" and t.workflow is self.workflow and f.state == "COMPLETED"
        ]
        step.ended_at = top_ends[-1] if top_ends and self.workflow.is_completed() else None
        _prune_orphan_subprocesses(self.workflow)  # (the walk reaches no orphan)
        if self.compactor is not None:
            self.compactor(self.workflow)  # drops tasks: the readers walk again
        else:
            self._walked = tasks
        return step

    @contextmanager
    def _running(self) -> Iterator[None]:
        with using_calendar(self.calendar):
            try:
                yield
            except (TaskNotReady, NotWaiting):
                raise
            except SpiffWorkflowException as exc:
                raise _script_failure(exc) from exc
            except SandboxError as exc:
                raise ScriptFailure(str(exc)) from exc

    def _finished_since(
        self, before: Mapping[UUID, TaskState], everything: list[Any]
    ) -> list[FinishedTask]:
        # Filter here, not with get_tasks(state=...): the engine's iterator does not descend
        # below a task in a lower state (a running multi-instance activity is STARTED), so
        # the tasks finished inside a running department instance would be missed.
        tasks = [
            t
            for t in everything
            if t.has_state(_FINISHED)
            and t.task_spec.bpmn_id is not None  # skip the engine's own bookkeeping tasks
            and (before.get(t.id) is None or not before[t.id] & _FINISHED)
        ]
        tasks.sort(key=lambda t: t.last_state_change or 0)
        self._finished_tasks = tasks
        return [
            FinishedTask(
                id=str(t.id),
                bpmn_id=t.task_spec.bpmn_id,
                name=t.task_spec.bpmn_name,
                spec_type=type(t.task_spec).__name__,
                state=TaskState.get_name(t.state),
                lane=t.task_spec.lane,
                data=_delta(t),
                came_from=t.internal_data.get(_ORIGIN),
            )
            for t in tasks
        ]


def _prune_orphan_subprocesses(workflow: BpmnWorkflow) -> None:
    """Drop subprocesses whose parent task is gone.

    Cancelling an embedded subprocess (a withdrawal) can leave the multi-instance children it
    started in ``workflow.subprocesses`` after their parent tasks left the tree; the loader
    would drop them, so the state would not survive a save/load/save round trip unchanged.
    """
    while True:
        known = set(workflow.tasks)
        for sub in workflow.subprocesses.values():
            known.update(sub.tasks)
        orphans = [key for key in workflow.subprocesses if key not in known]
        if not orphans:
            return
        for key in orphans:
            del workflow.subprocesses[key]


def _attached_activity(boundary: Any) -> Any:
    """The activity a boundary event watches: its sibling under the boundary split."""
    siblings = boundary.parent.children if boundary.parent is not None else []
    return next((t for t in siblings if not hasattr(t.task_spec, "cancel_activity")), None)


_ORIGIN = "gridcase_came_from"


def _mark_origins(tasks: list[Any]) -> None:
    """Remember, on each task, the element it was reached from: compaction later re-parents
    live tasks, and the audit log and flow coverage need the path actually taken."""
    for task in tasks:
        if _ORIGIN not in task.internal_data and task.task_spec.bpmn_id is not None:
            task.internal_data[_ORIGIN] = _came_from(task)


def _came_from(task: Any) -> str | None:
    """The nearest ancestor that is a BPMN element (the engine inserts helper tasks between)."""
    parent = task.parent
    while parent is not None and parent.task_spec.bpmn_id is None:
        parent = parent.parent
    return parent.task_spec.bpmn_id if parent is not None else None


def _delta(task: Any) -> dict[str, Any]:
    if task.parent is None:
        return dict(task.data)
    return DeepMerge.get_updated_keys(task.parent.data, task.data)


def _script_failure(exc: SpiffWorkflowException) -> ScriptFailure:
    task = getattr(exc, "task", None)
    element = getattr(getattr(task, "task_spec", None), "bpmn_id", None)
    cause = exc.__cause__ or getattr(exc, "error", None)
    message = str(exc) if cause is None else f"{exc} ({type(cause).__name__}: {cause})"
    return ScriptFailure(message, element=element)


def _due(event_value: object) -> datetime | None:
    if isinstance(event_value, dict):
        event_value = event_value.get("next")
    if not isinstance(event_value, str):
        return None
    try:
        due = TimerEventDefinition.get_datetime(event_value)
    except ValueError:
        return None
    return datetime.fromisoformat(due.isoformat())  # a plain datetime, not the engine's subclass


def start_instance(
    bundle: ProcessBundle | tuple[Any, dict[str, Any]],
    data: Mapping[str, Any],
    *,
    calendar: CalendarSource = None,
    compactor: Callable[[BpmnWorkflow], object] | None = None,
) -> tuple[Instance, Step]:
    spec, subprocess_specs = _specs(bundle)
    workflow = Workflow(spec, subprocess_specs, script_engine=_SCRIPT_ENGINE)
    workflow.task_tree.data.update(data)
    for task in workflow.task_tree.children:
        task.data.update(data)
    instance = Instance(workflow, calendar=calendar, compactor=compactor)
    return instance, instance.start()


def load_instance(
    bundle: ProcessBundle | tuple[Any, dict[str, Any]],
    state: str,
    *,
    calendar: CalendarSource = None,
    compactor: Callable[[BpmnWorkflow], object] | None = None,
) -> Instance:
    """Restore an instance and re-attach our sandboxed script engine (never the default one)."""
    spec, subprocess_specs = _specs(bundle)
    workflow = serializer.load_instance(state, spec=spec, subprocess_specs=subprocess_specs)
    workflow.script_engine = _SCRIPT_ENGINE  # subprocesses use their top workflow's engine
    return Instance(workflow, calendar=calendar, compactor=compactor)


def _specs(bundle: ProcessBundle | tuple[Any, dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
    if isinstance(bundle, ProcessBundle):
        return bundle.spec, bundle.subprocess_specs
    return bundle
