"""Drop the finished history a SpiffWorkflow 3.2 instance no longer needs.

SpiffWorkflow keeps every finished task, and each loop pass nests the task tree one level
deeper: cost per step grows, and near depth 1000 the engine's iterators silently stop (the
instance looks completed) or a parallel gateway recurses into a RecursionError. The case
history lives in our audit log, so `compact` removes finished tasks and hands them back.

What the engine still reads from finished tasks (SpiffWorkflow 3.2.0), hence what is kept:

* the parent of every unfinished task: a task inherits its parent's data when it is updated,
  and a parallel join checks its instances' parents;
* for a structured join (`BoundaryEventJoin`, `StartEventJoin`): its split ancestor and the
  split's children (main task and boundary events);
* for each input spec of a parallel gateway, the nearest ancestor of every unfinished task
  with that spec: `ParallelGateway._check_threshold_unstructured` walks from a predicted
  instance up the history to the first task whose spec is a missing input, which for a
  gateway that a loop re-enters is the task that entered it the first time (`init` in D);
* cancelled instances of a parallel/inclusive join newer than its last firing (with their
  parents): they carry tokens still pending; older ones are tokens a firing consumed;
* for an inclusive join: its topmost instances and their parents (its check walks the tree
  from the root and stops at the first instance on each path);
* all instance children of a running multi-instance task; `last_task`; the root; ERROR tasks;
  subprocess tasks whose subprocess still runs.

Kept tasks are re-linked to their nearest kept ancestor (a "virtual tree"), which keeps
every ancestor relation and the depth-first order among kept tasks; in-memory data stays
whole, and the serializer's per-task delta is taken against the new parent, so round trips
keep full data. Dropped subprocess tasks take their `wf.subprocesses` entries with them.

Known differences from the raw engine (the history is gone, by design): a join no longer
merges data from the branches of earlier passes (only keys that later passes deleted, or
list values, could differ), and a parallel join no longer reuses a token an earlier firing
consumed (the raw engine does, and then fires early when the completion order changes
between passes). Tasks cannot be reset to a dropped point, and resetting to a kept finished
task inherits its new parent's data. `task_removed_event` is not emitted: the caller gets
the dropped tasks as the return value.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.util.subworkflow import BpmnBaseWorkflow
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

_LIVE = TaskState.NOT_FINISHED_MASK | TaskState.ERROR  # an ERROR task may be retried


@dataclass(frozen=True)
class DroppedTask:
    """A finished task removed from the engine state: what the audit log keeps of it."""

    id: str
    bpmn_id: str
    name: str | None
    spec_type: str
    state: str
    data: dict


@dataclass(frozen=True)
class ShapeProblem:
    """A process shape compaction cannot keep both correct and flat, pinned to an element."""

    element_id: str
    message: str


def compact(workflow: BpmnWorkflow, *, records: bool = True) -> list[DroppedTask]:
    """Drop the finished part of the task tree the engine no longer needs; return what was
    dropped (with ``records=False``, nothing: the unit of work's audit event already holds
    each finished task, and copying the data of every dropped one cost a tenth of the work).

    Call it between engine steps (after `do_engine_steps()`, before serializing).
    """
    dropped: list[DroppedTask] | None = [] if records else None
    _compact_tree(workflow, workflow, dropped)
    for sp_id in list(workflow.subprocesses):
        sp = workflow.subprocesses.get(sp_id)
        if sp is not None:  # gone if a compaction above dropped its task
            _compact_tree(sp, workflow, dropped)
    return dropped or []


def compaction_problems(
    spec: BpmnProcessSpec, subprocess_specs: Mapping[str, BpmnProcessSpec]
) -> list[ShapeProblem]:
    """Process shapes compaction cannot keep both correct and flat (refused at deploy).

    An inclusive join on a cycle: SpiffWorkflow 3.2 checks it against the first pass's
    instance (its tree walk stops there), so from the second pass on it fires on the first
    arriving branch; compaction mirrors the engine, so it cannot make that correct.
    Parallel gateways on cycles (split or join) are handled by `compact` and not refused.
    """
    problems = []
    for process in [spec, *subprocess_specs.values()]:
        for ts in process.task_specs.values():
            if isinstance(ts, InclusiveGateway) and len(ts.inputs) > 1 and _on_cycle(ts):
                problems.append(
                    ShapeProblem(
                        ts.bpmn_id or ts.name,
                        "inclusive gateway joins on a loop: SpiffWorkflow 3.2 evaluates it against "
                        "the first pass's instance, so later passes fire on the first branch to "
                        "arrive; use a parallel gateway, or leave the loop before the join",
                    )
                )
    return problems


def _on_cycle(start: Any) -> bool:
    """Whether `start` can reach itself through its outputs."""
    seen: set[str] = set()
    stack = list(start.outputs)
    while stack:
        ts = stack.pop()
        if ts is start:
            return True
        if ts is not None and ts.name not in seen:
            seen.add(ts.name)
            stack.extend(ts.outputs)
    return False


def _compact_tree(
    wf: BpmnBaseWorkflow, top: BpmnWorkflow, dropped: list[DroppedTask] | None
) -> None:
    """Compact one workflow's own task tree (the top workflow or one subprocess)."""
    keep = _needed(wf, top)
    if len(keep) == len(wf.tasks):
        return
    links = _virtual_tree(wf.task_tree, wf.tasks, keep)
    if links is None:  # tree and task map disagree: leave this workflow alone
        return
    for task in [t for t in wf.tasks.values() if t.id not in keep]:
        del wf.tasks[task.id]
        top.event_manager.remove_task(task)
        if dropped is not None:
            dropped.append(_record(task))
        if isinstance(task.task_spec, SubWorkflowTask):
            _drop_subprocess(top, task.id, dropped)
    for task_id, (parent, children) in links.items():
        task = wf.tasks[task_id]
        task._parent = parent
        task._children = children


def _needed(wf: BpmnBaseWorkflow, top: BpmnWorkflow) -> set[UUID]:
    """Ids of the tasks of `wf` the engine may still read (see the module docstring)."""
    tasks: dict[UUID, Task] = wf.tasks
    keep = {wf.task_tree.id}
    if wf.last_task is not None and wf.last_task.id in tasks:
        keep.add(wf.last_task.id)
    walked = _walked_inputs(wf.spec)
    for task in tasks.values():
        if task.has_state(_LIVE) or _runs_subprocess(task, top):
            keep.update(x for x in _read_from(task, walked) if x in tasks)
    for ts in wf.spec.task_specs.values():
        if isinstance(ts, ParallelGateway | InclusiveGateway):
            keep.update(x for x in _join_tokens(wf, ts) if x in tasks)
    return keep


def _read_from(task: Task, walked: Mapping[str, set[str]]) -> Iterator[UUID]:
    """An unfinished task, and what the engine reads around it."""
    yield task.id
    yield task._parent  # its data is inherited (again) when the task is updated
    spec = task.task_spec
    if isinstance(spec, MultiInstanceTask):  # instances: progress, completion condition
        yield from task._children
    if isinstance(spec, Join) and spec.split_task is not None:  # boundary/start event joins
        split = next((a for a in _ancestors(task) if a.task_spec.name == spec.split_task), None)
        if split is not None:
            yield split.id
            yield from split._children
    missing = set(walked.get(spec.name, ()))
    for anc in _ancestors(task):  # what a parallel gateway below may walk back to
        if not missing:
            break
        if anc.task_spec.name in missing:
            missing.discard(anc.task_spec.name)
            yield anc.id


def _join_tokens(wf: BpmnBaseWorkflow, spec: Any) -> Iterator[UUID]:
    """Finished instances of a parallel/inclusive join its check still counts, and their
    parents: cancelled ones newer than its last firing, and (inclusive) the topmost ones."""
    instances = [t for t in wf.tasks.values() if t.task_spec is spec]
    fired = [t.last_state_change for t in instances if t.state == TaskState.COMPLETED]
    last_fired = max(fired, default=float("-inf"))
    pending = [
        t for t in instances if t.state == TaskState.CANCELLED and t.last_state_change > last_fired
    ]
    if isinstance(spec, InclusiveGateway):
        pending += _topmost(wf.task_tree, wf.tasks, spec)
    for t in pending:
        yield t.id
        yield t._parent


_WALKED: weakref.WeakKeyDictionary[BpmnProcessSpec, dict[str, set[str]]] = (
    weakref.WeakKeyDictionary()
)


def _walked_inputs(spec: BpmnProcessSpec) -> dict[str, set[str]]:
    """For each task spec: the input specs of the parallel gateways reachable from it, which
    are what a gateway instance below a task of that spec may look for among its ancestors.
    Specs are immutable once deployed, so this is computed once per spec."""
    walked = _WALKED.get(spec)
    if walked is None:
        walked = _WALKED[spec] = _compute_walked_inputs(spec)
    return walked


def _compute_walked_inputs(spec: BpmnProcessSpec) -> dict[str, set[str]]:
    specs = spec.task_specs
    gateways = {name for name, ts in specs.items() if isinstance(ts, ParallelGateway)}
    walked = {}
    for name, ts in specs.items():
        seen: set[str] = set()
        stack = [ts]
        while stack:
            cur = stack.pop()
            if cur is not None and cur.name not in seen:
                seen.add(cur.name)
                stack.extend(cur.outputs)
        walked[name] = {i.name for g in seen & gateways for i in specs[g].inputs}
    return walked


def _runs_subprocess(task: Task, top: BpmnWorkflow) -> bool:
    sp = top.subprocesses.get(task.id)
    return sp is not None and not sp.completed


def _ancestors(task: Task) -> Iterator[Task]:
    """Walk up the parents iteratively (the engine's recursive walks overflow on deep trees)."""
    parent = task.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def _topmost(root: Task, tasks: Mapping[UUID, Task], spec: Any) -> list[Task]:
    """Instances of `spec` with no instance of `spec` above them, as the inclusive check sees."""
    found, stack = [], [root]
    while stack:
        task = stack.pop()
        if task.task_spec is spec:
            found.append(task)
            continue
        stack.extend(tasks[c] for c in reversed(task._children) if c in tasks)
    return found


def _virtual_tree(
    root: Task, tasks: Mapping[UUID, Task], keep: set[UUID]
) -> dict[UUID, tuple[UUID | None, list[UUID]]] | None:
    """New (parent, children) of every kept task: its nearest kept ancestor, and kept
    descendants in depth-first order. None if some task is not reachable from the root."""
    links: dict[UUID, tuple[UUID | None, list[UUID]]] = {root.id: (None, [])}
    seen = 1
    stack: list[tuple[UUID, UUID]] = [(c, root.id) for c in reversed(root._children)]
    while stack:
        task_id, anchor = stack.pop()
        if task_id not in tasks:
            return None
        seen += 1
        if task_id in keep:
            links[anchor][1].append(task_id)
            links[task_id] = (anchor, [])
            anchor = task_id
        stack.extend((c, anchor) for c in reversed(tasks[task_id]._children))
    return links if seen == len(tasks) else None


def _drop_subprocess(top: BpmnWorkflow, task_id: UUID, dropped: list[DroppedTask] | None) -> None:
    """Remove the subprocess run by a dropped task, and any nested in it."""
    sp = top.subprocesses.pop(task_id, None)
    if sp is None:
        return
    for task in sp.tasks.values():
        top.event_manager.remove_task(task)
        if dropped is not None:
            dropped.append(_record(task))
        _drop_subprocess(top, task.id, dropped)


def _record(task: Task) -> DroppedTask:
    spec = task.task_spec
    return DroppedTask(
        id=str(task.id),
        bpmn_id=getattr(spec, "bpmn_id", None) or spec.name,
        name=getattr(spec, "bpmn_name", None),
        spec_type=type(spec).__name__,
        state=TaskState.get_name(task.state),
        data=copy.deepcopy(task.data),
    )
