"""The engine facade: round trips, the spec-less state, timers, messages, the sandbox."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow

from tests.clocks import frozen_at
from tests.workflows.walker import START_DATA, WHISTLE, walk
from workflows import engine, serializer, tree
from workflows.clock import FrozenClock
from workflows.compaction import compact
from workflows.errors import NotWaiting, ScriptFailure, TaskNotReady
from workflows.specs import load_directory

ROOT = Path(__file__).parent.parent.parent
SIMPLE = load_directory(ROOT / "tests" / "data" / "simple")[0]
SHIPPED = load_directory(ROOT / "bpmn") if (ROOT / "bpmn").exists() else []


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    with frozen_at(datetime(2025, 3, 3, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))) as clk:
        yield clk


def _assert_round_trip(instance: engine.Instance, state: str) -> None:
    bundle_specs = (instance.workflow.spec, instance.workflow.subprocess_specs)
    again = engine.load_instance(bundle_specs, state).dump()
    assert again == state


@pytest.mark.parametrize("compacted", [False, True], ids=["full-history", "compacted"])
@pytest.mark.parametrize("bundle", [SIMPLE, *SHIPPED], ids=lambda b: b.key)
def test_serialize_deserialize_serialize_is_identical_at_every_step(
    bundle, frozen, compacted: bool
) -> None:
    steps: list[str] = []

    def check(instance: engine.Instance, state: str) -> None:
        _assert_round_trip(instance, state)
        steps.append(state)

    walk(bundle, START_DATA, frozen=frozen, on_step=check, compactor=compact if compacted else None)
    assert len(steps) >= 2


def test_state_does_not_embed_the_spec(frozen) -> None:
    instance, _ = engine.start_instance(SIMPLE, {})
    ours = instance.dump()
    standard = serializer.dump_standard(instance.workflow)
    assert '"spec"' not in ours and "subprocess_specs" not in ours
    assert len(ours) < len(standard) / 2


def test_simple_path_reaches_its_end_event(frozen) -> None:
    instance, done = walk(SIMPLE, {}, choices={"review": {"approved": True}})
    assert done == ["handle", "review"]
    assert instance.status == "completed"
    assert instance.data["outcome"] == "closed"


def test_completing_a_task_twice_or_an_unknown_task_is_refused(frozen) -> None:
    instance, _ = engine.start_instance(SIMPLE, {})
    task = instance.ready_tasks()[0]
    instance.complete(task.id, {"result": "ok"})
    with pytest.raises(TaskNotReady):
        instance.complete(task.id, {"result": "again"})
    with pytest.raises(TaskNotReady):
        instance.complete("not-a-uuid", {})


def test_timers_report_due_times_and_fire_only_when_past(frozen) -> None:
    instance, _ = engine.start_instance(SIMPLE, {})
    (timer,) = instance.waiting_timers()
    assert (timer.bpmn_id, timer.kind, timer.interrupting) == ("remind", "boundary", False)
    assert timer.attached_to == instance.ready_tasks()[0].id
    frozen.set(timer.due_at)
    with pytest.raises(NotWaiting):
        instance.fire_due_timers()
    frozen.advance(timedelta(microseconds=1))
    step = instance.fire_due_timers()
    assert [t.bpmn_id for t in step.fired_timers] == ["remind"]
    assert instance.data["reminders"] == 1 or any(
        f.data.get("reminders") == 1 for f in step.finished
    )


def test_message_without_a_waiting_catch_is_not_waiting(frozen) -> None:
    instance, _ = engine.start_instance(SIMPLE, {})
    with pytest.raises(NotWaiting):
        instance.send_message("no_such_message", {})


def test_runaway_script_is_stopped_and_the_engine_keeps_working(frozen) -> None:
    from workflows.specs import load_bundle, read_directory

    files = read_directory(ROOT / "tests" / "data" / "simple")
    files["simple_request.bpmn"] = files["simple_request.bpmn"].replace(
        b"rework = 0", b"while True:\n    pass"
    )
    runaway = load_bundle(files)
    with pytest.raises(ScriptFailure) as info:
        engine.start_instance(runaway, {})
    assert info.value.element == "set_due"
    instance, _ = engine.start_instance(SIMPLE, {})  # the next request is served normally
    assert [t.bpmn_id for t in instance.ready_tasks()] == ["handle"]


def test_restored_instances_run_in_the_sandbox(frozen) -> None:
    instance, _ = engine.start_instance(SIMPLE, {})
    restored = engine.load_instance(SIMPLE, instance.dump())
    assert restored.workflow.script_engine is instance.workflow.script_engine
    assert type(restored.workflow.script_engine.environment).__name__ == "SandboxedEnvironment"


def test_withdrawal_during_a_whistle_round_trips(frozen) -> None:
    """Cancelling the case while department instances run must leave no orphans behind."""
    from tests.workflows.walker import form_data

    bundle = next(b for b in SHIPPED if b.key == "resident_request")
    choices = {
        "accept": {"needs_departments": True},
        "dispatch": {"mode": "escalated"},
        "community_coordinate": {"coordinate_decision": "escalate_street"},
        "whistle": {"departments": ["D-CITY", "D-HOUSING"], "whistle_note": "两个部门"},
    }
    instance, _ = engine.start_instance(bundle, START_DATA)
    for expected in ("accept", "dispatch", "community_coordinate", "whistle"):
        (task,) = instance.ready_tasks()
        assert task.bpmn_id == expected
        instance.complete(task.id, form_data(bundle, task, choices))
        instance = engine.load_instance(bundle, instance.dump())
    assert sorted(t.bpmn_id for t in instance.ready_tasks()) == ["claim", "claim"]
    instance.send_message("resident_withdrawal", {"reason": "已解决", "by": "resident"})
    state = instance.dump()
    _assert_round_trip(instance, state)
    assert instance.status == "completed"
    assert instance.data["outcome"] == "withdrawn"


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _shape(state: str) -> list[Any]:
    """A saved instance with its random task ids numbered by first use, without wall-clock
    stamps: the tree, every task's state, data and internal data."""
    ids: dict[str, str] = {}
    dct = json.loads(_UUID.sub(lambda m: ids.setdefault(m.group(0), f"#{len(ids)}"), state))

    def tasks(workflow: dict[str, Any]) -> list[Any]:
        return [
            {k: v for k, v in task.items() if k != "last_state_change"}
            for task in workflow["tasks"].values()
        ]

    return [dct["data"], tasks(dct), *(tasks(s) for s in dct["subprocesses"].values())]


@pytest.mark.parametrize("bundle", [SIMPLE, *SHIPPED], ids=lambda b: b.key)
def test_engine_steps_run_what_spiffworkflow_runs(bundle, frozen, monkeypatch) -> None:
    """Our engine steps find ready tasks and update waiting ones their own way; every step
    of every shipped process (the 提级办 path with its department subprocesses included)
    must come out as under SpiffWorkflow's own do_engine_steps and update_waiting_tasks."""
    start = frozen.now()

    def run() -> list[Any]:
        frozen.set(start)
        shapes: list[Any] = []
        walk(
            bundle,
            START_DATA,
            choices=WHISTLE,
            frozen=frozen,
            compactor=compact,
            on_step=lambda _instance, state: shapes.append(_shape(state)),
        )
        return shapes

    ours = run()
    monkeypatch.setattr(engine, "run_engine_steps", lambda workflow: workflow.do_engine_steps())
    monkeypatch.setattr(tree, "update_waiting", BpmnWorkflow.update_waiting_tasks)
    assert run() == ours
    assert len(ours) >= 2


def test_the_engines_per_task_log_stays_quiet_when_logging_is_on(frozen, caplog) -> None:
    """SpiffWorkflow logs every task state change at INFO; the scheduler logs at INFO, and
    eight lines per timer firing cost most of its time (the audit log has each step)."""
    caplog.set_level(logging.INFO)
    instance, _ = engine.start_instance(SIMPLE, {})
    (task,) = instance.ready_tasks()
    instance.complete(task.id, {})
    assert not [r for r in caplog.records if r.name.startswith("spiff")]
