"""Small helpers the scenario tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.cases.service import open_case
from app.core.models import Case, CaseEvent, HumanTask
from app.extensions import db
from app.processes.service import deploy_directory

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent

INTAKE: dict[str, Any] = {
    "title": "路灯不亮 Street light out",
    "description": "3号楼门前路灯不亮",
    "category": "0401",
    "request_type": "help",
    "channel": "hotline",
    "org_unit": "G-01",
    "resident": {"age": 45, "mobility": "normal", "vulnerable": False},
}


def deploy_simple() -> None:
    deploy_directory(DATA / "simple", actor="test")


def open_simple_case(**overrides: Any) -> Case:
    return open_case(intake={**INTAKE, **overrides}, actor="test", process_key="simple_request")


def open_tasks(case: Case) -> list[HumanTask]:
    db.session.rollback()  # a fresh snapshot: SQLite keeps the old one until the read ends
    return list(
        db.session.scalars(
            db.select(HumanTask)
            .where(HumanTask.case_id == case.id, HumanTask.status == "open")
            .order_by(HumanTask.created_at, HumanTask.bpmn_id)
        )
    )


def only_task(case: Case) -> HumanTask:
    tasks = open_tasks(case)
    assert len(tasks) == 1, [t.bpmn_id for t in tasks]
    return tasks[0]


def events(case: Case) -> list[CaseEvent]:
    db.session.rollback()  # a fresh snapshot: SQLite keeps the old one until the read ends
    return list(
        db.session.scalars(
            db.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
        )
    )
