"""Helpers the SLA tests (and bench/timers.py) share: a one-timer process, cloned due cases,
scheduler subprocesses, and the audit events that say what fired when."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.core import uow
from app.core.models import Case, CaseEvent, ProcessInstance, Timer
from app.extensions import db
from app.orgs.service import get_by_code
from app.processes.service import deploy_directory, latest_version
from workflows import engine, timeshift

DATA = Path(__file__).parents[2] / "data"
REPO = Path(__file__).parents[3]
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def deploy_timer_process() -> None:
    deploy_directory(DATA / "sla_timer", actor="test")


def start_timer_case(fire_at: datetime, *, unit: str = "G-01", **fields: Any) -> Case:
    """A case of tests/data/sla_timer: one timer catch event due at ``fire_at``."""
    version = latest_version("sla_timer")
    assert version is not None, "deploy_timer_process() first"
    org_unit = get_by_code(unit)
    assert org_unit is not None
    case = Case(
        title=fields.pop("title", "timer case"),
        category="0401",
        request_type="help",
        channel="hotline",
        org_unit_id=org_unit.id,
        org_unit=org_unit,
        **fields,
    )
    return uow.start_case(
        version=version, case=case, data={"fire_at": fire_at.isoformat()}, actor="test"
    )


def clone_cases(template: Case, dues: Sequence[datetime]) -> list[int]:
    """Copies of ``template`` (case, instance, timer row), each with its one waiting timer
    due at the matching moment of ``dues``: a thousand real instances in a second. Every
    engine task id is renamed per copy, so rows never collide."""
    db.session.rollback()
    row = db.session.get(ProcessInstance, template.instance_id)
    assert row is not None
    spec = uow.version_spec(row.version)
    timer = db.session.scalars(select(Timer).where(Timer.instance_id == row.id)).one()
    states: dict[datetime, str] = {}
    for due in set(dues):
        instance = engine.load_instance(spec, row.state)
        timeshift.shift_timers(instance, _constant(due), since=_EPOCH)
        states[due] = instance.dump()
    source = {c: getattr(template, c) for c in ("title", "category", "request_type", "channel")}
    ids: list[int] = []
    for start in range(0, len(dues), 500):
        chunk = dues[start : start + 500]
        renamed = [_rename(states[due]) for due in chunk]
        instances = [
            ProcessInstance(
                version_id=row.version_id,
                state=state,
                status="running",
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            for state, _ in renamed
        ]
        db.session.add_all(instances)
        db.session.flush()
        cases = [
            Case(
                **source,
                code=f"CL-{uuid.uuid4().hex[:24]}",
                tracking_code=uuid.uuid4().hex[:16].upper(),
                org_unit_id=template.org_unit_id,
                opened_at=template.opened_at,
                due_at=template.due_at,
                mode=template.mode,
                stage=template.stage,
                instance_id=inst.id,
            )
            for inst in instances
        ]
        db.session.add_all(cases)
        db.session.flush()
        db.session.add_all(
            Timer(
                id=mapping[timer.id],
                instance_id=inst.id,
                case_id=case.id,
                bpmn_id=timer.bpmn_id,
                kind=timer.kind,
                interrupting=timer.interrupting,
                due_at=due,
            )
            for (_, mapping), inst, case, due in zip(renamed, instances, cases, chunk, strict=True)
        )
        ids += [c.id for c in cases]
        db.session.commit()
    return ids


def _constant(due: datetime) -> Callable[[datetime], datetime]:
    return lambda _old: due


def _rename(state: str) -> tuple[str, dict[str, str]]:
    mapping: dict[str, str] = {}
    text = _UUID.sub(lambda m: mapping.setdefault(m.group(0), str(uuid.uuid4())), state)
    return text, mapping


def fired() -> list[tuple[int, datetime, datetime]]:
    """(case id, fired at, due at) for every timer each ``timer.fired`` event records."""
    db.session.rollback()
    rows = db.session.execute(
        select(CaseEvent.case_id, CaseEvent.at, CaseEvent.data).where(
            CaseEvent.type == "timer.fired"
        )
    )
    return [
        (case_id, at, datetime.fromisoformat(t["due_at"]))
        for case_id, at, data in rows
        for t in data["fired"]
    ]


def count_fired() -> int:
    db.session.rollback()
    return int(
        db.session.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.type == "timer.fired")
        )
        or 0
    )


def wait_for(predicate: Callable[[], bool], *, timeout: float, every: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass (no blind sleeping)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def start_scheduler(url: str, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``flask scheduler`` in a process of its own, on the database at ``url``, with the
    system clock; its output goes to ``log`` (a pipe nobody reads could fill and block it)."""
    env = {**os.environ, "GRIDCASE_CONFIG": "testing", "TEST_DATABASE_URL": url}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "scheduler", "--no-periodic", *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
