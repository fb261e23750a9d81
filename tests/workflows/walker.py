"""Drive a process through the engine facade with form data derived from each task's schema.

Used by the round-trip, differential and scenario tests: ``choices`` maps a task's bpmn id to
the data to submit (overriding what the schema suggests), and the walk saves and restores the
instance at every step, as the unit of work does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from workflows import clock, engine
from workflows.clock import FrozenClock
from workflows.specs import ProcessBundle

# What the app puts into every new instance (app/cases/service.py: open_case).
START_DATA: dict[str, Any] = {
    "case_code": "GC20250303-000001",
    "title": "路灯不亮",
    "description": "3号楼门前路灯不亮",
    "category": "0401",
    "request_type": "help",
    "channel": "hotline",
    "urgent": False,
    "resident_age": 45,
    "resident_mobility": "normal",
    "resident_vulnerable": False,
    "requested_mode": None,
    "org_unit": "G-01",
}

WHISTLE = {  # the 提级办 path: department instances run as subprocesses
    "accept": {"needs_departments": True},
    "dispatch": {"mode": "escalated"},
    "community_coordinate": {"coordinate_decision": "escalate_street"},
    "whistle": {"departments": ["D-CITY", "D-HOUSING"], "whistle_note": "两个部门"},
}


def sample(schema: Mapping[str, Any]) -> Any:
    """A small value valid for ``schema`` (required properties only)."""
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "oneOf" in schema:
        return sample(schema["oneOf"][0])
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: sample(props[k]) for k in schema.get("required", []) if k in props}
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "array":
        return [sample(schema.get("items", {}))] * schema.get("minItems", 0)
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return clock.now().isoformat()
        if fmt == "date":
            return clock.now().date().isoformat()
        return "x" * max(1, schema.get("minLength", 1))
    return None


def form_data(bundle: ProcessBundle, task: engine.HumanTask, choices: Mapping[str, Any]) -> dict:
    schema = bundle.forms.get(task.form or "", {"type": "object"})
    data = sample(schema) or {}
    data.update(choices.get(task.bpmn_id, {}))
    return data


def walk(
    bundle: ProcessBundle,
    start_data: Mapping[str, Any],
    *,
    choices: Mapping[str, Any] | None = None,
    frozen: FrozenClock | None = None,
    max_steps: int = 200,
    on_step: Callable[[engine.Instance, str], None] | None = None,
    compactor: Callable[[Any], object] | None = None,
) -> tuple[engine.Instance, list[str]]:
    """Complete ready tasks (first ready first) and fire timers until the instance stops.

    Returns the instance and the sequence of completed user-task bpmn ids. With ``frozen``,
    when no task is ready the clock jumps just past the earliest timer.
    """
    choices = choices or {}
    instance, _ = engine.start_instance(bundle, start_data, compactor=compactor)
    state = instance.dump()
    done: list[str] = []
    for _ in range(max_steps):
        instance = engine.load_instance(bundle, state, compactor=compactor)
        ready = sorted(instance.ready_tasks(), key=lambda t: t.bpmn_id)
        if ready:
            task = ready[0]
            instance.complete(task.id, form_data(bundle, task, choices))
            done.append(task.bpmn_id)
        elif frozen is not None and instance.waiting_timers():
            due = min(t.due_at for t in instance.waiting_timers())
            frozen.set(max(due, frozen.now()) + timedelta(seconds=1))
            instance.fire_due_timers()
        else:
            break
        state = instance.dump()
        if on_step is not None:
            on_step(instance, state)
    return engine.load_instance(bundle, state, compactor=compactor), done
