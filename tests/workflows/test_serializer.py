"""The instance serializer writes and reads exactly what SpiffWorkflow's own converters do.

workflows/serializer.py writes and reads tasks itself (the registry's generic walk was most
of a timer firing's cost). SpiffWorkflow 3.2's stock converters are the reference: at every
step of every shipped process, compacted or not, subprocesses included, both must write the
same bytes, and what each reads back must be the same instance.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import WorkflowConverter
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from tests.workflows.test_engine import SHIPPED, SIMPLE
from tests.workflows.walker import START_DATA, WHISTLE, walk
from workflows import clock as clock_module
from workflows import engine, serializer
from workflows.clock import FrozenClock
from workflows.compaction import compact
from workflows.serializer import SpeclessWorkflowConverter


class StockConverter(SpeclessWorkflowConverter):
    """Our spec-less format, every task through SpiffWorkflow's own TaskConverter."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(  # type: ignore[override]
        self, dct: dict[str, Any], *, spec: Any, subprocess_specs: dict[str, Any]
    ) -> BpmnWorkflow:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_STOCK = BpmnWorkflowSerializer(
    BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, BpmnWorkflow: StockConverter})
)


def stock_dump(workflow: BpmnWorkflow) -> str:
    registry = _STOCK.registry
    registry._encoder_mode = True
    try:
        dct = registry.convert(workflow)
        dct[_STOCK.VERSION_KEY] = _STOCK.VERSION
        return json.dumps(dct, cls=_STOCK._encoder_cls, separators=(",", ":"))
    finally:
        registry._encoder_mode = False


def stock_load(state: str, workflow: BpmnWorkflow) -> BpmnWorkflow:
    dct = json.loads(state)
    _STOCK.migrate(dct)
    return _STOCK.registry.restore(
        dct, spec=workflow.spec, subprocess_specs=workflow.subprocess_specs
    )


def _tasks(workflow: BpmnWorkflow) -> list[Any]:
    subprocesses = workflow.subprocesses.values()
    return [*workflow.tasks.values(), *(t for s in subprocesses for t in s.tasks.values())]


def picture(workflow: BpmnWorkflow) -> list[tuple[Any, ...]]:
    """Everything of a loaded instance the engine reads, value types included."""
    return [
        (
            t.id,
            t._parent,
            t._children,
            t.state,
            t.task_spec.name,
            t.triggered,
            t.last_state_change,
            t.internal_data,
            t.data,
            sorted(f"{k}:{type(v).__name__}" for k, v in t.data.items()),
            t.workflow.tasks is not None and t.id in t.workflow.tasks,
        )
        for t in _tasks(workflow)
    ] + [
        sorted(str(t.id) for t in workflow.event_manager.tasks.values()),
        sorted(str(k) for k in workflow.subprocesses),
        None if workflow.last_task is None else workflow.last_task.id,
        workflow.data,
    ]


def assert_same_as_stock(instance: engine.Instance, state: str) -> None:
    assert state == stock_dump(instance.workflow)
    ours = serializer.load_instance(
        state, spec=instance.workflow.spec, subprocess_specs=instance.workflow.subprocess_specs
    )
    theirs = stock_load(state, instance.workflow)
    assert picture(ours) == picture(theirs)
    # (not always == state: a multi-instance task's data can hold its keys in another order
    # than its parent's, and SpiffWorkflow's delta restores the parent's order)
    assert serializer.dump_instance(ours) == stock_dump(theirs)


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    clk = FrozenClock(datetime(2025, 3, 3, 1, 30, tzinfo=UTC))
    previous = clock_module.set_clock(clk)
    yield clk
    clock_module.set_clock(previous)


@pytest.mark.parametrize("compacted", [False, True], ids=["full-history", "compacted"])
@pytest.mark.parametrize("bundle", [SIMPLE, *SHIPPED], ids=lambda b: b.key)
def test_every_step_reads_and_writes_as_spiffworkflow_does(
    bundle: Any, frozen: FrozenClock, compacted: bool
) -> None:
    steps: list[str] = []

    def check(instance: engine.Instance, state: str) -> None:
        assert_same_as_stock(instance, state)
        steps.append(state)

    walk(
        bundle,
        START_DATA,
        choices=WHISTLE,
        frozen=frozen,
        on_step=check,
        compactor=compact if compacted else None,
    )
    assert len(steps) >= 2


def test_subprocess_tasks_are_written_as_spiffworkflow_does(frozen: FrozenClock) -> None:
    bundle = next(b for b in SHIPPED if b.key == "resident_request")
    instance, _ = engine.start_instance(bundle, START_DATA)
    from tests.workflows.walker import form_data

    for expected in ("accept", "dispatch", "community_coordinate", "whistle"):
        (task,) = instance.ready_tasks()
        assert task.bpmn_id == expected
        instance.complete(task.id, form_data(bundle, task, WHISTLE))
    assert instance.workflow.subprocesses, "the whistle starts department subprocesses"
    assert_same_as_stock(instance, instance.dump())


def test_typed_nested_and_deleted_values_survive(frozen: FrozenClock) -> None:
    """Data beyond plain JSON: datetimes (the registry's typed values), nested dicts and
    lists (copied, never shared with the parent), keys a task deleted or brought back."""
    instance, _ = engine.start_instance(SIMPLE, {"nested": {"a": [1, 2]}, "gone": 1})
    (task,) = instance.ready_tasks()
    live = instance.workflow.get_task_from_id(UUID(task.id))
    live.data["when"] = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    live.data["nested"] = {"a": [1, 2, 3], "b": {"c": None}}
    del live.data["gone"]
    live.parent.data["late"] = "parent only"
    state = instance.dump()
    assert_same_as_stock(instance, state)
    loaded = serializer.load_instance(
        state, spec=instance.workflow.spec, subprocess_specs=instance.workflow.subprocess_specs
    )
    again = loaded.get_task_from_id(UUID(task.id))
    assert again.data["when"] == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert "gone" not in again.data and again.data["nested"]["b"] == {"c": None}
    assert again.data["nested"] is not again.parent.data["nested"]
