"""Scenario fixtures, and the session hooks behind the flow-coverage check.

A *scenario* is a test that uses the ``world`` fixture. The hooks note which scenarios were
selected or left out (``-k``, ``-m``), move the coverage check to the very end of the run
(after every scenario, on every backend), and print the coverage figures in the summary.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.bpmn.scenario import (
    REGISTRY,
    World,
    add_extra_users,
    deploy_all,
    shipped_flows,
)

COVERAGE_MODULE = "test_zz_flow_coverage.py"


def _is_scenario(item: pytest.Item) -> bool:
    return "world" in getattr(item, "fixturenames", ())


@pytest.fixture
def world(org: dict, clock: Any, request: pytest.FixtureRequest) -> World:
    """The shipped library deployed, the demo org (plus a water-utility desk and a resident)
    and the clock at Monday 3 March 2025, 09:30 Beijing."""
    deploy_all()
    add_extra_users()
    return World(clock, request.node.nodeid)


def pytest_deselected(items: list[pytest.Item]) -> None:
    REGISTRY.deselected.update(i.nodeid for i in items if _is_scenario(i))
    REGISTRY.collected_files.update(str(i.path.resolve()) for i in items)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [i for i in items if i.path.name == COVERAGE_MODULE]
    items[:] = [i for i in items if i.path.name != COVERAGE_MODULE] + last


def pytest_collection_finish(session: pytest.Session) -> None:
    scenarios = [i for i in session.items if _is_scenario(i)]
    REGISTRY.selected.update(i.nodeid for i in scenarios)
    REGISTRY.expected_to_fail.update(i.nodeid for i in scenarios if i.get_closest_marker("xfail"))
    REGISTRY.collected_files.update(str(i.path.resolve()) for i in session.items)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REGISTRY.started:
        return
    figures = ", ".join(
        f"{process} {len(REGISTRY.covered(process))}/{len(flows)}"
        for process, flows in sorted(shipped_flows().items())
    )
    terminalreporter.write_line(f"BPMN flow coverage by the scenarios: {figures}")
