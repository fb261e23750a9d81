"""Prometheus gauges (监控指标), computed from the database at scrape time.

Every figure is a count or an age over all cases: no names, no case codes, nothing personal,
so ``GET /metrics`` may stay open to the monitoring network (set ``METRICS_TOKEN`` to require
``Authorization: Bearer <token>``). Computing at scrape time (about ten aggregate queries)
rather than counting in the request path makes the figures right whatever the number of
gunicorn workers and scheduler processes; per-request counters would need prometheus_client's
multiprocess mode (a shared directory and a gunicorn exit hook) and are left to the proxy.

The scheduler's health is ``gridcase_timer_lag_seconds``: how long the oldest due timer has
waited unfired (0 when none waits). It grows without bound when no scheduler runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from app.core.models import Case, HumanTask, Timer
from app.extensions import db
from app.sla import calendar_admin
from workflows import clock

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Label values always reported (0 when none), so a series never vanishes from a dashboard.
STAGES = ("accept", "dispatch", "supervise", "review", "revisit")
OPEN_STATUSES = ("open", "incident")


def families(now: datetime | None = None) -> list[Metric]:
    """Every gauge, read in one short transaction."""
    now = now or clock.now()
    started = time.perf_counter()
    session = db.session
    out: list[Metric] = []

    tasks = GaugeMetricFamily(
        "gridcase_open_tasks", "Open inbox tasks (待办任务) by closed-loop stage", labels=["stage"]
    )
    by_stage = dict.fromkeys(STAGES, 0)
    for stage, count in session.execute(
        select(HumanTask.stage, func.count())
        .where(HumanTask.status == "open")
        .group_by(HumanTask.stage)
    ):
        by_stage[stage or "none"] = count
    for stage, count in sorted(by_stage.items()):
        tasks.add_metric([stage], count)
    out.append(tasks)

    cases = GaugeMetricFamily(
        "gridcase_open_cases", "Cases not yet closed (未办结案件) by status", labels=["status"]
    )
    by_status = dict.fromkeys(OPEN_STATUSES, 0)
    for status, count in session.execute(
        select(Case.status, func.count()).where(Case.closed_at.is_(None)).group_by(Case.status)
    ):
        by_status[status] = count
    for status, count in sorted(by_status.items()):
        cases.add_metric([status], count)
    out.append(cases)

    running = (Case.closed_at.is_(None), Case.status != "ledgered")
    out.append(
        _gauge(
            "gridcase_overdue_cases",
            "Open cases past their due time (超期), not suspended",
            _count(Case, *running, Case.paused_at.is_(None), Case.due_at < now),
        )
    )
    out.append(
        _gauge(
            "gridcase_flagged_cases",
            "Open cases flagged to the street supervisor (超期督办)",
            _count(Case, *running, Case.sla_flag == "flagged"),
        )
    )
    out.append(
        _gauge(
            "gridcase_suspended_cases",
            "Open cases whose SLA clock is paused (挂起)",
            _count(Case, *running, Case.paused_at.is_not(None)),
        )
    )

    pending = Timer.status == "pending"
    out.append(_gauge("gridcase_pending_timers", "Timers waiting to fire", _count(Timer, pending)))
    out.append(
        _gauge(
            "gridcase_due_timers",
            "Timers due but not fired yet (the scheduler's backlog)",
            _count(Timer, pending, Timer.due_at < now),
        )
    )
    out.append(
        _gauge(
            "gridcase_timer_incidents",
            "Timers whose retries ran out (an admin must retry them)",
            _count(Timer, Timer.status == "incident"),
        )
    )
    oldest = session.scalar(select(func.min(Timer.due_at)).where(pending, Timer.due_at < now))
    lag = (now - oldest).total_seconds() if oldest is not None else 0.0
    out.append(
        _gauge(
            "gridcase_timer_lag_seconds",
            "Age of the oldest due, unfired timer (0: the scheduler keeps up)",
            lag,
        )
    )

    calendars = GaugeMetricFamily(
        "gridcase_calendar_missing_years",
        "Years in the next 60 days without a holiday schedule (节假日/调休未录入), per calendar",
        labels=["calendar"],
    )
    for calendar in calendar_admin.coverage():
        calendars.add_metric([calendar["name"]], len(calendar["missing"]))
    out.append(calendars)
    session.rollback()  # a read only: end it

    out.append(
        _gauge(
            "gridcase_metrics_scrape_seconds",
            "Time taken to compute these gauges",
            time.perf_counter() - started,
        )
    )
    return out


def _count(model: type, *conditions: object) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class _Snapshot(Collector):
    def __init__(self, metrics: Iterable[Metric]) -> None:
        self.metrics = list(metrics)

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def exposition() -> bytes:
    """The gauges in the Prometheus text format (``CONTENT_TYPE``), which every scraper reads."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families()))
    return generate_latest(registry)
