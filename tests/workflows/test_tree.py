"""The task tree: our workflow classes update waiting tasks as SpiffWorkflow's own do.

``update_waiting_tasks`` runs after every task the engine completes; workflows/tree.py walks
the tree its own way. Held to SpiffWorkflow 3.2's iterator here: the same tasks updated in
the same order, the same state after, at every step of every shipped process (subprocesses
included), with timers due or not, and on a raw tree deeper than the iterator goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.specs.base import TaskSpec
from SpiffWorkflow.util.task import TaskState

from tests.clocks import frozen_at
from tests.workflows.test_engine import SHIPPED, SIMPLE, _shape
from tests.workflows.walker import START_DATA, WHISTLE, walk
from workflows import engine, tree
from workflows.clock import FrozenClock
from workflows.compaction import compact

STOCK: Callable[[Any], None] = BpmnWorkflow.update_waiting_tasks  # SpiffWorkflow's own


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    with frozen_at(datetime(2025, 3, 3, 1, 30, tzinfo=UTC)) as clk:
        yield clk


def updated(
    workflow: Any, update: Callable[[Any], None], monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """The spec names and ids of the tasks ``update`` updates, in order."""
    seen: list[str] = []
    original = TaskSpec._update

    def spy(spec: TaskSpec, task: Any) -> Any:
        seen.append(f"{spec.name}:{task.id}")
        return original(spec, task)

    with monkeypatch.context() as patch:
        patch.setattr(TaskSpec, "_update", spy)
        update(workflow)
    return seen


def both_ways(bundle: Any, state: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Update every workflow of the state (top and subprocesses) once with SpiffWorkflow's
    iterator and once with ours; both must update the same tasks and leave the same state."""
    stock = engine.load_instance(bundle, state)
    ours = engine.load_instance(bundle, state)
    seen: list[str] = []
    for name, workflow in [("top", stock.workflow), *stock.workflow.subprocesses.items()]:
        twin = ours.workflow if name == "top" else ours.workflow.subprocesses[name]
        expected = updated(workflow, STOCK, monkeypatch)
        assert updated(twin, tree.update_waiting, monkeypatch) == expected
        seen += expected
    assert _shape(ours.dump()) == _shape(stock.dump())  # all but the state change times
    return seen


@pytest.mark.parametrize("compacted", [False, True], ids=["full-history", "compacted"])
@pytest.mark.parametrize("bundle", [SIMPLE, *SHIPPED], ids=lambda b: b.key)
def test_waiting_tasks_are_updated_as_spiffworkflow_updates_them(
    bundle: Any, frozen: FrozenClock, compacted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    states: list[str] = []
    waiting: list[bool] = []

    def keep(instance: engine.Instance, state: str) -> None:
        states.append(state)
        waiting.append(
            any(t.state == TaskState.WAITING for t in tree.walk_tasks(instance.workflow))
        )

    walk(
        bundle,
        START_DATA,
        choices=WHISTLE,
        frozen=frozen,
        max_steps=40,  # the simple process's reminder repeats: its first rounds are enough
        on_step=keep,
        compactor=compact if compacted else None,
    )
    updates = 0
    for state in states:
        now = frozen.now()
        updates += len(both_ways(bundle, state, monkeypatch))
        frozen.set(now + timedelta(days=90))  # every timer due: updates that change the tree
        updates += len(both_ways(bundle, state, monkeypatch))
        frozen.set(now)
    assert (updates > 0) == any(waiting), "every waiting task is updated, and only those"


def test_subprocesses_the_engine_starts_are_ours_and_written_as_its_own(
    frozen: FrozenClock,
) -> None:
    bundle = next(b for b in SHIPPED if b.key == "resident_request")
    instance, _ = walk(bundle, START_DATA, choices=WHISTLE, frozen=frozen, max_steps=4)
    subprocesses = list(instance.workflow.subprocesses.values())
    assert subprocesses, "the whistle starts department subprocesses"
    assert isinstance(instance.workflow, tree.Workflow)
    assert all(isinstance(s, tree.SubWorkflow) for s in subprocesses)
    state = instance.dump()
    assert '"typename":"BpmnWorkflow"' in state and '"typename":"BpmnSubWorkflow"' in state
    assert 'SubWorkflow"' not in state.replace('"BpmnSubWorkflow"', "")


@pytest.mark.slow
def test_a_deep_raw_tree_is_updated_as_the_engine_would(monkeypatch: pytest.MonkeyPatch) -> None:
    """Uncompacted, anchor D2's tree grows by five or six tasks a pass: at 50 passes (301
    tasks) our walk runs, at 100 (576 tasks: deep enough to near the iterator's depth limit
    as it grows) the engine's own. Its one-hour reminder is due each time, so the update
    changes the tree."""
    from tests.workflows.test_compaction import SER, Case, engine_clock, scripted, specs

    with engine_clock() as clock:
        raw = Case(*specs("D2"), compacting=False)
        checked = []
        for done, (_kind, arg) in enumerate(scripted([0], 100, clock), start=1):
            raw.complete(*arg)
            if done in (50, 100):
                stock, ours = SER.deserialize_json(raw.json), SER.deserialize_json(raw.json)
                clock.current += timedelta(minutes=150)
                expected = updated(stock, STOCK, monkeypatch)
                assert updated(ours, tree.update_waiting, monkeypatch) == expected
                assert _shape(SER.serialize_json(ours)) == _shape(SER.serialize_json(stock))
                checked.append((len(stock.tasks), len(expected)))
    assert [tasks > 500 for tasks, _ in checked] == [False, True]
    assert all(count > 0 for _, count in checked), "the reminder was updated"
