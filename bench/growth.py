"""Cost per completion as history grows: pass 20, 100 and 300, raw engine beside ours.

    python -m bench.growth [--passes 300]

Processes B, B2, D and D2 of ../shared/bench (copies in bench/processes with one lane and
n = 300), driven to 300 loop passes: the raw engine (standard serializer, history kept) and the
unit of work (compaction on) on SQLite and PostgreSQL. Each cell is the mean cost of the
completions of the five passes ending at the mark, and the saved state's size at the mark.
A run that stops early says how: the raw engine stalls in the depth trap (B2: reported
completed with its counter short) or crashes with RecursionError (D).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench import PROCESSES, ensure_pg_database, fresh_app
from bench import intake as bench_intake
from workflows import baseline
from workflows.specs import load_directory

MARKS = (20, 100, 300)
# process key -> user tasks per loop pass
LOOPS = {
    "gridcase_anchor_b": 1,
    "gridcase_anchor_b2": 1,
    "gridcase_anchor_d": 2,
    "gridcase_anchor_d2": 2,
}


@dataclass
class Run:
    cost: dict[int, float] = field(default_factory=dict)  # mark -> mean ms per completion
    size: dict[int, int] = field(default_factory=dict)  # mark -> state bytes
    end: str = ""


def _drive(
    per_pass: int,
    passes: int,
    next_task: Callable[[], object | None],
    complete: Callable[[object], None],
    state_size: Callable[[], int],
    finish: Callable[[int], str],
    budget: float = 600.0,
) -> Run:
    """Complete tasks until ``passes`` loop passes are done; only ``complete`` is timed."""
    run, samples, done = Run(), [], 0
    marks = [m for m in MARKS if m <= passes]
    deadline = time.perf_counter() + budget
    try:
        while done < passes * per_pass:
            if time.perf_counter() > deadline:
                run.end = f"stopped by the bench after {budget:.0f} s at pass {done // per_pass}"
                return run
            task = next_task()
            if task is None:
                break
            started = time.perf_counter()
            complete(task)
            samples.append(time.perf_counter() - started)
            done += 1
            if done % per_pass == 0 and done // per_pass in marks:
                window = samples[-5 * per_pass :]
                run.cost[done // per_pass] = statistics.fmean(window) * 1000
                run.size[done // per_pass] = state_size()
    except RecursionError:
        run.end = f"RecursionError at pass {done // per_pass}"
        return run
    run.end = finish(done // per_pass)
    return run


def bench_raw(key: str, passes: int, budget: float = 120.0) -> Run:
    bundle = next(b for b in load_directory(PROCESSES) if b.key == key)
    state = [baseline.start(bundle)]

    def complete(_task: object) -> None:
        state[0] = baseline.complete_request(state[0], {})

    def finish(passes_done: int) -> str:
        counter = baseline.final_data(state[0]).get("counter")
        completed = baseline.is_completed(state[0])
        return f"counter {counter}, {'completed' if completed else 'not completed'}"

    return _drive(
        LOOPS[key],
        passes,
        lambda: baseline.ready_task(state[0]),
        complete,
        lambda: len(state[0]),
        finish,
        budget,
    )


def bench_uow(url: str, key: str, passes: int) -> Run:
    from app.cases.service import open_case
    from app.core import uow
    from app.core.models import Case, HumanTask
    from app.extensions import db
    from workflows import engine

    with fresh_app(url, COMPACTION=True):
        intake = bench_intake("growth")
        case_id = open_case(intake=intake, actor="bench", process_key=key).id

        def next_task() -> str | None:
            db.session.rollback()
            task_id = db.session.scalar(
                db.select(HumanTask.id)
                .where(HumanTask.case_id == case_id, HumanTask.status == "open")
                .order_by(HumanTask.created_at, HumanTask.bpmn_id)
                .limit(1)
            )
            db.session.rollback()
            return task_id

        def complete(task_id: object) -> None:
            uow.complete_task(task_id=str(task_id), data={}, actor="bench")

        def size() -> int:
            db.session.rollback()
            return len(db.session.get(Case, case_id).instance.state)

        def finish(passes_done: int) -> str:
            db.session.rollback()
            case = db.session.get(Case, case_id)
            row = case.instance
            data = engine.load_instance(uow.version_spec(row.version), row.state).data
            return f"counter {data.get('counter')}, case {case.status}"

        return _drive(LOOPS[key], passes, next_task, complete, size, finish)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=300)
    parser.add_argument("--only", nargs="*", default=list(LOOPS))
    parser.add_argument(
        "--raw-budget", type=float, default=120.0, help="seconds the raw engine gets per process"
    )
    args = parser.parse_args(argv)
    marks = [m for m in MARKS if m <= args.passes]
    print(f"# bench/growth.py  {time.strftime('%Y-%m-%d %H:%M')}  cores={os.cpu_count()}")
    cols = "".join(f"{'ms@' + str(m):>9}" for m in marks)
    sizes = "".join(f"{'KB@' + str(m):>9}" for m in marks)
    print(f"{'process':20} {'runner':16}{cols}{sizes}  {'×300/20':>8}  end")
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.only:
            runners = [
                ("raw engine", lambda k=key: bench_raw(k, args.passes, args.raw_budget)),
                (
                    "uow SQLite",
                    lambda k=key: bench_uow(f"sqlite:///{tmp}/{k}.sqlite", k, args.passes),
                ),
                (
                    "uow PostgreSQL",
                    lambda k=key: bench_uow(ensure_pg_database(), k, args.passes),
                ),
            ]
            for name, runner in runners:
                run = runner()
                cost = "".join(
                    f"{run.cost[m]:>9.2f}" if m in run.cost else f"{'—':>9}" for m in marks
                )
                size = "".join(
                    f"{run.size[m] / 1024:>9.1f}" if m in run.size else f"{'—':>9}" for m in marks
                )
                first, last = run.cost.get(marks[0]), run.cost.get(marks[-1])
                ratio = f"{last / first:>8.2f}" if first and last else f"{'—':>8}"
                print(f"{key:20} {name:16}{cost}{size}  {ratio}  {run.end}", flush=True)


if __name__ == "__main__":
    main()
