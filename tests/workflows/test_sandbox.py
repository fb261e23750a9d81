"""Tests for workflows.sandbox: the public functions, and a real SpiffWorkflow run through them.

What a caller sees from the engine is a WorkflowTaskException whose chain holds our error, so
the engine-level tests walk ``__cause__``/``__context__`` the way an API error handler would.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from workflows.sandbox import (
    SandboxedEnvironment,
    SandboxError,
    ScriptRefused,
    ScriptTimeout,
    check_source,
    make_script_engine,
)

BUDGET = 0.2  # seconds: the time limit of every runaway test
SLACK = 1.0  # what a loaded CI box may add on top before we call it "not stopped"

REFUSED = {
    "import": "import os",
    "from import": "from os import path",
    "subclasses": "().__class__.__base__.__subclasses__()",
    "dunder import": "__import__('os')",
    "open": "open('/etc/passwd')",
    "eval": "eval('1')",
    "class": "class A:\n    pass",
    "builtins": "__builtins__",
    "syntax error": "x = (1 +",
    "return outside function": "return 1",  # parses; only compile() refuses it
    "break outside loop": "break",
}
SIZE_BOMBS = {
    "str repeat": "'a' * 10**9",
    "list repeat": "[0] * 10**9",
    "power tower": "2 ** 10 ** 10",
    "pow()": "pow(2, 10**10)",
    "shift": "1 << 10**10",
    "int product": "(1 << 90000) * (1 << 90000)",
    "range": "list(range(10**10))",
    "ljust": "'x'.ljust(10**9)",
    "unbound ljust": "str.ljust('x', 10**9)",
    "replace": "('a' * 1000).replace('a', 'b' * 10000)",
    "join": "''.join(['a' * 1000000] * 1000)",
    "to_bytes": "(1).to_bytes(10**9, 'big')",
    "f-string width": "f'{1:>999999999}'",
    "f-string nested width": "f'{1:>{10**9}}'",
    "%-format width": "'%999999999d' % 1",
    "%-format star": "'%*d' % (10**9, 1)",
    "sum of lists": "sum([[0] * 600000] * 2, [])",
}
RUNAWAYS = {
    "while": "while True:\n    pass",
    "for over growing list": "items = [1]\nfor x in items:\n    items.append(x)",
    "comprehension over growing list": "items = [1]\n[items.append(x) for x in items]",
    "exponential recursion": "def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nf(60)",
    "exponential lambda": "f = lambda n: f(n - 1) + f(n - 1) if n else 1\nf(60)",
    "swallowing the timeout": (
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except Exception:\n        pass"
    ),
    "doubling string": "s = 'ab'\nwhile True:\n    s += s",
}


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _sandbox_error(exc: BaseException) -> SandboxError | None:
    return next((e for e in _chain(exc) if isinstance(e, SandboxError)), None)


def _execute(source: str, data: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    data = {} if data is None else data
    SandboxedEnvironment(**kwargs).execute(source, data)
    return data


# --- check_source -------------------------------------------------------------------------


@pytest.mark.parametrize("source", REFUSED.values(), ids=REFUSED.keys())
def test_check_source_refuses(source: str) -> None:
    problems = check_source(source, mode="exec")
    assert problems and all(isinstance(p, str) and p for p in problems)


def test_check_source_messages_say_what_and_where() -> None:
    assert check_source("x = 1\nimport os", mode="exec") == [
        "Line 2: import statements are not allowed in scripts."
    ]
    assert "open()" in check_source("open('/etc/passwd')", mode="eval")[0]
    assert "__subclasses__" in " ".join(check_source(REFUSED["subclasses"], mode="eval"))
    assert "SyntaxError" in check_source("x = (1 +", mode="exec")[0]
    assert check_source("x = 1\nreturn x", mode="exec") == [
        "Line 2: SyntaxError: 'return' outside function"
    ]


@pytest.mark.parametrize(
    "source", ["review_outcome == 'rework'", "amount * 2 > limit", "f'{n:>5}'", "[x for x in y]"]
)
def test_check_source_accepts_expressions_without_running_them(source: str) -> None:
    assert check_source(source, mode="eval") == []


def test_check_source_does_not_run_the_code() -> None:
    started = time.perf_counter()
    assert check_source("while True:\n    pass", mode="exec") == []
    assert time.perf_counter() - started < SLACK


def test_check_source_modes_differ() -> None:
    assert check_source("x = 1", mode="exec") == []
    assert check_source("x = 1", mode="eval") != []


@pytest.mark.parametrize("source", ["a\x00b", "+".join(["1"] * 200_000)], ids=["nul", "deep"])
def test_check_source_reports_instead_of_raising(source: str) -> None:
    assert check_source(source, mode="eval")


# --- refused and bounded code, straight through the environment -----------------------------


@pytest.mark.parametrize("source", REFUSED.values(), ids=REFUSED.keys())
def test_refused_code_raises_script_refused(source: str) -> None:
    with pytest.raises(ScriptRefused):
        _execute(source)


def test_refused_code_never_runs() -> None:
    data = {"n": 1}
    with pytest.raises(ScriptRefused):
        _execute("n = 2\nimport os", data)
    assert data == {"n": 1}


@pytest.mark.parametrize("source", SIZE_BOMBS.values(), ids=SIZE_BOMBS.keys())
def test_size_bombs_are_refused_before_allocating(source: str) -> None:
    env = SandboxedEnvironment(time_limit=BUDGET)
    started = time.perf_counter()
    with pytest.raises(ScriptTimeout, match="size budget"):
        env.evaluate(source, {})
    assert time.perf_counter() - started < SLACK


@pytest.mark.parametrize("source", ["x = 'a'\nx *= 10**9", "d = {'k': 'a'}\nd['k'] *= 10**9"])
def test_augmented_assignment_is_size_checked(source: str) -> None:
    with pytest.raises(ScriptTimeout):
        _execute(source)


@pytest.mark.parametrize("source", RUNAWAYS.values(), ids=RUNAWAYS.keys())
def test_runaway_scripts_stop_within_the_budget(source: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ScriptTimeout):
        _execute(source, time_limit=BUDGET)
    assert time.perf_counter() - started < BUDGET + SLACK


def test_str_format_cannot_reach_dunders_at_run_time() -> None:
    with pytest.raises(NotImplementedError):
        SandboxedEnvironment().evaluate("'{0.__class__}'.format(1)", {})


def test_round_with_a_huge_negative_precision_does_not_hang() -> None:
    env = SandboxedEnvironment(time_limit=BUDGET)
    assert env.evaluate("round(5, -10**8)", {}) == 0
    assert env.evaluate("round(1234, -2)", {}) == 1200


def test_script_cannot_raise_system_exit() -> None:
    with pytest.raises(NameError):
        _execute("raise SystemExit")


def test_the_next_evaluation_works_after_a_timeout() -> None:
    env = SandboxedEnvironment(time_limit=BUDGET)
    with pytest.raises(ScriptTimeout):
        env.execute("while True:\n    pass", {})
    data = {"n": 0}
    env.execute("for i in range(1000):\n    n += i", data)
    assert data == {"n": sum(range(1000)), "i": 999}
    assert env.evaluate("n > 10", data) is True


def test_deadline_spans_the_whole_evaluation_not_each_loop() -> None:
    script = "for i in range(10**6):\n    for j in range(10**6):\n        pass"
    started = time.perf_counter()
    with pytest.raises(ScriptTimeout):
        _execute(script, time_limit=BUDGET)
    assert time.perf_counter() - started < BUDGET + SLACK


def test_task_data_cannot_replace_the_guards() -> None:
    env = SandboxedEnvironment()
    data = {"_getattr_": "not a function", "__builtins__": {"open": "x"}, "items": [1, 2]}
    assert env.evaluate("len(items)", data) == 2
    with pytest.raises(ScriptRefused):
        env.evaluate("().__class__", data)


def test_missing_attribute_raises_like_python() -> None:
    # RestrictedPython's plain safer_getattr would answer None here.
    with pytest.raises(AttributeError):
        SandboxedEnvironment().evaluate("d.missing", {"d": {}})


# --- ordinary scripts ---------------------------------------------------------------------

ORDINARY = [
    ("total = price * quantity + 2 ** 10 - 7 % 3", {"price": 3, "quantity": 4}, {"total": 1035}),
    (
        "case['tags'].append('urgent')\ncase['count'] += 1\nnames = sorted(case, key=lambda k: k)",
        {"case": {"tags": [], "count": 1}},
        {"case": {"tags": ["urgent"], "count": 2}, "names": ["count", "tags"]},
    ),
    (
        "evens = [n for n in range(10) if n % 2 == 0]\nsquares = {n: n * n for n in evens}\n"
        "pairs = [(a, b) for a, b in zip(evens, reversed(evens))]",
        {},
        {
            "evens": [0, 2, 4, 6, 8],
            "squares": {0: 0, 2: 4, 4: 16, 6: 36, 8: 64},
            "pairs": [(0, 8), (2, 6), (4, 4), (6, 2), (8, 0)],
        },
    ),
    (
        "n = 0\nwhile n < 5:\n    n += 1\nlabels = []\nfor i, item in enumerate(items):\n"
        "    labels += [f'{i + 1}. {item!r:>8}']",
        {"items": ["a", "b"]},
        {"n": 5, "labels": ["1.      'a'", "2.      'b'"], "i": 1, "item": "b"},
    ),
    (
        "due = opened + timedelta(days=3)\nlate = due < datetime(2025, 1, 10)\n"
        "label = due.strftime('%Y-%m-%d')\nparsed = datetime.strptime('2025-01-02', '%Y-%m-%d')\n"
        "day = date(2025, 1, 1).isoformat()\nutc = datetime(2025, 1, 1, tzinfo=timezone.utc).hour",
        {"opened": datetime(2025, 1, 1, 9)},
        {
            "due": datetime(2025, 1, 4, 9),
            "late": True,
            "label": "2025-01-04",
            "parsed": datetime(2025, 1, 2),
            "day": "2025-01-01",
            "utc": 0,
        },
    ),
    (
        "def score(v):\n    return max(0, min(100, v * 10))\n"
        "scores = list(map(score, values))\nbest = max(scores)\n"
        "ok = all(isinstance(s, int) for s in scores) and any(s > 50 for s in scores)",
        {"values": [3, 7, 20]},
        {"scores": [30, 70, 100], "best": 100, "ok": True},
    ),
    (
        "a, (b, c) = 1, (2, 3)\ntext = 'Case %s: %d' % ('A', 3)\nprint(text)\nfirst = text[:4]",
        {},
        {"a": 1, "b": 2, "c": 3, "text": "Case A: 3", "first": "Case"},
    ),
]


@pytest.mark.parametrize("source, before, after", ORDINARY)
def test_ordinary_scripts_work_and_leave_only_task_data(
    source: str, before: dict[str, Any], after: dict[str, Any]
) -> None:
    assert _execute(source, copy.deepcopy(before)) == {**before, **after}


@pytest.mark.parametrize("source, before, after", ORDINARY)
def test_same_task_data_as_the_unsandboxed_base_class(
    source: str, before: dict[str, Any], after: dict[str, Any]
) -> None:
    plain = copy.deepcopy(before)
    helpers = {"datetime": datetime, "timedelta": timedelta, "date": date, "timezone": timezone}
    TaskDataEnvironment(helpers).execute(source, plain)
    assert _execute(source, copy.deepcopy(before)) == plain


def test_today_works_although_datetime_imports_time_internally() -> None:
    # datetime's C code imports ``time`` through the script's builtins.
    assert SandboxedEnvironment().evaluate("date.today()", {}) == date.today()


def test_evaluate_returns_the_value_and_leaves_the_context_alone() -> None:
    env = SandboxedEnvironment()
    data = {"review_outcome": "rework", "amount": 120}
    assert env.evaluate("review_outcome == 'rework' and amount > 100", data) is True
    assert env.evaluate("{'n': amount // 7, 'later': timedelta(hours=2)}", data) == {
        "n": 17,
        "later": timedelta(hours=2),
    }
    assert data == {"review_outcome": "rework", "amount": 120}


def test_external_context_is_visible_but_not_left_in_task_data() -> None:
    env = SandboxedEnvironment()
    assert env.evaluate("dmninputexpr >= 4", {}, {"dmninputexpr": 5}) is True
    data: dict[str, Any] = {}
    env.execute("seen = limit + 1", data, {"limit": 9})
    assert data == {"seen": 10}


def test_extra_globals_are_callable_and_removed_afterwards() -> None:
    env = SandboxedEnvironment({"add_working_hours": lambda start, hours: start + hours})
    data = {"start": 8}
    env.execute("due = add_working_hours(start, 4)", data)
    assert data == {"start": 8, "due": 12}
    assert env.evaluate("add_working_hours(1, 1)", {}) == 2
    with pytest.raises(ValueError, match="overwrites a predefined"):
        env.execute("x = 1", {"add_working_hours": 3})


def test_a_script_raising_a_non_string_error_is_reported_as_that_error() -> None:
    engine = make_script_engine()
    with pytest.raises(WorkflowTaskException) as caught:
        _run_workflow("missing = {}\nvalue = missing[1]", {}, engine)
    assert caught.value.error_type == "KeyError"


def test_make_script_engine_returns_a_sandboxed_engine() -> None:
    engine = make_script_engine({"f": len}, time_limit=0.5)
    assert isinstance(engine, PythonScriptEngine)
    assert isinstance(engine.environment, SandboxedEnvironment)
    assert engine.environment.time_limit == 0.5
    with pytest.raises(ValueError):
        SandboxedEnvironment(time_limit=0)


# --- threads ------------------------------------------------------------------------------


def test_deadlines_are_per_thread() -> None:
    """A short budget running out in one thread must not stop a long script in another."""
    patient_running, stop = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def patient() -> None:
        helpers = {"running": patient_running.set, "stopped": stop.is_set}
        data = {"n": 0}
        try:
            SandboxedEnvironment(helpers, time_limit=30).execute(
                "running()\nwhile not stopped():\n    n += 1\ndone = True", data
            )
        except Exception as exc:  # where a process-wide deadline would land
            results["patient"] = exc
        else:
            results["patient"] = data

    def runaway() -> None:
        # Pauses just past its own deadline while the patient keeps looping, then loops itself.
        helpers = {"pause": lambda: time.sleep(BUDGET * 1.25)}
        try:
            SandboxedEnvironment(helpers, time_limit=BUDGET).execute(
                "pause()\nwhile True:\n    pass", {}
            )
        except ScriptTimeout as exc:
            results["runaway"] = exc
        finally:
            stop.set()

    threads = [threading.Thread(target=f, daemon=True) for f in (patient, runaway)]
    threads[0].start()
    assert patient_running.wait(timeout=5)
    threads[1].start()
    for thread in threads:
        thread.join(timeout=10)
    assert isinstance(results["runaway"], ScriptTimeout)
    assert isinstance(results["patient"], dict), results["patient"]
    assert results["patient"]["done"] is True and results["patient"]["n"] > 0


def test_concurrent_scripts_on_one_engine_get_their_own_results() -> None:
    env = SandboxedEnvironment(time_limit=5)
    barrier = threading.Barrier(4)
    results: dict[int, Any] = {}

    def work(k: int) -> None:
        barrier.wait()
        data = {"k": k}
        for _ in range(50):
            env.execute("total = 0\nfor i in range(2000):\n    total += i * k", data)
        results[k] = data["total"]

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == {k: k * sum(range(2000)) for k in range(4)}


# --- a real SpiffWorkflow run -------------------------------------------------------------

_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="defs" targetNamespace="http://gridcase.test/sandbox">
  <bpmn:process id="review" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:scriptTask id="assess" scriptFormat="python">
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="decide" default="to_accepted" />
    <bpmn:endEvent id="rework" />
    <bpmn:endEvent id="accepted" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="assess" />
    <bpmn:sequenceFlow id="f2" sourceRef="assess" targetRef="decide" />
    <bpmn:sequenceFlow id="to_rework" sourceRef="decide" targetRef="rework">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="to_accepted" sourceRef="decide" targetRef="accepted" />
  </bpmn:process>
</bpmn:definitions>
"""


def _run_workflow(
    script: str,
    data: dict[str, Any],
    engine: PythonScriptEngine,
    condition: str = "review_outcome == 'rework'",
) -> BpmnWorkflow:
    xml = _BPMN.format(script=escape(script), condition=escape(condition))
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(xml.encode(), filename="review.bpmn")  # bytes: it has an XML declaration
    workflow = BpmnWorkflow(parser.get_spec("review"), script_engine=engine)
    workflow.get_next_task(state=TaskState.READY).data.update(data)
    workflow.do_engine_steps()
    return workflow


def _end_reached(workflow: BpmnWorkflow) -> str:
    ends = [t for t in workflow.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.bpmn_id in ("rework", "accepted")]
    assert workflow.is_completed() and len(ends) == 1
    return str(ends[0].task_spec.bpmn_id)


def test_workflow_runs_an_ordinary_script_and_routes_on_its_result() -> None:
    engine = make_script_engine(time_limit=BUDGET)
    script = (
        "faults = [c for c in checks if not c['ok']]\n"
        "review_outcome = 'rework' if len(faults) > 1 else 'accept'\n"
        "summary = f\"{len(faults)} of {len(checks)} failed, due {due:%m-%d}\"\n"
        "due = due + timedelta(days=2)"
    )
    checks = [{"ok": False}, {"ok": True}, {"ok": False}]
    workflow = _run_workflow(script, {"checks": checks, "due": datetime(2025, 3, 1)}, engine)
    assert _end_reached(workflow) == "rework"
    assert workflow.data["review_outcome"] == "rework"
    assert workflow.data["summary"] == "2 of 3 failed, due 03-01"
    assert workflow.data["due"] == datetime(2025, 3, 3)
    assert not {k for k in workflow.data if k.startswith("_")}

    workflow = _run_workflow(script, {"checks": checks[1:], "due": datetime(2025, 3, 1)}, engine)
    assert _end_reached(workflow) == "accepted"


@pytest.mark.parametrize(
    "script",
    [REFUSED["import"], REFUSED["subclasses"], REFUSED["dunder import"], REFUSED["open"]],
    ids=["import", "subclasses", "dunder import", "open"],
)
def test_workflow_refuses_escapes(script: str) -> None:
    with pytest.raises(WorkflowTaskException) as caught:
        _run_workflow(script, {}, make_script_engine(time_limit=BUDGET))
    assert isinstance(_sandbox_error(caught.value), ScriptRefused)
    assert caught.value.error_type == "ScriptRefused"


def test_workflow_refuses_an_escape_in_a_gateway_condition() -> None:
    engine = make_script_engine(time_limit=BUDGET)
    with pytest.raises(WorkflowTaskException) as caught:
        _run_workflow("x = 1", {}, engine, condition="().__class__.__base__ is None")
    assert isinstance(_sandbox_error(caught.value), ScriptRefused)


@pytest.mark.parametrize("script", ["x = 'a' * 10**9", "x = 2 ** 10 ** 10"])
def test_workflow_refuses_size_bombs(script: str) -> None:
    with pytest.raises(WorkflowTaskException) as caught:
        _run_workflow(script, {}, make_script_engine(time_limit=BUDGET))
    assert isinstance(_sandbox_error(caught.value), ScriptTimeout)


def test_workflow_stops_an_infinite_loop_and_the_engine_keeps_serving() -> None:
    engine = make_script_engine(time_limit=BUDGET)
    started = time.perf_counter()
    with pytest.raises(WorkflowTaskException) as caught:
        _run_workflow("while True:\n    pass", {}, engine)
    assert time.perf_counter() - started < BUDGET + SLACK
    error = _sandbox_error(caught.value)
    assert isinstance(error, ScriptTimeout)
    assert caught.value.line_number == 1  # the engine still pins the line

    workflow = _run_workflow("review_outcome = 'rework'", {}, engine)
    assert _end_reached(workflow) == "rework"
