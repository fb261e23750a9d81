"""The instance serializer writes and reads exactly what SpiffWorkflow's own converters do.

workflows/serializer.py writes and reads tasks itself (the registry's generic walk was most
of a timer firing's cost). SpiffWorkflow 3.2's stock converters are the reference: at every
step of every shipped process, compacted or not, subprocesses included, both must write the
same document (keys in the same order; we encode with orjson, which leaves Chinese text as
UTF-8 rather than escaping it), and what each reads back must be the same instance.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import WorkflowConverter
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from tests.clocks import frozen_at
from tests.workflows.test_engine import SHIPPED, SIMPLE
from tests.workflows.walker import START_DATA, WHISTLE, walk
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
    serializer.written_as_stock(
        BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, BpmnWorkflow: StockConverter})
    )
)


def stock_dump(workflow: BpmnWorkflow) -> str:
    """SpiffWorkflow's own converters and encoding (json, its encoder class)."""
    dct = serializer.instance_dict(workflow, using=_STOCK)
    return json.dumps(dct, cls=_STOCK._encoder_cls, separators=(",", ":"))


def document(state: str) -> Any:
    """A saved state as a document: keys in their order, values as read; the encoding (json
    or orjson, escaped or UTF-8 text) aside."""
    return json.loads(state, object_pairs_hook=list)


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
    assert document(state) == document(stock_dump(instance.workflow))
    ours = serializer.load_instance(
        state, spec=instance.workflow.spec, subprocess_specs=instance.workflow.subprocess_specs
    )
    theirs = stock_load(state, instance.workflow)
    assert picture(ours) == picture(theirs)
    # (not always == state: a multi-instance task's data can hold its keys in another order
    # than its parent's, and SpiffWorkflow's delta restores the parent's order)
    assert document(serializer.dump_instance(ours)) == document(stock_dump(theirs))


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    with frozen_at(datetime(2025, 3, 3, 1, 30, tzinfo=UTC)) as clk:
        yield clk


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


def test_values_json_lacks_a_type_for_go_through_the_registry(frozen: FrozenClock) -> None:
    """orjson writes the state; what it would write on its own (datetimes, sets, integer keys,
    integers past 64 bits) comes out as SpiffWorkflow's json encoding has it."""
    instance, _ = engine.start_instance(SIMPLE, {})
    (task,) = instance.ready_tasks()
    live = instance.workflow.get_task_from_id(UUID(task.id))
    live.data.update(
        when=datetime(2025, 10, 1, 9, 0, tzinfo=UTC),
        wait=timedelta(days=3),
        tags={"路灯"},
        by_floor={3: "三楼"},
        title="路灯不亮",
    )
    assert "路灯不亮" in instance.dump(), "text stays UTF-8"
    live.data["huge"] = 2**70  # orjson refuses it: json writes this state
    state = instance.dump()
    assert document(state) == document(stock_dump(instance.workflow))
    loaded = serializer.load_instance(
        state, spec=instance.workflow.spec, subprocess_specs=instance.workflow.subprocess_specs
    )
    data = loaded.get_task_from_id(UUID(task.id)).data
    assert data["when"] == datetime(2025, 10, 1, 9, 0, tzinfo=UTC)
    assert data["wait"] == timedelta(days=3)
    assert data["tags"] == ["路灯"] and data["by_floor"] == {"3": "三楼"}
    assert data["huge"] == 2**70


def test_not_a_number_is_saved_as_null_and_old_states_with_it_still_load(
    frozen: FrozenClock,
) -> None:
    instance, _ = engine.start_instance(SIMPLE, {})
    (task,) = instance.ready_tasks()
    live = instance.workflow.get_task_from_id(UUID(task.id))
    live.data["ratio"] = float("nan")
    state = instance.dump()
    specs = {"spec": instance.workflow.spec, "subprocess_specs": instance.workflow.subprocess_specs}
    assert serializer.load_instance(state, **specs).get_task_from_id(live.id).data["ratio"] is None
    legacy = stock_dump(instance.workflow)  # json's encoding writes NaN, which orjson refuses
    assert "NaN" in legacy
    restored = serializer.load_instance(legacy, **specs).get_task_from_id(live.id)
    assert restored.data["ratio"] != restored.data["ratio"]  # NaN, as it was written
