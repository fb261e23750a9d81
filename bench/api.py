"""Task completions per second over HTTP, against the production server setup (issue 5).

    python -m bench.api [--cases 48] [--clients 1,4,16] [--backends sqlite,postgresql]
                        [--workers 2] [--threads 4]

For each backend, a fresh database (SQLite: a file in WAL mode in a temporary directory;
PostgreSQL: ``BENCH_API_POSTGRES_URL``, default database ``gridcase_bench_api`` on
127.0.0.1:5432, created when missing) is migrated, seeded with the demo org and the bench
processes, and given the cases of every run at once, opened through the service (not HTTP):
process A of ../shared/bench (8 user tasks, all in the grid worker lane of G-01, 5-field
forms), each with its first task ready. Then gunicorn serves ``app.wsgi:app`` as
``flask serve`` does (``--workers 2 --threads 4``: one process per core on the 2-core
machine, threads to overlap the database round trips) and N client threads each log in once
as ``grid1`` (``POST /api/v1/auth/token``) and walk their share of the cases over one
keep-alive connection: ``POST /api/v1/tasks/{id}/complete`` with valid form data, the next
task id taken from the response, until the case is closed. A warm-up walk per worker fills
the spec caches first. Completions/s = completions of the run / its wall time; latency is
per completion as the client sees it (with a reconnect, if gunicorn dropped the idle
connection: counted in ``reconnects``); ``errors`` are completions that failed. The raw
SpiffWorkflow request (deserialize → complete → serialize, no database, no HTTP) is
measured in the same run for comparison.
Target (issue 5): ≥ 100 completions/s with p95 < 100 ms on PostgreSQL.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench import PG_URL, PROCESSES, ensure_pg_database, fresh_app
from bench import intake as bench_intake
from bench.engine import bench_raw, percentiles

API_PG_URL = os.environ.get(
    "BENCH_API_POSTGRES_URL",
    make_url(PG_URL).set(database="gridcase_bench_api").render_as_string(hide_password=False),
)
ROOT = Path(__file__).resolve().parent.parent
PROCESS = "gridcase_anchor_a"
USER, PASSWORD = "grid1", "gridcase-demo"  # process A's lane is grid_worker in G-01
TASKS_PER_CASE = 8


@dataclass
class Client:
    """One client thread's share: its cases' first tasks (id, bpmn id), what it measured."""

    first_tasks: list[tuple[str, str]]
    samples: list[float] = field(default_factory=list)
    done: int = 0
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)


def form_values() -> dict[str, dict[str, Any]]:
    """Five valid values per form (the API validates them against the JSON Schema), taking
    the first choice of each enum: triage standard, review approve, so 8 tasks per case."""
    samples = {"integer": 3, "number": 1.5, "boolean": True, "array": ["part"]}
    values: dict[str, dict[str, Any]] = {}
    for path in sorted((PROCESSES / "forms").glob("a-*-schema.json")):
        schema = json.loads(path.read_text())
        task = path.name.removeprefix("a-").removesuffix("-schema.json")
        values[task] = {
            name: prop["enum"][0] if "enum" in prop else samples.get(prop["type"], f"{name} 值")
            for name, prop in schema["properties"].items()
        }
    return values


def open_cases(url: str, count: int) -> list[tuple[str, str]]:
    """``count`` fresh cases of process A; each one's first ready task (id, bpmn id)."""
    from app.cases.service import open_case
    from app.core.models import HumanTask
    from app.extensions import db

    with fresh_app(url):
        intake = bench_intake("bench api")
        ids = []
        for _ in range(count):
            case = open_case(intake=intake, actor="bench", process_key=PROCESS)
            task = db.session.execute(
                db.select(HumanTask.id, HumanTask.bpmn_id).where(
                    HumanTask.case_id == case.id, HumanTask.status == "open"
                )
            ).one()
            ids.append((task.id, task.bpmn_id))
        return ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(url: str, *, workers: int, threads: int, log: Path) -> Iterator[int]:
    """gunicorn on ``url``'s database, as ``flask serve`` runs it; yields its port."""
    port = free_port()
    env = {
        **os.environ,
        "GRIDCASE_CONFIG": "production",
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-api",
    }
    command = [
        sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
        "--bind", f"127.0.0.1:{port}", "app.wsgi:app",
    ]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log}")
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                if request(probe, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    data = response.read()
    kind = response.getheader("Content-Type", "")
    return response.status, json.loads(data) if "json" in kind and data else None


class Session:
    """One keep-alive connection with a bearer token. gunicorn closes a kept-alive connection
    after 2 s without a request being read (its default keep-alive), which happens when all
    its threads are busy: the client then reconnects and sends again, as browsers do."""

    def __init__(self, port: int) -> None:
        self.port, self.token, self.reconnects = port, "", 0
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        try:
            return request(self.conn, method, path, body, self.token)
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.reconnects += 1
            return request(self.conn, method, path, body, self.token)

    def complete(self, task_id: str, data: dict[str, Any]) -> tuple[int, Any]:
        """Complete a task; when a lost connection hid that it was completed (409 on the
        retry), read the case to go on from where it is."""
        before = self.reconnects
        status, case = self.call("POST", f"/api/v1/tasks/{task_id}/complete", {"data": data})
        if status == 409 and self.reconnects > before:
            status, task = self.call("GET", f"/api/v1/tasks/{task_id}")
            if status == 200 and task["status"] == "completed":
                return self.call("GET", f"/api/v1/cases/{task['case_id']}")
        return status, case


def walk(client: Client, port: int, values: dict[str, dict[str, Any]], start: Any) -> None:
    """Log in once, then complete every task of the client's cases over one connection."""
    session = Session(port)
    status, body = session.call(
        "POST", "/api/v1/auth/token", {"username": USER, "password": PASSWORD}
    )
    start.wait()
    if status != 200:
        client.errors.append(f"login: {status} {body}")
        return
    session.token = body["token"]
    for first in client.first_tasks:
        task: tuple[str, str] | None = first
        while task is not None:
            task_id, bpmn_id = task
            began = time.perf_counter()
            try:
                status, case = session.complete(task_id, values[bpmn_id])
            except (OSError, http.client.HTTPException) as exc:
                client.errors.append(f"{task_id}: {exc!r}")
                break
            client.samples.append(time.perf_counter() - began)
            if status != 200 or not isinstance(case, dict) or "tasks" not in case:
                client.errors.append(f"{task_id}: {status} {str(case)[:300]}")
                break
            client.done += 1
            tasks = case["tasks"]
            task = (tasks[0]["id"], tasks[0]["bpmn_id"]) if tasks else None
    client.reconnects = session.reconnects
    session.conn.close()


def run(port: int, first_tasks: list[tuple[str, str]], clients: int) -> dict[str, Any]:
    """``clients`` threads over ``first_tasks`` (round robin); completions/s and latency."""
    values = form_values()
    shares = [Client(first_tasks[i::clients]) for i in range(clients)]
    start = threading.Barrier(clients + 1)
    threads = [
        threading.Thread(target=walk, args=(c, port, values, start), daemon=True) for c in shares
    ]
    for t in threads:
        t.start()
    start.wait()  # every client has logged in
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    samples = [s for c in shares for s in c.samples]
    errors = [e for c in shares for e in c.errors]
    stats = percentiles(samples) if samples else {"n": 0, "p50": 0.0, "p95": 0.0, "mean": 0.0}
    return {
        **stats,
        "rate": sum(c.done for c in shares) / elapsed,
        "errors": len(errors),
        "reconnects": sum(c.reconnects for c in shares),
        "first_error": errors[:1],
    }


def bench_backend(
    name: str, url: str, *, cases: int, counts: list[int], workers: int, threads: int, log: Path
) -> list[tuple[int, str, dict[str, Any]]]:
    warmup = workers * 2
    first_tasks = open_cases(url, warmup + cases * len(counts))
    results = []
    with server(url, workers=workers, threads=threads, log=log) as port:
        run(port, first_tasks[:warmup], workers)  # each worker loads the spec once
        offset = warmup
        for clients in counts:
            share = first_tasks[offset : offset + cases]
            results.append((clients, name, run(port, share, clients)))
            offset += cases
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=48, help="cases walked per run (8 tasks)")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.clients.split(",")]
    raw = bench_raw(max(10, args.cases // 4))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "gunicorn.log"
        for backend in args.backends.split(","):
            url = f"sqlite:///{tmp}/bench-api.sqlite" if backend == "sqlite" else API_PG_URL
            if backend == "postgresql":
                ensure_pg_database(url)
            rows += bench_backend(
                backend, url, cases=args.cases, counts=counts,
                workers=args.workers, threads=args.threads, log=log,
            )  # fmt: skip
        failures = [r for _, _, r in rows if r["errors"]]
        tail = log.read_text(errors="replace")[-2000:] if failures else ""
    machine = platform.processor() or platform.machine()
    print(
        f"# bench/api.py  {time.strftime('%Y-%m-%d %H:%M')}  {machine}  cores={os.cpu_count()}"
        f"  python={platform.python_version()}  gunicorn {args.workers} workers × "
        f"{args.threads} threads  {args.cases} cases × {TASKS_PER_CASE} tasks per run"
    )
    head = ("clients", "backend", "completions/s", "p50 ms", "p95 ms", "errors", "reconnects")
    print(
        f"{head[0]:>7} {head[1]:10} {head[2]:>14} {head[3]:>8} {head[4]:>8} {head[5]:>6} "
        f"{head[6]:>10}"
    )
    for clients, backend, r in rows:
        print(
            f"{clients:>7} {backend:10} {r['rate']:>14.1f} {r['p50']:>8.2f} {r['p95']:>8.2f} "
            f"{r['errors']:>6} {r['reconnects']:>10}"
        )
    print(
        f"{1:>7} {'raw engine':10} {1000 / raw['mean']:>14.1f} {raw['p50']:>8.2f} "
        f"{raw['p95']:>8.2f}   (SpiffWorkflow alone, one thread: no HTTP, no database)"
    )
    for _, backend, r in rows:
        if r["first_error"]:
            print(f"first error ({backend}): {r['first_error'][0]}")
    if tail:
        print("gunicorn log (tail):\n" + tail)


if __name__ == "__main__":
    main()
