"""The scheduler's periodic SLA jobs: overdue flags (one audit event each), the daily digest
per org unit (written once, rolled up the tree), the calendar-coverage warning."""

from __future__ import annotations

import logging
from datetime import date

from flask import Flask

from app.core import sla_actions
from app.core.models import Case
from app.extensions import db
from app.sla.models import SlaDigest
from app.sla.scheduler import Runner
from app.sla.service import digests, flag_overdue_cases, sla_state, write_digests
from tests.app.api.support import as_user, problem
from tests.helpers import deploy_simple, events, open_simple_case
from tests.workflows.test_calendar import bj


def test_overdue_then_flagged_after_five_more_working_days(org: dict, clock) -> None:
    deploy_simple()
    case = open_simple_case()  # due Mon 2025-03-03 18:00
    paused = open_simple_case()
    sla_actions.suspend_case(case_id=paused.id, reason="r", actor="t")
    clock.set(bj(2025, 3, 3, 17, 59))
    assert flag_overdue_cases() == {}
    clock.set(bj(2025, 3, 4, 9, 1))
    assert flag_overdue_cases() == {"overdue": 1}  # the paused one is not overdue
    clock.set(bj(2025, 3, 10, 17, 59))  # 4 working days and 7.9 h late
    assert flag_overdue_cases() == {}
    clock.set(bj(2025, 3, 11, 9, 1))  # 5 working days late
    assert flag_overdue_cases() == {"flagged": 1}
    assert flag_overdue_cases() == {}
    trail = [e for e in events(case) if e.type.startswith("sla.")]
    assert [(e.type, e.data["flag"]) for e in trail] == [
        ("sla.overdue", [None, "overdue"]),
        ("sla.flagged", ["overdue", "flagged"]),
    ]
    assert trail[-1].data["overdue_working_seconds"] >= 5 * 7.5 * 3600
    assert db.session.get(Case, paused.id).sla_flag is None


def test_the_daily_digest_rolls_up_the_tree_once(app: Flask, org: dict, clock) -> None:
    deploy_simple()
    first = open_simple_case()  # G-01
    open_simple_case(org_unit="G-02")
    paused = open_simple_case(org_unit="G-03")
    sla_actions.suspend_case(case_id=paused.id, reason="r", actor="t")
    clock.set(bj(2025, 3, 3, 17))
    assert sla_state(db.session.get(Case, first.id)).state == "due_soon"
    clock.set(bj(2025, 3, 4, 0, 5))
    day = date(2025, 3, 3)
    assert write_digests(day) > 0
    assert write_digests(day) == 0  # once (a second scheduler finds it written)
    by_unit = {row["org_unit"]: row["counts"] for row in digests(day=day)}
    assert by_unit["G-01"] == {"open": 1, "overdue": 1, "opened": 1}
    assert by_unit["C-01"] == {"open": 2, "overdue": 2, "opened": 2}
    assert by_unit["C-02"] == {"open": 1, "paused": 1, "opened": 1}
    assert by_unit["S-01"] == by_unit["D-01"] == {"open": 3, "overdue": 2, "paused": 1, "opened": 3}
    assert "G-04" not in by_unit
    community = db.session.merge(org["units"]["C-01"])
    assert [r["org_unit"] for r in digests(day=day, unit=community)] == ["C-01", "G-01", "G-02"]
    client = app.test_client()
    leader = as_user(client, "leader1")  # community leader of C-01 and below
    seen = leader.get("/api/v1/sla/digests?day=2025-03-03").get_json()
    assert {r["org_unit"] for r in seen} == {"C-01", "G-01", "G-02"}
    problem(leader.get("/api/v1/sla/digests?day=2025-03-03&org_unit=C-02"), 403)
    problem(leader.get("/api/v1/sla/digests?day=2025-03-03&org_unit=NOPE"), 422)
    assert len(as_user(client, "auditor").get("/api/v1/sla/digests?day=2025-03-03").get_json()) == 7


def test_runner_jobs_write_yesterdays_digest_and_warn_about_coverage(
    app: Flask,
    org: dict,
    clock,
    caplog,
) -> None:
    deploy_simple()
    open_simple_case()
    runner = Runner(app, background=True, periodic=True)
    clock.set(bj(2026, 11, 23, 0, 5))
    with caplog.at_level(logging.WARNING):
        runner._job("coverage")
        runner._job("digest")
        runner._job("overdue")
    assert any("no holiday schedule for 2027" in r.getMessage() for r in caplog.records)
    db.session.rollback()
    assert db.session.scalars(db.select(SlaDigest.day)).first() == date(2026, 11, 22)
    assert db.session.scalar(db.select(Case.sla_flag)) == "flagged"
    clock.set(bj(2026, 6, 1))
    caplog.clear()
    runner._job("coverage")
    assert not [r for r in caplog.records if "holiday schedule" in r.getMessage()]
