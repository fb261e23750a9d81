"""The inbox at scale: 1,000,000 task rows (100,000 open) over 1,000 org units (issue 5).

    python -m bench.inbox [--runs 200] [--rebuild] [--backends sqlite,postgresql]

Loads the data of ``bench/inbox_data.py`` once per backend (SQLite: a file in the temp dir,
``BENCH_INBOX_SQLITE`` overrides; PostgreSQL: ``BENCH_INBOX_POSTGRES_URL``, default database
``gridcase_bench_inbox`` on 127.0.0.1:5432, created when missing) and keeps it for the next
run: a migration that came since is applied to it and ANALYZE run, as production would do;
``--rebuild`` loads it again. Then, for each user and page, it times
``app.tasks.service.inbox`` (a fresh session per call, as a request has), the exact total
alone, and the HTTP route ``GET /api/v1/tasks`` through the Flask test client (token check,
the service, marshmallow, JSON): p50 and p95 over ``--runs`` calls after 10 warm-up calls.
A page deeper than the first is reached by following ``next_cursor``. Target: service p95
< 20 ms for a caseworker's inbox (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from bench import MIGRATIONS, ensure_pg_database

PG_URL = os.environ.get(
    "BENCH_INBOX_POSTGRES_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/gridcase_bench_inbox",
)
SQLITE_PATH = os.environ.get(
    "BENCH_INBOX_SQLITE", str(Path(tempfile.gettempdir()) / "gridcase-bench-inbox.sqlite")
)
LAYOUT = "inbox-2"  # bump when bench/inbox_data.py changes what it loads
TARGET_MS = 20.0
WARMUP = 10


@dataclass(frozen=True)
class Scenario:
    who: str
    username: str
    scope: str
    page: int
    target: bool = True  # a caseworker's inbox (issue 5); the others show the far end


SCENARIOS = (
    Scenario("grid worker (1 grid)", "gw-BX-G000", "group", 1),
    Scenario("grid worker (1 grid)", "gw-BX-G000", "mine", 1),
    Scenario("community staff (11 units)", "cs-BX-C00", "group", 1),
    Scenario("community staff (11 units)", "cs-BX-C00", "group", 3),
    Scenario("street dispatcher (99 units)", "sd-BX-S0", "group", 1),
    Scenario("street dispatcher (99 units)", "sd-BX-S0", "group", 10),
    Scenario("district supervisor (1,000)", "sv-district", "group", 1, target=False),
    Scenario("district supervisor (1,000)", "sv-district", "group", 10, target=False),
    Scenario("auditor (reads all)", "bx-auditor", "all", 1, target=False),
    Scenario("auditor (reads all)", "bx-auditor", "all", 10, target=False),
)


def prepare(url: str, rebuild: bool) -> tuple[Flask, str]:
    """The app on a loaded database: loaded now, reused, or reused and migrated to the
    current head (as production would be) when a migration came since the load."""
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from bench.inbox_data import analyze, load

    app = create_app("production", SQLALCHEMY_DATABASE_URI=url, SECRET_KEY="bench")
    with app.app_context():
        started = time.perf_counter()
        if not rebuild and _read(db, "SELECT marker FROM bench_inbox_meta") == LAYOUT:
            before = _read(db, "SELECT version_num FROM alembic_version")
            upgrade(directory=str(MIGRATIONS))
            after = _read(db, "SELECT version_num FROM alembic_version")
            if before == after:
                return app, f"reused the data (schema {after})"
            analyze(db.engine)
            return app, f"reused the data, migrated {before} → {after} and analyzed"
        db.drop_all()
        for table in ("alembic_version", "bench_inbox_meta"):
            db.session.execute(text(f"DROP TABLE IF EXISTS {table}"))
        db.session.commit()
        upgrade(directory=str(MIGRATIONS))
        counts = load(db.engine)
        db.session.execute(text("CREATE TABLE bench_inbox_meta (marker VARCHAR(80))"))
        db.session.execute(text("INSERT INTO bench_inbox_meta VALUES (:m)"), {"m": LAYOUT})
        db.session.commit()
        db.session.remove()
        return app, f"loaded {json.dumps(counts)} in {time.perf_counter() - started:.0f} s"


def _read(db: Any, sql: str) -> str | None:
    """One value, or None when its table does not exist (nothing loaded yet)."""
    try:
        value = db.session.scalar(text(sql))
    except (OperationalError, ProgrammingError):
        value = None
    db.session.rollback()
    return None if value is None else str(value)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (
        ordered[len(ordered) // 2] * 1000,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000,
    )


def principal(username: str) -> Any:
    """The user's Principal, holding a detached copy of the user (sessions come and go)."""
    from app.auth.access import Principal
    from app.extensions import db
    from app.orgs.models import User

    user = db.session.scalar(db.select(User).where(User.username == username))
    assert user is not None, username
    loaded = Principal.of(user)
    copy = User(id=user.id, username=user.username, display_name=user.display_name)
    return Principal(user=copy, grants=loaded.grants)


def measure(app: Flask, s: Scenario, runs: int) -> dict[str, Any]:
    """Page ``s.page`` (or the last one) of the scenario, through the service and HTTP."""
    from app.api.pagination import encode_cursor
    from app.auth.service import issue_token
    from app.extensions import db
    from app.tasks import inbox as query
    from app.tasks.service import InboxQuery, inbox

    with app.app_context():
        p = principal(s.username)
        after, page, cursor = None, 1, ""
        while page < s.page:
            _, key, _ = inbox(p, InboxQuery(scope=s.scope, after=after))
            if key is None:
                break
            flag, value, last_id = key
            after, page = key, page + 1
            cursor = encode_cursor([flag, value.isoformat() if value else None, last_id])
        query_ = InboxQuery(scope=s.scope, after=after)
        service_times, total, size = [], 0, 0
        for i in range(WARMUP + runs):
            db.session.remove()
            started = time.perf_counter()
            rows, _, total = inbox(p, query_)
            elapsed = time.perf_counter() - started
            size = len(rows)
            if i >= WARMUP:
                service_times.append(elapsed)
        count_times = []
        for i in range(WARMUP + runs):  # the exact total alone, as the page statement holds it
            db.session.remove()
            started = time.perf_counter()
            pager = query.Pager(query_, query.filters(query_), query.branches(p, s.scope))
            db.session.scalar(db.select(pager.total()))
            if i >= WARMUP:
                count_times.append(time.perf_counter() - started)
        token = issue_token(p.user.id)[0]
        db.session.remove()
    client = app.test_client()
    url = f"/api/v1/tasks?scope={s.scope}&limit=50" + (f"&cursor={cursor}" if cursor else "")
    headers = {"Authorization": f"Bearer {token}"}
    http_times = []
    for i in range(WARMUP + runs):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["total"] == total and len(body["items"]) == size, (body["total"], total)
        if i >= WARMUP:
            http_times.append(elapsed)
    return {
        "page": page,
        "total": total,
        "size": size,
        "service": percentiles(service_times),
        "count": percentiles(count_times),
        "http": percentiles(http_times),
    }


def run_backend(name: str, url: str, args: argparse.Namespace) -> list[tuple[Scenario, dict]]:
    from app.extensions import db

    app, how = prepare(url, args.rebuild)
    print(f"# {name}: {how}", flush=True)
    results = [(s, measure(app, s, args.runs)) for s in SCENARIOS]
    with app.app_context():
        db.engine.dispose()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rebuild", action="store_true", help="load the data again")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    urls = {"SQLite": f"sqlite:///{SQLITE_PATH}", "PostgreSQL": PG_URL}
    chosen = [b.strip().lower() for b in args.backends.split(",")]
    tables = []
    for name, url in urls.items():
        if name.lower() not in chosen:
            continue
        if name == "PostgreSQL":
            ensure_pg_database(url)
        tables.append((name, run_backend(name, url, args)))
    machine = platform.processor() or platform.machine()
    print(
        f"# bench/inbox.py  {time.strftime('%Y-%m-%d %H:%M')}  {machine}"
        f"  cores={os.cpu_count()}  python={platform.python_version()}  runs={args.runs}"
    )
    head = ("backend", "who", "scope", "page", "total", "rows", "svc p50", "svc p95")
    print(
        f"{head[0]:10} {head[1]:28} {head[2]:5} {head[3]:>4} {head[4]:>6} {head[5]:>4} "
        f"{head[6]:>8} {head[7]:>8} {'http p50':>8} {'http p95':>8} {'total p50':>9}"
    )
    worst = {True: 0.0, False: 0.0}
    for name, results in tables:
        for s, r in results:
            (s50, s95), (h50, h95) = r["service"], r["http"]
            worst[s.target] = max(worst[s.target], s95)
            print(
                f"{name:10} {s.who:28} {s.scope:5} {r['page']:>4} {r['total']:>6} "
                f"{r['size']:>4} {s50:>8.2f} {s95:>8.2f} {h50:>8.2f} {h95:>8.2f} "
                f"{r['count'][0]:>9.2f}"
            )
    verdict = "met" if worst[True] < TARGET_MS else "NOT met"
    print(
        f"# target, a caseworker's inbox: service p95 < {TARGET_MS:.0f} ms: {verdict} "
        f"(worst {worst[True]:.2f} ms; district supervisor and auditor: {worst[False]:.2f} ms)"
    )


if __name__ == "__main__":
    main()
