"""Instance state without the spec, and the spec stored once per deployed version.

SpiffWorkflow embeds the whole spec in every saved instance (15 of 19 KB for a small process).
Our workflow converter writes only the instance; on load the cached spec of the instance's
version is attached again. Specs are serialized with the same registry, so a deployed version
keeps the exact spec it was deployed with even when the parser changes.
"""

from __future__ import annotations

import json
from copy import copy
from typing import Any
from uuid import UUID

import orjson
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnSubWorkflowConverter,
    BpmnWorkflowConverter,
)
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from workflows.tree import SubWorkflow, Workflow

# -- tasks, written and read directly ---------------------------------------------------------
#
# What SpiffWorkflow 3.2's TaskConverter writes and reads, the same dicts in the same key
# order, without its per-value registry walk, its UUID parsing of every id three times over
# and its deep copy of each parent's data: loading and saving the instance is most of a timer
# firing's cost. tests/workflows/test_serializer.py holds the two to the same output on every
# shipped process.

_PLAIN = (str, int, float, bool, type(None))
_MUTABLE = (dict, list, set)


def _workflow_to_dict(converter: Any, workflow: Any) -> dict[str, Any]:
    """WorkflowConverter.to_dict, with the tasks written by :func:`_tasks_to_dict`."""
    registry = converter.registry
    return {
        "data": registry.convert(registry.clean(workflow.data)),
        "correlations": workflow.correlations,
        "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "tasks": _tasks_to_dict(registry, workflow.tasks),
        "root": str(workflow.task_tree.id),
    }


def _tasks_to_dict(registry: Any, tasks: dict[UUID, Any]) -> dict[str, Any]:
    names: dict[UUID, str] = {}

    def name(task_id: UUID) -> str:
        found = names.get(task_id)
        if found is None:
            found = names[task_id] = str(task_id)
        return found

    clean, typename = registry.clean, registry.typenames[Task]
    written = {}
    for key, task in tasks.items():
        parent = tasks.get(task._parent) if task._parent is not None else None
        if parent is None:
            data, delta = task.data, {}
        else:
            mine, theirs = task.data, parent.data
            data = {}
            delta = {
                "updates": {k: v for k, v in mine.items() if k not in theirs or v != theirs[k]},
                "deletions": [k for k in theirs if k not in mine],
            }
        written[name(key)] = {
            "id": name(task.id),
            "parent": name(task._parent) if parent is not None else None,
            "children": [name(child) for child in task._children],
            "last_state_change": task.last_state_change,
            "state": task._state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            "internal_data": clean(task.internal_data),
            "data": data,
            "delta": delta,
            "typename": typename,
        }
    return written


def _tasks_from_dict(registry: Any, written: dict[str, Any], workflow: Any) -> dict[UUID, Any]:
    """TaskConverter.from_dict for every task, in document order (parents come first)."""
    uuids: dict[str, UUID] = {}

    def uuid(text: str) -> UUID:
        found = uuids.get(text)
        if found is None:
            found = uuids[text] = UUID(text)
        return found

    def restore(value: Any) -> Any:  # the registry's restore; a dict of plain values as is
        plain = type(value) is dict and "typename" not in value
        if plain and all(type(v) in _PLAIN for v in value.values()):
            return value  # fresh from json.loads: nobody else holds it
        return registry.restore(value)

    specs = workflow.spec.task_specs
    events = workflow.top_workflow.event_manager
    tasks: dict[UUID, Any] = {}
    for key, dct in written.items():
        spec = specs.get(dct["task_spec"])
        task = Task(workflow, spec, state=dct["state"], id=uuid(dct["id"]))
        parent_id = dct["parent"]
        task._parent = uuid(parent_id) if parent_id is not None else None
        task._children = [uuid(child) for child in dct["children"]]
        task.last_state_change = dct["last_state_change"]
        task.triggered = dct["triggered"]
        task.internal_data = restore(dct["internal_data"])
        if isinstance(spec, CatchingEvent) and task._state & TaskState.WAITING:
            events.add_task(task)
        delta = dct.get("delta")
        parent = workflow.tasks.get(task._parent) if task._parent is not None else None
        if delta and parent is not None:
            gone = delta.get("deletions", ())
            data = {  # DeepMerge.merge({}, parent.data): mutable values copied one level
                k: copy(v) if isinstance(v, _MUTABLE) else v
                for k, v in parent.data.items()
                if k not in gone
            }
            updates = restore(delta.get("updates", {}))
            data.update(updates)
            for k in gone:  # an update may bring back a key that was deleted
                if k in updates:
                    del data[k]
        else:
            data = restore(dct["data"])
        task.data = data
        tasks[uuid(key)] = task
    return tasks


class SubWorkflowConverter(BpmnSubWorkflowConverter):
    """A subprocess (call activity, embedded subprocess), its tasks written as above."""

    def to_dict(self, workflow: BpmnSubWorkflow) -> dict[str, Any]:
        dct = _workflow_to_dict(self, workflow)
        dct["parent_task_id"] = str(workflow.parent_task_id)
        dct["spec"] = workflow.spec.name
        return dct

    def from_dict(self, dct: dict[str, Any], task: Any, top_workflow: Any) -> BpmnSubWorkflow:
        spec = top_workflow.subprocess_specs.get(task.task_spec.spec)
        subprocess = SubWorkflow(spec, task.id, top_workflow, deserializing=True)
        subprocess.tasks = _tasks_from_dict(self.registry, dct["tasks"], subprocess)
        subprocess.task_tree = subprocess.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(subprocess, dct)
        return subprocess


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Writes the instance alone; restores it, as our :class:`Workflow`, onto a spec handed
    in by the caller."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = _workflow_to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(  # type: ignore[override]
        self,
        dct: dict[str, Any],
        *,
        spec: BpmnProcessSpec,
        subprocess_specs: dict[str, BpmnProcessSpec],
    ) -> BpmnWorkflow:
        workflow = Workflow(spec, subprocess_specs, deserializing=True)
        workflow.tasks = _tasks_from_dict(self.registry, dct["tasks"], workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _registry() -> Any:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpeclessWorkflowConverter
    config[BpmnSubWorkflow] = SubWorkflowConverter
    return written_as_stock(BpmnWorkflowSerializer.configure(config))


def written_as_stock(registry: Any) -> Any:
    """Our workflow classes are written under SpiffWorkflow's names: the state stays in its
    own format (and loads back into ours, or into SpiffWorkflow's own classes)."""
    registry.typenames[Workflow] = registry.typenames[BpmnWorkflow]
    registry.typenames[SubWorkflow] = registry.typenames[BpmnSubWorkflow]
    return registry


_SERIALIZER = BpmnWorkflowSerializer(_registry())
_STANDARD = BpmnWorkflowSerializer(written_as_stock(BpmnWorkflowSerializer.configure(SPIFF_CONFIG)))


def instance_dict(workflow: BpmnWorkflow, *, using: BpmnWorkflowSerializer | None = None) -> Any:
    """The instance as the registry writes it, before encoding (``using``: another
    serializer, for tests that hold ours to SpiffWorkflow's own converters)."""
    using = using or _SERIALIZER
    registry = using.registry
    registry._encoder_mode = True
    try:
        dct = registry.convert(workflow)
        dct[using.VERSION_KEY] = using.VERSION
        return dct
    finally:
        registry._encoder_mode = False


def dump_instance(workflow: BpmnWorkflow) -> str:
    """The instance as JSON, without its spec.

    Never sort the keys: tasks store their data as a delta against their parent, and the
    loader restores them in document order, so a parent must come before its children.
    """
    return encode(instance_dict(workflow))


# orjson writes the state ten times as fast as json's C encoder (a tenth of a millisecond per
# action saved). The same document as SpiffWorkflow's: values JSON has no type for go through
# its registry (datetimes too: passed through), only non-ASCII text stays UTF-8 instead of
# \u escapes. What orjson refuses (an integer past 64 bits) json writes as SpiffWorkflow would.
# One difference is kept: NaN and ±Infinity, which JSON lacks, are written as null.
_ENCODER = _SERIALIZER._encoder_cls()
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_OPTIONS |= orjson.OPT_PASSTHROUGH_DATACLASS


def encode(dct: Any) -> str:
    try:
        return orjson.dumps(dct, default=_ENCODER.default, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(dct, cls=_SERIALIZER._encoder_cls, separators=(",", ":"))


def decode(state: str) -> Any:
    """The document of a saved state (json reads what orjson refuses: a state written before
    with NaN or an integer past 64 bits)."""
    try:
        return orjson.loads(state)
    except orjson.JSONDecodeError:
        return json.loads(state)


def load_instance(
    state: str, *, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]
) -> BpmnWorkflow:
    dct = decode(state)
    _SERIALIZER.migrate(dct)
    return _SERIALIZER.registry.restore(dct, spec=spec, subprocess_specs=subprocess_specs)


def dump_spec(spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> str:
    registry = _SERIALIZER.registry
    dct = {
        "spec": registry.convert(spec),
        "subprocess_specs": {k: registry.convert(v) for k, v in subprocess_specs.items()},
    }
    return json.dumps(dct, sort_keys=True, separators=(",", ":"))


def load_spec(serialized: str) -> tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]:
    dct = json.loads(serialized)
    registry = _SERIALIZER.registry
    spec = registry.restore(dct["spec"])
    subprocess_specs = {k: registry.restore(v) for k, v in dct["subprocess_specs"].items()}
    return spec, subprocess_specs


def dump_standard(workflow: BpmnWorkflow) -> str:
    """SpiffWorkflow's own format (spec embedded): the baseline benchmarks compare against."""
    return _STANDARD.serialize_json(workflow)


def load_standard(state: str) -> BpmnWorkflow:
    return _STANDARD.deserialize_json(state)
