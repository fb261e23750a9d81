"""Scheduler processes against one database (system clock, timers cloned from a real case):
exactly once with three processes on PostgreSQL, and nothing lost or repeated when one is
killed with SIGKILL while it fires and another starts. Polls with bounded timeouts."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, func, select

from app.core.models import CaseEvent, Timer
from app.extensions import db
from tests.app.sla.support import (
    clone_cases,
    count_fired,
    deploy_timer_process,
    fired,
    start_scheduler,
    start_timer_case,
    wait_for,
)

pytestmark = pytest.mark.slow


def _cases_due(dues: list[datetime]) -> list[int]:
    """Real instances of tests/data/sla_timer, one timer each, due at ``dues``."""
    deploy_timer_process()
    template = start_timer_case(datetime.now(UTC) + timedelta(days=1))
    ids = clone_cases(template, dues)
    db.session.execute(delete(Timer).where(Timer.case_id == template.id))
    db.session.commit()
    return ids


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        process.wait(timeout=20)


def _logs(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(folder.glob("*.log")))


def _assert_each_fired_once(ids: list[int]) -> None:
    record = fired()
    counts = Counter(case_id for case_id, _, _ in record)
    assert set(counts) == set(ids), f"{len(set(ids) - set(counts))} never fired"
    assert max(counts.values()) == 1, "a timer fired twice"
    early = [(at, due) for _, at, due in record if not due < at]
    assert early == [], "fired before its due time"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Timer)) == 0
    incidents = select(func.count()).where(CaseEvent.type == "timer.incident")
    assert db.session.scalar(incidents) == 0


def test_three_schedulers_fire_a_thousand_timers_exactly_once(
    app: Flask, org: dict, backend: str, tmp_path: Path
) -> None:
    if backend != "postgresql":
        pytest.skip("several scheduler processes at once: PostgreSQL (SQLite has one writer)")
    now = datetime.now(UTC)
    # 800 fell due while nothing ran; 200 fall due, 20 ms apart, once the schedulers run
    dues = [now - timedelta(minutes=5, milliseconds=i) for i in range(800)]
    dues += [now + timedelta(seconds=8, milliseconds=20 * i) for i in range(200)]
    ids = _cases_due(dues)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    options = ("--lease", "10", "--poll", "0.2", "--batch", "25")
    schedulers = [start_scheduler(url, tmp_path / f"s{i}.log", *options) for i in range(3)]
    try:
        done = wait_for(lambda: count_fired() >= len(ids), timeout=75, every=0.25)
        assert done, f"{count_fired()} of {len(ids)} fired\n{_logs(tmp_path)}"
        assert all(s.poll() is None for s in schedulers), _logs(tmp_path)
    finally:
        _stop(schedulers)
    _assert_each_fired_once(ids)


def test_a_scheduler_killed_while_firing_loses_nothing_and_repeats_nothing(
    app: Flask, org: dict, tmp_path: Path
) -> None:
    ids = _cases_due([datetime.now(UTC) - timedelta(minutes=1, seconds=i) for i in range(240)])
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    options = ("--lease", "2", "--poll", "0.2", "--batch", "20")
    first = start_scheduler(url, tmp_path / "first.log", *options)
    try:
        assert wait_for(lambda: count_fired() >= 15, timeout=30, every=0.02), _logs(tmp_path)
        os.kill(first.pid, signal.SIGKILL)  # mid-batch: its leased timers wait for the lease
        first.wait(timeout=10)
    finally:
        _stop([first])
    killed_at = count_fired()
    assert 15 <= killed_at < len(ids)
    second = start_scheduler(url, tmp_path / "second.log", *options)
    try:
        done = wait_for(lambda: count_fired() >= len(ids), timeout=60, every=0.25)
        assert done, f"{count_fired()} of {len(ids)} fired\n{_logs(tmp_path)}"
    finally:
        _stop([second])
    _assert_each_fired_once(ids)
