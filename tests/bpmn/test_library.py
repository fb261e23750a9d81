"""The shipped library as files: it validates at deploy, every diagram has a complete layout
(DI) so it opens cleanly in bpmn.io or Camunda Modeler, and the conventions of bpmn/README.md
hold (lanes are roles, every user task has a form and a stage, end events are named so).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from app.orgs.models import ROLES
from app.processes.service import deploy_directory
from tests.bpmn.scenario import BPMN_DIR, bundles
from workflows.specs import read_directory

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
FLOW_NODES = (
    "task",
    "userTask",
    "scriptTask",
    "serviceTask",
    "businessRuleTask",
    "manualTask",
    "sendTask",
    "receiveTask",
    "callActivity",
    "subProcess",
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
    "complexGateway",
)
BPMN_FILES = sorted(BPMN_DIR.glob("*.bpmn"))
PROCESSES = {"resident_request", "wish_wall", "deliberation", "mediation"}


def _ids(root: etree._Element, *tags: str) -> set[str]:
    return {e.get("id") for tag in tags for e in root.iter(f"{{{NS['bpmn']}}}{tag}")}


def test_every_shipped_file_validates_at_deploy() -> None:
    """The loader (``load_directory`` with the app's roles) accepts all four processes, and
    every BPMN, DMN and form file shipped belongs to one of them: nothing escapes it."""
    loaded = bundles()
    assert {b.key for b in loaded} == PROCESSES
    shipped = set(read_directory(BPMN_DIR))
    used = set().union(*(b.files for b in loaded))
    assert shipped == used, f"shipped but in no bundle: {sorted(shipped - used)}"
    assert all(set(ROLES) >= {t.lane for t in _user_task_specs(b)} for b in loaded)


def test_the_library_deploys_once_per_content(app: object) -> None:
    """Deploying through the app creates one version of each process; deploying the same
    files again is a no-op."""
    first = deploy_directory(BPMN_DIR, actor="designer")
    assert sorted((v.definition.key, v.version, created) for v, created in first) == [
        (key, 1, True) for key in sorted(PROCESSES)
    ]
    again = deploy_directory(BPMN_DIR, actor="designer")
    assert [created for _, created in again] == [False] * 4


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.stem)
def test_every_diagram_has_layout_for_every_element(path: Path) -> None:
    root = etree.parse(str(path)).getroot()
    shapes = [s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNShape", NS)]
    edges = [e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", NS)]
    assert len(shapes) == len(set(shapes)), "an element has two shapes"
    assert len(edges) == len(set(edges)), "a flow has two edges"
    nodes = _ids(root, *FLOW_NODES)
    lanes = _ids(root, "lane")
    participants = _ids(root, "participant")
    flows = _ids(root, "sequenceFlow")
    assert nodes and lanes and participants and flows
    assert sorted(nodes - set(shapes)) == [], "flow nodes without a shape"
    assert sorted(lanes - set(shapes)) == [], "lanes without a shape"
    assert sorted(participants - set(shapes)) == [], "participants without a shape"
    assert sorted(flows - set(edges)) == [], "sequence flows without an edge"
    assert sorted(set(shapes) - nodes - lanes - participants) == [], "shapes of nothing"
    assert sorted(set(edges) - flows) == [], "edges of nothing"
    # one diagram, its plane on the collaboration; every shape sized, every edge routed
    (plane,) = root.iterfind(".//bpmndi:BPMNPlane", NS)
    assert plane.get("bpmnElement") in _ids(root, "collaboration")
    for shape in root.iterfind(".//bpmndi:BPMNShape", NS):
        bounds = shape.find("dc:Bounds", NS)
        assert bounds is not None, shape.get("bpmnElement")
        assert float(bounds.get("width")) > 0 and float(bounds.get("height")) > 0
    for edge in root.iterfind(".//bpmndi:BPMNEdge", NS):
        assert len(edge.findall("di:waypoint", NS)) >= 2, edge.get("bpmnElement")
    # embedded subprocesses are drawn expanded, with their content inside
    for sub in _ids(root, "subProcess"):
        (shape,) = root.iterfind(f".//bpmndi:BPMNShape[@bpmnElement='{sub}']", NS)
        assert shape.get("isExpanded") == "true", sub


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.stem)
def test_the_library_follows_its_conventions(path: Path) -> None:
    """bpmn/README.md: a user task sits in the lane of its role and names an existing form
    and a stage; terminal end events (top level only) start with ``end_``, inner and
    side-branch ones with ``done_``; a script sets ``outcome`` before each terminal one."""
    root = etree.parse(str(path)).getroot()
    (process,) = root.iterfind("bpmn:process", NS)
    lane_of = {
        ref.text: lane.get("name")
        for lane in process.iter(f"{{{NS['bpmn']}}}lane")
        for ref in lane.iterfind("bpmn:flowNodeRef", NS)
    }
    forms = {p.name for p in (BPMN_DIR / "forms").glob("*.schema.json")}
    for task in process.iter(f"{{{NS['bpmn']}}}userTask"):
        tid = task.get("id")
        props = {
            p.get("name"): p.get("value") for p in task.iterfind(".//spiffworkflow:property", NS)
        }
        assert lane_of.get(tid) in ROLES, tid
        assert props.get("formJsonSchemaFilename") in forms, tid
        schema = json.loads((BPMN_DIR / "forms" / props["formJsonSchemaFilename"]).read_text())
        assert schema.get("additionalProperties") is False, tid
        assert props.get("stage") in {"accept", "dispatch", "supervise", "review", "revisit"}
        assert props.get("orgLevel") in {None, "grid", "community", "street", "department"}
    ends = _ids(process, "endEvent")
    top_ends = {e for e in ends if e.startswith("end_")}
    assert all(e.startswith(("end_", "done_")) for e in ends), ends
    assert top_ends, "no terminal end event"
    assert top_ends <= {e.get("id") for e in process.iterfind("bpmn:endEvent", NS)}, (
        "an end_ event inside a subprocess"
    )
    scripts = {s.get("id"): s for s in process.iter(f"{{{NS['bpmn']}}}scriptTask")}
    for flow in process.iter(f"{{{NS['bpmn']}}}sequenceFlow"):
        if flow.get("targetRef") in top_ends:
            script = scripts.get(flow.get("sourceRef"))
            assert script is not None, f"{flow.get('targetRef')} is not reached from a script"
            assert "outcome = " in script.findtext("bpmn:script", "", NS), script.get("id")


def _user_task_specs(bundle: object) -> list[object]:
    specs = [bundle.spec, *bundle.subprocess_specs.values()]  # type: ignore[attr-defined]
    return [t for s in specs for t in s.task_specs.values() if getattr(t, "manual", False)]
