"""workflows.timeshift on the engine alone: the engine's own due times move (a cycle timer
keeps its dict form), across a save and load, and only the planned moments in the data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.clocks import frozen_at
from workflows import engine, timeshift
from workflows.clock import FrozenClock
from workflows.errors import NotWaiting
from workflows.specs import ProcessBundle, load_directory

DATA = Path(__file__).parents[2] / "data"
T0 = datetime(2025, 3, 3, 1, 30, tzinfo=UTC)


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    with frozen_at(T0) as clock:
        yield clock


def _bundle(name: str) -> ProcessBundle:
    return load_directory(DATA / name)[0]


def test_a_cycle_timer_keeps_its_cycles_and_period_when_moved(frozen: FrozenClock) -> None:
    bundle = _bundle("sla_cycle")
    instance, _ = engine.start_instance(bundle, {})
    [timer] = instance.waiting_timers()
    assert timer.due_at == T0 + timedelta(hours=1)
    moved = timeshift.shift_timers(instance, lambda d: d + timedelta(minutes=30), since=T0)
    assert [(t.task_id, new) for t, new in moved] == [(timer.task_id, T0 + timedelta(hours=1.5))]
    # saved and loaded, the engine agrees
    instance = engine.load_instance(bundle, instance.dump())
    task = instance.workflow.get_tasks(spec_name="nag")[0]
    value = task.internal_data["event_value"]
    assert value["cycles"] == 3 and value["duration"] == 3600
    assert instance.waiting_timers()[0].due_at == T0 + timedelta(hours=1.5)
    frozen.set(T0 + timedelta(hours=1, seconds=1))
    with pytest.raises(NotWaiting):
        instance.fire_due_timers()  # not at the old time
    frozen.set(T0 + timedelta(hours=1.5, seconds=1))
    assert [t.bpmn_id for t in instance.fire_due_timers().fired_timers] == ["nag"]
    [again] = instance.waiting_timers()
    assert again.due_at == T0 + timedelta(hours=2.5)  # the period counts from the moved time


def test_only_timers_and_moments_still_ahead_move(frozen: FrozenClock) -> None:
    bundle = _bundle("sla_timer")
    fire_at = T0 + timedelta(hours=2)
    data = {
        "fire_at": fire_at.isoformat(),
        "past_at": (T0 - timedelta(hours=1)).isoformat(),
        "naive_at": "2025-03-03T12:00:00",
        "label": "2025-03-03 is not a moment",
        "count": 3,
        "nested": {"due_at": fire_at.isoformat()},
    }
    instance, _ = engine.start_instance(bundle, data)
    later = timedelta(hours=1)
    assert timeshift.shift_timers(instance, lambda d: d + later, since=fire_at + later) == []
    keys = timeshift.shift_data_times(instance, lambda d: d + later, since=T0)
    assert keys == ["fire_at"]
    fresh = instance.data
    assert fresh["fire_at"] == (fire_at + later).isoformat()
    assert {k: fresh[k] for k in data if k != "fire_at"} == {
        k: v for k, v in data.items() if k != "fire_at"
    }
    assert timeshift.aware_moment("2025-03-03T12:00:00+08:00") == datetime(
        2025, 3, 3, 4, tzinfo=UTC
    )
    assert timeshift.aware_moment("P1D") is None and timeshift.aware_moment(5) is None
