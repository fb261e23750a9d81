"""bench/api.py: the form data its clients send is valid for every task of process A (the
benchmark itself needs gunicorn and a fresh database: `make bench`)."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator

from bench import PROCESSES
from bench.api import form_values


def test_every_form_of_process_a_gets_valid_data_that_takes_the_happy_path() -> None:
    values = form_values()
    bpmn = (PROCESSES / "process_a.bpmn").read_text()
    forms = sorted(PROCESSES.glob("forms/a-*-schema.json"))
    assert len(forms) == 8 and len(values) == 8
    for path in forms:
        task = path.name.removeprefix("a-").removesuffix("-schema.json")
        assert f'id="{task}"' in bpmn, task
        errors = list(Draft202012Validator(json.loads(path.read_text())).iter_errors(values[task]))
        assert errors == [], (task, [e.message for e in errors])
    assert values["triage"]["triage_decision"] == "standard"
    assert values["review"]["review_outcome"] == "approve"
