"""Deploy-time checks the engine does not make, each pinned to the element at fault.

The engine parses scripts only when it runs them, accepts an unquoted timer duration that
fails when the timer is reached, and never looks at lanes or forms. Everything here runs once
per deploy, so a designer learns about the problem before a resident's case meets it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from workflows.errors import SpecError
from workflows.sandbox import check_source

# An ISO 8601 duration, date or cycle written without quotes: valid XML, a NameError at run time.
_UNQUOTED_TIMER = re.compile(r"^\s*(R\d*/|P(\d|T\d)|\d{4}-\d{2}-\d{2})", re.IGNORECASE)


def _sources(task_spec: Any) -> Iterator[tuple[str, str, str]]:
    """(what, source, mode) for every script and expression a task spec will run."""
    for attr, what, mode in (
        ("script", "script", "exec"),
        ("prescript", "pre-script", "exec"),
        ("postscript", "post-script", "exec"),
        ("cardinality", "cardinality", "eval"),
        ("condition", "completion condition", "eval"),
    ):
        source = getattr(task_spec, attr, None)
        if isinstance(source, str) and source.strip():
            yield what, source, mode
    for condition, _target in getattr(task_spec, "cond_task_specs", ()) or ():
        source = getattr(condition, "args", [None])[0] if condition is not None else None
        if isinstance(source, str) and source.strip():
            yield "gateway condition", source, "eval"
    definition = getattr(task_spec, "event_definition", None)
    definitions = (
        definition.event_definitions
        if isinstance(definition, MultipleEventDefinition)
        else [definition]
    )
    for d in definitions:
        expression = getattr(d, "expression", None)
        if isinstance(expression, str) and expression.strip():
            kind = "timer expression" if isinstance(d, TimerEventDefinition) else "event expression"
            yield kind, expression, "eval"
    engine = getattr(task_spec, "dmnEngine", None)
    if engine is not None:
        yield from _dmn_sources(engine.decision_table)


def _dmn_sources(table: Any) -> Iterator[tuple[str, str, str]]:
    for column in table.inputs:
        if column.expression:
            yield f"decision input {column.label or column.id}", column.expression, "eval"
    for rule in table.rules:
        for entry in rule.inputEntries:
            for lhs in entry.lhs:
                if lhs and lhs.strip() and lhs.strip() != "-":
                    yield f"decision rule {rule.row_number}", _dmn_cell(lhs), "eval"
        for entry in rule.outputEntries:
            if entry.text and entry.text.strip():
                yield f"decision rule {rule.row_number} output", entry.text, "eval"


def _dmn_cell(lhs: str) -> str:
    """A DMN input cell as the engine evaluates it (``?`` is the input, else ``input == cell``)."""
    cell = re.sub(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)", "dmninputexpr", lhs)
    if "dmninputexpr" in cell:
        return cell
    if not check_source(cell, mode="eval"):
        return f"(dmninputexpr) == ({cell})"
    return f"dmninputexpr {cell}"


def _task_specs(
    spec: BpmnProcessSpec, subprocess_specs: Mapping[str, BpmnProcessSpec]
) -> Iterator[Any]:
    for process in (spec, *subprocess_specs.values()):
        yield from process.task_specs.values()


def check_spec(
    spec: BpmnProcessSpec,
    subprocess_specs: Mapping[str, BpmnProcessSpec],
    *,
    forms: Mapping[str, Mapping[str, Any]],
    roles: Collection[str] | None = None,
) -> list[SpecError]:
    errors: list[SpecError] = []
    seen: set[tuple[str, str]] = set()
    for task_spec in _task_specs(spec, subprocess_specs):
        element = getattr(task_spec, "bpmn_id", None)
        if element is None:
            continue
        for what, source, mode in _sources(task_spec):
            if (element, source) in seen:
                continue
            seen.add((element, source))
            if what == "timer expression" and _UNQUOTED_TIMER.match(source):
                errors.append(
                    SpecError(
                        f'timer expression {source!r} must be a quoted string, e.g. "PT2H"',
                        element,
                    )
                )
                continue
            errors += [
                SpecError(f"{what}: {problem}", element)
                for problem in check_source(source, mode=mode)
            ]
        if getattr(task_spec, "manual", False):
            errors += _check_human_task(task_spec, element, forms=forms, roles=roles)
    return errors


def _check_human_task(
    task_spec: Any,
    element: str,
    *,
    forms: Mapping[str, Mapping[str, Any]],
    roles: Collection[str] | None,
) -> list[SpecError]:
    errors: list[SpecError] = []
    lane = task_spec.lane
    if roles is not None:
        if lane is None:
            errors.append(
                SpecError("user task is not in a lane (the lane names its role)", element)
            )
        elif lane not in roles:
            errors.append(SpecError(f"unknown lane {lane!r}: not a role", element))
    properties = task_spec.extensions.get("properties", {})
    form = properties.get("formJsonSchemaFilename")
    if form and form in forms:
        try:
            Draft202012Validator.check_schema(forms[form])
        except SchemaError as exc:
            errors.append(
                SpecError(f"form {form!r} is not a valid JSON Schema: {exc.message}", element)
            )
    return errors
