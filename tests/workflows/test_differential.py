"""Compaction changes nothing but cost, on the shipped processes.

Each process is driven twice through the same completions, data and clock — once keeping the
whole history, once compacting after every step — and at every step the two must show the
same ready tasks (bpmn ids, lanes), the same waiting timers and due times, the same data and
the same end state. The choices come from the forms' enums: the scripted paths of the scenario
tests, then random walks drawn by hypothesis.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tests.clocks import frozen_at
from tests.workflows.walker import START_DATA, form_data, sample
from workflows import engine
from workflows.clock import FrozenClock
from workflows.compaction import compact
from workflows.specs import ProcessBundle, load_directory

ROOT = Path(__file__).parent.parent.parent
SHIPPED = {b.key: b for b in load_directory(ROOT / "bpmn")}
START = datetime(2025, 3, 3, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    with frozen_at(START) as clk:
        yield clk


def _enum_choices(bundle: ProcessBundle, form: str | None) -> dict[str, list[Any]]:
    schema = bundle.forms.get(form or "", {})
    choices = {}
    for key, prop in schema.get("properties", {}).items():
        if "enum" in prop:
            choices[key] = list(prop["enum"])
        elif "oneOf" in prop and all("const" in o for o in prop["oneOf"]):
            choices[key] = [o["const"] for o in prop["oneOf"]]
        elif prop.get("type") == "boolean":
            choices[key] = [False, True]
    return choices


def _fill_conditionals(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Add what the form's if/then rules require for the choices made (as a user must)."""
    validator = Draft202012Validator(schema)
    for _ in range(5):
        missing = [
            e.message.split("'")[1]
            for e in validator.iter_errors(data)
            if e.validator == "required" and "'" in e.message
        ]
        if not missing:
            break
        for name in missing:
            data[name] = sample(schema.get("properties", {}).get(name, {"type": "string"}))
    return data


def _view(instance: engine.Instance) -> tuple[Any, ...]:
    """What a user or the scheduler can observe of an instance."""
    ready = sorted((t.bpmn_id, t.lane) for t in instance.ready_tasks())
    timers = sorted((t.bpmn_id, t.due_at.isoformat(), t.kind) for t in instance.waiting_timers())
    data = {k: v for k, v in instance.data.items() if not k.startswith("_")}
    return ready, timers, instance.status, repr(sorted(data.items(), key=lambda kv: kv[0]))


def _run_twice(
    bundle: ProcessBundle,
    frozen: FrozenClock,
    pick: Any,
    *,
    max_steps: int = 80,
) -> int:
    """Drive a full-history and a compacted instance side by side; return steps taken."""
    full, _ = engine.start_instance(bundle, START_DATA)
    flat, _ = engine.start_instance(bundle, START_DATA, compactor=compact)
    states = [full.dump(), flat.dump()]
    steps = 0
    for steps in range(1, max_steps + 1):
        full = engine.load_instance(bundle, states[0])
        flat = engine.load_instance(bundle, states[1], compactor=compact)
        assert _view(full) == _view(flat), f"step {steps}"
        ready_full = sorted(full.ready_tasks(), key=lambda t: (t.bpmn_id, t.id))
        ready_flat = sorted(flat.ready_tasks(), key=lambda t: (t.bpmn_id, t.id))
        if ready_full:
            index = pick("task", len(ready_full))
            task = ready_full[index]
            data = form_data(bundle, task, {})
            for key, options in _enum_choices(bundle, task.form).items():
                data[key] = options[pick(key, len(options))]
            data = _fill_conditionals(bundle.forms.get(task.form or "", {}), data)
            # the same task on the other side: same bpmn id at the same position
            twin = [t for t in ready_flat if t.bpmn_id == task.bpmn_id]
            same = [t for t in ready_full if t.bpmn_id == task.bpmn_id].index(task)
            full.complete(task.id, data)
            flat.complete(twin[same].id, data)
        elif full.waiting_timers():
            due = min(t.due_at for t in full.waiting_timers())
            frozen.set(max(due, frozen.now()) + timedelta(seconds=1))
            full.fire_due_timers()
            flat.fire_due_timers()
        else:
            break
        states = [full.dump(), flat.dump()]
    assert _view(engine.load_instance(bundle, states[0])) == _view(
        engine.load_instance(bundle, states[1], compactor=compact)
    )
    return steps


@pytest.mark.parametrize("key", sorted(SHIPPED))
def test_first_choice_paths_agree_step_by_step(key: str, frozen: FrozenClock) -> None:
    assert _run_twice(SHIPPED[key], frozen, lambda _name, _n: 0) >= 3


@pytest.mark.parametrize("key", sorted(SHIPPED))
def test_last_choice_paths_agree_step_by_step(key: str, frozen: FrozenClock) -> None:
    assert _run_twice(SHIPPED[key], frozen, lambda _name, n: n - 1) >= 2


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), key=st.sampled_from(sorted(SHIPPED)))
def test_random_walks_agree_step_by_step(
    data: st.DataObject, key: str, frozen: FrozenClock
) -> None:
    frozen.set(START)

    def pick(name: str, n: int) -> int:
        return data.draw(st.integers(0, n - 1), label=name)

    _run_twice(SHIPPED[key], frozen, pick)
