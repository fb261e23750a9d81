"""Flow coverage: every sequence flow of every shipped BPMN file is taken by some scenario.

The scenario driver feeds ``REGISTRY`` from the audit trail: each completed element's
``came_from`` → ``bpmn_id`` is a (sourceRef, targetRef) pair. This module runs after every
scenario (the hook in conftest.py moves it to the end of the session) and fails naming each
flow no scenario took. It refuses to judge a partial run: when a test module of tests/bpmn was
not collected or a scenario was deselected (``-k``, ``-m``, ``--lf``), it skips and says why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.bpmn.scenario import BPMN_DIR, BPMN_NS, REGISTRY, Flow, shipped_flows

HERE = Path(__file__).parent

def _require_every_scenario() -> None:
    modules = {str(p.resolve()) for p in HERE.glob("test_*.py")}
    absent = sorted(Path(m).name for m in modules - REGISTRY.collected_files)
    if absent:
        pytest.skip(f"flow coverage needs every scenario; not collected: {', '.join(absent)}")
    if REGISTRY.deselected:
        pytest.skip(
            f"flow coverage needs every scenario; {len(REGISTRY.deselected)} deselected, "
            f"e.g. {sorted(REGISTRY.deselected)[0]}"
        )
    if not REGISTRY.selected:
        pytest.skip("no scenario was selected: nothing to measure")


def _report(missing: list[Flow]) -> str:
    unfinished = sorted(REGISTRY.selected - REGISTRY.finished - REGISTRY.expected_to_fail)
    lines = [f"{f.id} ({f.source} -> {f.target}, in {f.scope})" for f in missing]
    if unfinished:
        lines.append(f"scenarios that did not finish: {', '.join(unfinished)}")
    return "flows no scenario took:\n  " + "\n  ".join(lines)


@pytest.mark.parametrize("process", sorted(shipped_flows()))
def test_every_flow_is_taken(process: str) -> None:
    _require_every_scenario()
    missing = REGISTRY.missing(process)
    assert not missing, _report(missing)


def test_the_registry_only_holds_real_flows() -> None:
    """Every recorded pair is a drawn flow, except two that are reached along no flow: a
    boundary event (reached when the activity it watches starts) and a multi-instance
    activity's instances (reached from the activity itself)."""
    _require_every_scenario()
    boundary = set()
    for path in BPMN_DIR.glob("*.bpmn"):
        tree = etree.parse(str(path))
        boundary |= {e.get("id") for e in tree.iter(f"{{{BPMN_NS}}}boundaryEvent")}
    for process, pairs in REGISTRY.taken.items():
        drawn = {(f.source, f.target) for f in shipped_flows()[process]}
        odd = sorted(
            (source, target)
            for source, target in pairs - drawn
            if target not in boundary and source != target
        )
        assert not odd, f"{process}: pairs that are no flow: {odd}"
