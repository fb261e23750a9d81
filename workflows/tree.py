"""The task tree: our workflow classes, one walk of the tree, and the engine's steps.

SpiffWorkflow's ``TaskIterator`` looks up each task's parent again for every leaf (UUID keys
hash in Python); walking the tree that way was a third of a timer firing's engine time, and
the engine walks it again after every task it completes (``update_waiting_tasks``). The
walks here visit the same tasks in the same order and stop at the same depth, so the engine
runs exactly as it would on its own: tests/workflows/test_tree.py and the differential tests
in test_engine.py hold them to SpiffWorkflow's own at every step.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.util.task import TaskState

_MAX_DEPTH = 1000  # the engine's iterator goes no deeper (the depth trap: compaction avoids it)


class _WaitingTasks:
    """``update_waiting_tasks`` of SpiffWorkflow 3.2 (run after every completed task), with
    the walk below instead of its iterator."""

    def update_waiting_tasks(self) -> None:
        update_waiting(self)


class Workflow(_WaitingTasks, BpmnWorkflow):
    """A top-level workflow. Serialized under SpiffWorkflow's own name (``BpmnWorkflow``)."""

    def create_subprocess(self, my_task: Any, spec_name: str) -> BpmnSubWorkflow:
        """BpmnWorkflow.create_subprocess, but the subprocess is one of ours."""
        subprocess = SubWorkflow(
            self.subprocess_specs[spec_name], parent_task_id=my_task.id, top_workflow=self
        )
        self.subprocesses[my_task.id] = subprocess
        return subprocess


class SubWorkflow(_WaitingTasks, BpmnSubWorkflow):
    """A subprocess (call activity, embedded subprocess) of a :class:`Workflow`."""


def update_waiting(workflow: Any) -> None:
    """Update every WAITING task of ``workflow`` (not of its subprocesses), in the engine's
    order. As its iterator does, this reads a task's children when it reaches the task and
    its state only then, so an update that changes the tree is seen as the engine sees it,
    and it does not go below a predicted (MAYBE, LIKELY) task."""
    tasks = workflow.tasks
    if len(tasks) > _MAX_DEPTH // 2:  # deep enough for the iterator's depth limit: its walk
        BpmnWorkflow.update_waiting_tasks(workflow)
        return
    stack = [workflow.task_tree]
    while stack:
        task = stack.pop()
        if task._children and task.state >= TaskState.FUTURE:
            stack += [tasks.get(c) for c in reversed(task._children)]
        if task.state == TaskState.WAITING:
            task.task_spec._update(task)


def walk_tasks(workflow: BpmnWorkflow) -> list[Any]:
    """What ``workflow.get_tasks()`` returns, at a fraction of its cost: the engine's iterator
    looks up each task's parent again for every leaf (UUID keys hash in Python). Depth first,
    a subprocess's tasks right after the task that runs it, and no deeper than the engine
    looks, as the engine orders and limits them."""
    subprocesses = workflow.top_workflow.subprocesses
    total = len(workflow.tasks) + sum(len(s.tasks) for s in subprocesses.values())
    if total > _MAX_DEPTH:  # only so many tasks can be that deep: count depth then
        return _walk_with_depth(workflow, subprocesses)
    found: list[Any] = []
    stack = [workflow.task_tree]
    while stack:
        task = stack.pop()
        found.append(task)
        if task._children:
            tasks = task.workflow.tasks
            stack += [tasks[c] for c in reversed(task._children)]
        if subprocesses and (sub := subprocesses.get(task.id)) is not None:
            stack.append(sub.task_tree)
    return found


def _walk_with_depth(workflow: BpmnWorkflow, subprocesses: dict[Any, Any]) -> list[Any]:
    found: list[Any] = []
    stack = [(workflow.task_tree, 0)]
    while stack:
        task, depth = stack.pop()
        found.append(task)
        if depth >= _MAX_DEPTH:
            continue
        tasks = task.workflow.tasks
        below = [(tasks[c], depth + 1) for c in reversed(task._children)]
        sub = subprocesses.get(task.id) if subprocesses else None
        if sub is not None:
            below.append((sub.task_tree, depth + 1))
        stack += below
    return found


def run_engine_steps(workflow: BpmnWorkflow) -> None:
    """``workflow.do_engine_steps()`` of SpiffWorkflow 3.2, line for line, but for how the
    ready tasks are found: :func:`walk_tasks` gives the same tasks in the same order as the
    engine's iterator, which cost a third of a timer firing's engine time."""
    while _engine_pass(workflow):
        pass
    workflow.refresh_timers()


def _engine_pass(workflow: BpmnWorkflow) -> bool:
    active = workflow.get_active_subprocesses()
    for subprocess in sorted(active, key=lambda v: v.depth, reverse=True):
        while _run_ready(subprocess):
            pass
        if subprocess.parent_task_id is not None:
            task = workflow.get_task_from_id(subprocess.parent_task_id)
            task.task_spec._update(task)
    ran = _run_ready(workflow)
    return ran > 0 or len(workflow.get_active_subprocesses()) > len(active)


def _run_ready(workflow: Any) -> int:
    """Run the workflow's ready engine tasks (listed first: a run may change the others)."""
    ran = 0
    for task in [t for t in walk_tasks(workflow) if t.state == TaskState.READY]:
        if not task.task_spec.manual:
            task.run()
            ran += 1
    return ran
