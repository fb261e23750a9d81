"""The raw SpiffWorkflow baseline that benchmarks compare against.

One stateless request the way the engine's own documentation runs it: deserialize the
standard JSON (spec embedded), complete the ready task, run engine steps, serialize again.
No sandbox, no database. Kept here because nothing outside ``workflows/`` imports
SpiffWorkflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.util.task import TaskState

from workflows import serializer
from workflows.specs import ProcessBundle

_ENGINE = PythonScriptEngine()


def start(bundle: ProcessBundle) -> str:
    workflow = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=_ENGINE)
    workflow.do_engine_steps()
    return serializer.dump_standard(workflow)


def ready_task(state: str) -> tuple[str, str] | None:
    """(task id, bpmn id) of the first ready user task, for the driver (not timed)."""
    workflow = serializer.load_standard(state)
    ready = workflow.get_tasks(state=TaskState.READY, manual=True)
    return (str(ready[0].id), ready[0].task_spec.bpmn_id) if ready else None


def complete_request(state: str, data: Mapping[str, Any]) -> str:
    """One request: deserialize → complete the ready task → engine steps → serialize."""
    workflow = serializer.load_standard(state)
    workflow.script_engine = _ENGINE
    task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
    task.data.update(data)
    task.run()
    workflow.do_engine_steps()
    return serializer.dump_standard(workflow)


def fire_request(state: str) -> str:
    """The scheduler's visit to one instance: deserialize → fire due timers → engine steps →
    serialize."""
    workflow = serializer.load_standard(state)
    workflow.script_engine = _ENGINE
    workflow.refresh_timers()
    workflow.do_engine_steps()
    return serializer.dump_standard(workflow)


def final_data(state: str) -> dict[str, Any]:
    """The data of the most recently finished task (where a loop's counter lives)."""
    workflow = serializer.load_standard(state)
    tasks = workflow.get_tasks(state=TaskState.COMPLETED)
    last = max(tasks, key=lambda t: t.last_state_change or 0) if tasks else None
    return dict(last.data) if last is not None else dict(workflow.data)


def is_completed(state: str) -> bool:
    return bool(serializer.load_standard(state).is_completed())
