"""The engine's silent stall: without compaction B2 "completes" at pass 249 of 300.

A case is closed only when an end event was really reached; the stalled instance becomes an
incident. With compaction (the default) the same process runs its 300 passes and closes.
"""

from __future__ import annotations

import pytest
from flask import Flask

from app.cases.service import open_case
from app.core import uow
from app.core.models import Case, HumanTask
from app.extensions import db
from app.processes.service import deploy_directory
from tests.helpers import INTAKE, REPO, events
from workflows import engine


def _run_b2(app: Flask, *, compaction: bool) -> tuple[Case, int]:
    app.config["COMPACTION"] = compaction
    deploy_directory(REPO / "bench" / "processes", actor="test")
    case = open_case(intake=dict(INTAKE), actor="test", process_key="gridcase_anchor_b2")
    completions = 0
    while True:
        db.session.rollback()
        task_id = db.session.scalar(
            db.select(HumanTask.id).where(
                HumanTask.case_id == case.id, HumanTask.status == "open"
            )
        )
        if task_id is None:
            break
        uow.complete_task(task_id=task_id, data={}, actor="test")
        completions += 1
    db.session.rollback()
    return db.session.get(Case, case.id), completions


def _counter(case: Case) -> int:
    row = case.instance
    return engine.load_instance(uow.version_spec(row.version), row.state).data["counter"]


@pytest.mark.slow
def test_without_compaction_the_stall_is_an_incident_not_a_closed_case(
    app: Flask, org: dict, clock
) -> None:
    case, completions = _run_b2(app, compaction=False)
    assert completions < 300  # the engine stopped early, claiming completion
    assert case.status == "incident" and case.closed_at is None
    assert case.instance.status == "incident"
    last = events(case)[-1]
    assert last.data["incident"] == "engine reported completion without reaching an end event"
    assert last.data["ended_at"] is None


@pytest.mark.slow
def test_with_compaction_all_passes_run_and_the_case_closes(
    app: Flask, org: dict, clock
) -> None:
    case, completions = _run_b2(app, compaction=True)
    assert completions == 300
    assert case.status == "closed" and case.instance.status == "completed"
    assert _counter(case) == 300
    assert len(case.instance.state) < 20_000  # flat: the history lives in the audit log
