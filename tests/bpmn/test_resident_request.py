"""The main process through the unit of work, on both databases, with the clock moved by hand.

即办 immediate: 接单 accept → triage → 派单 dispatch → 即办 handle → 审单 review →
回访 revisit on the next working day → closed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from app.cases.service import open_case
from app.core import hashchain, uow
from app.core.models import Case
from app.extensions import db
from app.processes.service import deploy_directory
from app.sla.scheduler import fire_due
from tests.conftest import SHANGHAI
from tests.helpers import INTAKE, REPO, events, only_task, open_tasks


@pytest.fixture
def case(org: dict, clock) -> Case:
    deploy_directory(REPO / "bpmn", actor="designer")
    return open_case(intake=dict(INTAKE), actor="staff1")


def _complete(case: Case, bpmn_id: str, data: dict, actor: str) -> None:
    task = only_task(case)
    assert task.bpmn_id == bpmn_id
    uow.complete_task(task_id=task.id, data=data, actor=actor)


def test_immediate_path_end_to_end(case: Case, clock) -> None:
    # 接单: the community's front desk takes it
    task = only_task(case)
    assert (task.bpmn_id, task.role, task.org_unit.code, case.stage) == (
        "accept",
        "community_staff",
        "C-01",
        "accept",
    )
    _complete(
        case,
        "accept",
        {
            "summary": "路灯不亮",
            "solvable_on_spot": True,
            "needs_departments": False,
            "front_desk_action": "dispatch",
        },
        "staff1",
    )
    # 派单: triage proposed the mode; the caseworker confirms 即办
    task = only_task(case)
    assert (task.bpmn_id, task.role, task.org_unit.code) == ("dispatch", "community_staff", "C-01")
    _complete(case, "dispatch", {"mode": "immediate"}, "staff1")
    db.session.refresh(case)
    assert case.mode == "immediate"
    # 即办 by the grid worker, due the same working day (18:00 Beijing = 10:00 UTC)
    task = only_task(case)
    assert (task.bpmn_id, task.role, task.org_unit.code, case.stage) == (
        "immediate_handle",
        "grid_worker",
        "G-01",
        "supervise",
    )
    assert task.due_at.isoformat() == "2025-03-03T10:00:00+00:00"
    _complete(case, "immediate_handle", {"result": "更换灯泡", "resolved": True}, "grid1")
    # 审单 by the community leader
    task = only_task(case)
    assert (task.bpmn_id, task.role, task.org_unit.code) == ("review", "community_leader", "C-01")
    _complete(case, "review", {"review_decision": "approve"}, "leader1")
    # 回访 waits for the next working day: nothing opens before
    assert open_tasks(case) == []
    clock.advance(timedelta(hours=12))
    assert fire_due(owner="test") == 0
    clock.set(datetime(2025, 3, 4, 9, 31, tzinfo=SHANGHAI))  # the next working morning
    assert fire_due(owner="test") == 1
    task = only_task(case)
    assert (task.bpmn_id, task.role, case.stage) == ("revisit", "community_staff", "revisit")
    _complete(
        case,
        "revisit",
        {"revisit_method": "phone", "resolved": True, "satisfaction": "satisfied"},
        "staff1",
    )
    db.session.refresh(case)
    assert (case.status, case.stage) == ("closed", "closed")
    assert case.closed_at is not None
    trail = events(case)
    assert [e.type for e in trail] == [
        "case.opened",
        "task.completed",
        "task.completed",
        "task.completed",
        "task.completed",
        "timer.fired",
        "task.completed",
    ]
    assert [e.actor for e in trail][1:5] == ["staff1", "staff1", "grid1", "leader1"]
    assert trail[-1].data["ended_at"] == "end_closed"
    assert hashchain.first_broken(trail) is None
    finished = [f["bpmn_id"] for e in trail for f in e.data["finished"]]
    assert "triage" in finished  # the decision ran and is in the audit log
