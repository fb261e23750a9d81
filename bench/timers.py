"""Timer firing under load: 100,000 pending timers, then a burst falling due at once.

    python -m bench.timers [--pending 100000] [--burst 1000] [--isolated 60]
                           [--runs sqlite:1,postgresql:1,postgresql:3]

Each run builds a fresh database (SQLite: a file in WAL mode; PostgreSQL: ``BENCH_POSTGRES_URL``,
default database ``gridcase_bench`` on 127.0.0.1:5432, created when missing), inserts the
pending timers as rows (due in 7-37 days: they only weigh on the table and its index), and
clones real instances of tests/data/simple (its 50 % reminder) for the timers that fire:
``--isolated`` of them due 250 ms apart, then ``--burst`` of them due at one instant. It then
starts N ``flask scheduler`` processes (system clock), waits until every timer has fired and
reads the ``timer.fired`` audit events: lag = event time - due time. Fired/s is the burst size
over the time from its due instant to the last firing. After each run, the raw engine fires
the same instance in this process (SpiffWorkflow alone: deserialize, fire, engine steps,
serialize; no database) for the baseline row. Prints one table.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, make_url, text

PG_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridcase_bench"
)
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def ensure_pg_database(url: str) -> None:
    import psycopg

    parsed = make_url(url)
    conninfo = (
        f"host={parsed.host} port={parsed.port or 5432} user={parsed.username} dbname=postgres"
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,))
        if found.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


def prepare(url: str, *, pending: int, burst: int, isolated: int, lead: float) -> dict[str, Any]:
    """A fresh schema with ``pending`` idle timers and the real instances that will fire."""
    from app import create_app
    from app.core.models import Timer
    from app.extensions import db
    from app.orgs.demo import seed_demo
    from tests.app.sla.support import clone_cases
    from tests.helpers import deploy_simple, open_simple_case

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        db.drop_all()
        db.create_all()
        seed_demo()
        deploy_simple()
        template, idle = open_simple_case(), open_simple_case()
        db.session.execute(delete(Timer).where(Timer.case_id == idle.id))
        db.session.commit()
        started = time.perf_counter()
        now, rng = datetime.now(UTC), random.Random(7)
        for start in range(0, pending, 5000):
            rows = [
                {
                    "id": f"idle-{n:031d}",
                    "instance_id": idle.instance_id,
                    "case_id": idle.id,
                    "bpmn_id": "idle",
                    "kind": "boundary",
                    "interrupting": False,
                    "due_at": now + timedelta(days=7, seconds=rng.randrange(30 * 86400)),
                    "status": "pending",
                    "retries": 0,
                    "revision": 1,
                }
                for n in range(start, min(pending, start + 5000))
            ]
            db.session.execute(insert(Timer), rows)
            db.session.commit()
        insert_seconds = time.perf_counter() - started
        base = datetime.now(UTC) + timedelta(seconds=lead)
        spaced = [base + timedelta(milliseconds=250 * i) for i in range(isolated)]
        burst_at = base + timedelta(milliseconds=250 * isolated + 5000)
        clone_cases(template, spaced + [burst_at] * burst)
        raw_state = raw_template(template)
        db.session.execute(delete(Timer).where(Timer.case_id == template.id))
        db.session.commit()
        # What autovacuum does after a bulk load, done now: planned on an empty table's
        # statistics, a claim would scan every pending timer instead of the due index.
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return {
        "burst_at": burst_at,
        "spaced": spaced,
        "insert_seconds": insert_seconds,
        "raw_state": raw_state,
    }


def raw_template(template: Any) -> str:
    """The template instance in SpiffWorkflow's own format (spec embedded), its timer due an
    hour ago: what the raw engine fires in the baseline row."""
    from app.core import uow
    from app.core.models import ProcessInstance
    from app.extensions import db
    from workflows import engine, serializer, timeshift

    row = db.session.get(ProcessInstance, template.instance_id)
    instance = engine.load_instance(uow.version_spec(row.version), row.state)
    past = datetime.now(UTC) - timedelta(hours=1)
    timeshift.shift_timers(instance, lambda _due: past, since=datetime(1970, 1, 1, tzinfo=UTC))
    return serializer.dump_standard(instance.workflow)


def raw_firing(state: str, *, count: int = 300) -> float:
    """Seconds per firing of the raw engine in this process: deserialize, fire, engine steps,
    serialize (workflows/baseline.py), the median of ``count`` firings after a warm-up."""
    from bench.engine import python_default_gc
    from workflows import baseline

    samples = []
    with python_default_gc():
        for n in range(count + 20):
            started = time.perf_counter()
            baseline.fire_request(state)
            if n >= 20:
                samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure(url: str, schedulers: int, plan: dict[str, Any], log_dir: Path) -> dict[str, Any]:
    from app import create_app
    from app.extensions import db
    from tests.app.sla.support import count_fired, fired, start_scheduler, wait_for

    expected = len(plan["spaced"]) + plan["burst"]
    processes = [
        start_scheduler(url, log_dir / f"scheduler-{i}.log", "--poll", "0.5")
        for i in range(schedulers)
    ]
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    try:
        with app.app_context():
            wait = (plan["burst_at"] - datetime.now(UTC)).total_seconds() + 600
            if not wait_for(lambda: count_fired() >= expected, timeout=wait, every=0.5):
                raise SystemExit(f"only {count_fired()} of {expected} fired; see {log_dir}")
            record = fired()
            db.session.remove()
            db.engine.dispose()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    burst_at = plan["burst_at"]
    burst = [(at - due).total_seconds() for _, at, due in record if due == burst_at]
    spaced = [(at - due).total_seconds() for _, at, due in record if due != burst_at]
    last = max(at for _, at, due in record if due == burst_at)
    return {
        "burst": summary(burst),
        "spaced": summary(spaced),
        "rate": len(burst) / (last - burst_at).total_seconds(),
    }


def summary(lags: list[float]) -> dict[str, float]:
    ordered = sorted(lags)
    return {
        "n": len(ordered),
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--isolated", type=int, default=60)
    parser.add_argument("--lead", type=float, default=20.0, help="seconds before the first due")
    parser.add_argument("--runs", default="sqlite:1,postgresql:1,postgresql:3")
    args = parser.parse_args()
    os.environ.setdefault("GRIDCASE_CONFIG", "testing")
    cpu = platform.processor() or platform.machine()
    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {cpu}, {os.cpu_count()}"
        f" CPUs, load {os.getloadavg()[0]:.1f}, Python {platform.python_version()}"
    )
    print(f"# {args.pending} pending timers, a burst of {args.burst}, {args.isolated} single")
    header = (
        f"{'backend':<11}{'procs':>6}{'fired/s':>9}"
        f"{'burst p50':>11}{'p99':>8}{'max':>8}{'single p50':>12}{'p99':>8}{'max':>8}"
    )
    rows, raw = [], []
    with tempfile.TemporaryDirectory(prefix="bench-timers-") as tmp:
        for run in args.runs.split(","):
            backend, _, count = run.partition(":")
            url = (
                PG_URL
                if backend == "postgresql"
                else f"sqlite:///{tmp}/{run.replace(':', '-')}.sqlite"
            )
            if backend == "postgresql":
                ensure_pg_database(url)
            plan = prepare(
                url, pending=args.pending, burst=args.burst, isolated=args.isolated, lead=args.lead
            )
            plan["burst"] = args.burst
            log_dir = Path(tmp) / run.replace(":", "-")
            log_dir.mkdir(exist_ok=True)
            result = measure(url, int(count or 1), plan, log_dir)
            raw.append(raw_firing(plan["raw_state"]))
            b, s = result["burst"], result["spaced"]
            rows.append(
                f"{backend:<11}{count or 1:>6}{result['rate']:>9.0f}"
                f"{b['p50']:>10.2f}s{b['p99']:>7.2f}s{b['max']:>7.2f}s"
                f"{s['p50'] * 1000:>10.0f}ms{s['p99'] * 1000:>6.0f}ms{s['max'] * 1000:>6.0f}ms"
            )
            print(
                f"# {run}: {args.pending} rows inserted in {plan['insert_seconds']:.1f}s",
                flush=True,
            )
    seconds = statistics.median(raw)
    cores = os.cpu_count() or 1
    print(header)
    print("\n".join(rows))
    print(
        f"{'raw engine':<11}{1:>6}{1 / seconds:>9.0f}   (SpiffWorkflow alone, one process:"
        f" {seconds * 1000:.2f} ms per firing; {cores} cores at most {cores / seconds:.0f}/s)"
    )


if __name__ == "__main__":
    main()
