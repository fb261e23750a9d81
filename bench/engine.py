"""Cost of one task completion: the raw engine beside our unit of work, in one run.

    python -m bench.engine [--cases 30]

Process A of ../shared/bench (8 user tasks, 2 gateways, 5-field forms). The raw engine does
deserialize → complete → engine steps → serialize with SpiffWorkflow's standard serializer;
the unit of work does the same plus the sandbox, the spec cache, the task projection, the
timers, the case row, one hash-chained audit event and the commit, on SQLite (a file, WAL)
and on PostgreSQL (127.0.0.1:5432), the three interleaved case by case. Prints a table with
p50/p95/mean and the ratio to raw.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from flask import Flask

from bench import PROCESSES, ensure_pg_database, fresh_app
from bench import intake as bench_intake
from workflows import baseline
from workflows.specs import load_directory

PROCESS = "gridcase_anchor_a"
WARMUP = 2
DEFAULT_GC = (700, 10, 10)  # CPython's own


def form_values() -> dict[str, dict[str, Any]]:
    """Five values per form, as the anchor benchmark submits them (triage standard, approve)."""
    values: dict[str, dict[str, Any]] = {}
    for path in sorted((PROCESSES / "forms").glob("a-*-schema.json")):
        schema = json.loads(path.read_text())
        task = path.name.removeprefix("a-").removesuffix("-schema.json")
        data: dict[str, Any] = {}
        for name, prop in schema["properties"].items():
            if "enum" in prop:
                data[name] = prop["enum"][0]
            elif prop.get("type") == "integer":
                data[name] = 3
            else:
                data[name] = f"{name} value"
        values[task] = data
    return values


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50": ordered[len(ordered) // 2] * 1000,
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000,
        "mean": statistics.fmean(ordered) * 1000,
    }


@contextmanager
def python_default_gc() -> Iterator[None]:
    """The raw engine runs as a plain Python program would: with the collector's default
    thresholds, not the ones create_app sets for Gridcase (config.GC_THRESHOLD). Garbage
    is collected, untimed, at each switch, so neither side pays for the other's."""
    ours = gc.get_threshold()
    gc.collect()
    gc.set_threshold(*DEFAULT_GC)
    try:
        yield
    finally:
        gc.collect()
        gc.set_threshold(*ours)


def raw_case(bundle: Any, values: dict[str, dict[str, Any]]) -> list[float]:
    """One case of process A through the raw engine: the cost of each completion."""
    with python_default_gc():
        return _raw_case(bundle, values)


def _raw_case(bundle: Any, values: dict[str, dict[str, Any]]) -> list[float]:
    samples = []
    state = baseline.start(bundle)
    while (ready := baseline.ready_task(state)) is not None:
        started = time.perf_counter()
        state = baseline.complete_request(state, values[ready[1]])
        samples.append(time.perf_counter() - started)
    return samples


def bench_raw(cases: int) -> dict[str, float]:
    """The raw engine alone, ``cases`` cases of process A (bench/api.py's reference row)."""
    bundle = next(b for b in load_directory(PROCESSES) if b.key == PROCESS)
    values = form_values()
    return percentiles([s for _ in range(cases) for s in raw_case(bundle, values)])


def uow_case(app: Flask, values: dict[str, dict[str, Any]]) -> list[float]:
    """One case of process A through the unit of work: the cost of each completion."""
    from app.cases.service import open_case
    from app.core import uow
    from app.core.models import HumanTask
    from app.database import end_read
    from app.extensions import db

    samples = []
    with app.app_context():
        case = open_case(intake=bench_intake("bench"), actor="bench", process_key=PROCESS)
        while True:
            end_read()  # as a request ends (app.database.end_read)
            task = db.session.scalars(
                db.select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open")
            ).first()
            if task is None:
                break
            data = values[task.bpmn_id]
            task_id = task.id
            end_read()
            started = time.perf_counter()
            uow.complete_task(task_id=task_id, data=data, actor="bench")
            samples.append(time.perf_counter() - started)
        end_read()
    return samples


def run(cases: int, sqlite_url: str, pg_url: str) -> list[tuple[str, dict[str, float]]]:
    """The three runs interleaved case by case, so that a noisy neighbour on a shared machine
    slows all three alike instead of skewing the ratio; the first two cases of each warm up."""
    bundle = next(b for b in load_directory(PROCESSES) if b.key == PROCESS)
    values = form_values()
    names = ["raw SpiffWorkflow (standard serializer)", "unit of work, SQLite"]
    names.append("unit of work, PostgreSQL")
    samples: dict[str, list[float]] = {name: [] for name in names}
    with ExitStack() as stack:
        sqlite_app = stack.enter_context(fresh_app(sqlite_url))
        pg_app = stack.enter_context(fresh_app(pg_url))
        runners: list[Callable[[], list[float]]] = [
            lambda: raw_case(bundle, values),
            lambda: uow_case(sqlite_app, values),
            lambda: uow_case(pg_app, values),
        ]
        for round_ in range(cases + WARMUP):
            for name, runner in zip(names, runners, strict=True):
                taken = runner()
                if round_ >= WARMUP:
                    samples[name].extend(taken)
    return [(name, percentiles(samples[name])) for name in names]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = run(args.cases, f"sqlite:///{tmp}/bench.sqlite", ensure_pg_database())
    raw_mean = results[0][1]["mean"]
    machine = platform.processor() or platform.machine()
    print(
        f"# bench/engine.py  {time.strftime('%Y-%m-%d %H:%M')}  {machine}"
        f"  cores={os.cpu_count()}  python={platform.python_version()}"
    )
    head = ("process A, one completion", "n", "p50 ms", "p95 ms", "mean ms", "× raw")
    print(f"{head[0]:45} {head[1]:>5} {head[2]:>8} {head[3]:>8} {head[4]:>8} {head[5]:>6}")
    for name, r in results:
        print(
            f"{name:45} {r['n']:>5} {r['p50']:>8.2f} {r['p95']:>8.2f} {r['mean']:>8.2f} "
            f"{r['mean'] / raw_mean:>6.2f}"
        )


if __name__ == "__main__":
    main()
