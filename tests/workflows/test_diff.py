"""版本对比: the diff between two versions' files names what a designer changed, and only that."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import DATA, REPO
from tests.workflows.simple_v2 import BPMN, REVIEW_FORM, replace_all, write_simple_v2
from workflows.diff import diff_versions, outline
from workflows.specs import read_directory

# A diagram for the simple process: shapes for its two user tasks and the flow between them.
DI = """<bpmndi:BPMNDiagram id="diagram">
    <bpmndi:BPMNPlane id="plane" bpmnElement="collab">
      <bpmndi:BPMNShape id="handle_di" bpmnElement="handle">
        <dc:Bounds x="100" y="80" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="review_di" bpmnElement="review">
        <dc:Bounds x="300" y="80" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f3_di" bpmnElement="f3">
        <di:waypoint x="200" y="120" /><di:waypoint x="300" y="120" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>"""
DI_NAMESPACES = (
    'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
    'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)


def _simple() -> dict[str, bytes]:
    return read_directory(DATA / "simple")


def _edit(files: dict[str, bytes], name: str, **changes: str) -> dict[str, bytes]:
    return _edit_map(files, name, dict(changes))


def _edit_map(files: dict[str, bytes], name: str, changes: dict[str, str]) -> dict[str, bytes]:
    out = dict(files)
    out[name] = replace_all(files[name].decode("utf-8"), changes).encode("utf-8")
    return out


def _with_diagram() -> dict[str, bytes]:
    return _edit_map(
        _simple(),
        BPMN,
        {
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"': DI_NAMESPACES,
            "</bpmn:definitions>": DI,
        },
    )


def _by_id(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in entries}


def test_version_two_lists_the_added_task_and_each_changed_element(tmp_path: Path) -> None:
    diff = diff_versions(_simple(), read_directory(write_simple_v2(tmp_path / "v2"))).as_dict()
    assert diff["files"] == {"added": [], "removed": [], "changed": [REVIEW_FORM, BPMN]}
    assert [(e["id"], e["tag"], e["name"]) for e in diff["added"]] == [
        ("double_check", "userTask", "复核 Double check"),
        ("f4b", "sequenceFlow", None),
    ]
    assert diff["removed"] == []
    changed = _by_id(diff["changed"])
    assert set(changed) == {"lane_leader", "review", "g_review", "f4", "f_rework"}
    assert changed["review"]["changes"] == {
        "@name": {"before": "审单 Review", "after": "审核 Check"}
    }
    assert changed["f_rework"]["changes"] == {
        "conditionExpression": {"before": "approved == False", "after": "approved != True"}
    }
    assert changed["f4"]["changes"] == {
        "@targetRef": {"before": "g_review", "after": "double_check"}
    }
    # references are one value: adding one is one change, not a shift of every position
    assert changed["lane_leader"]["changes"] == {
        "flowNodeRef": {"before": "review", "after": "review, double_check"}
    }
    [form] = diff["forms"]
    assert form["file"] == REVIEW_FORM and form["status"] == "changed"
    assert form["changes"]["properties.note.type"] == {"before": None, "after": '"string"'}
    assert diff["diagram"] == {"added": [], "removed": [], "changed": []}
    assert diff["layout_only"] is False


def test_the_reverse_diff_removes_what_the_forward_one_added(tmp_path: Path) -> None:
    v2 = read_directory(write_simple_v2(tmp_path / "v2"))
    back = diff_versions(v2, _simple()).as_dict()
    assert [e["id"] for e in back["removed"]] == ["double_check", "f4b"]
    assert back["added"] == []
    review = _by_id(back["changed"])["review"]
    assert review["changes"]["@name"] == {"before": "审核 Check", "after": "审单 Review"}


def test_identical_files_have_no_differences() -> None:
    diff = diff_versions(_simple(), _simple())
    assert not diff.model and not diff.diagram and diff.forms == []
    assert diff.files == {"added": [], "removed": [], "changed": []}
    assert diff.layout_only is False


def test_scripts_and_timer_expressions_land_on_their_elements() -> None:
    changed = diff_versions(
        _simple(),
        _edit_map(
            _simple(),
            BPMN,
            {
                "reminder_at</bpmn:timeDate>": "case_due_at</bpmn:timeDate>",
                'outcome = "closed"': 'outcome = "done"',
            },
        ),
    ).model.changed
    assert {e["id"]: e["changes"] for e in changed} == {
        "remind": {
            "timerEventDefinition/timeDate": {"before": "reminder_at", "after": "case_due_at"}
        },
        "mark_closed": {"script": {"before": 'outcome = "closed"', "after": 'outcome = "done"'}},
    }


def test_extension_properties_are_told_apart_by_name() -> None:
    old = '<spiffworkflow:property name="stage" value="review" />'
    new = '<spiffworkflow:property name="stage" value="supervise" />'
    [review] = diff_versions(_simple(), _edit_map(_simple(), BPMN, {old: new})).model.changed
    key = "extensionElements/spiffworkflow:properties/spiffworkflow:property[stage]/@value"
    assert review["id"] == "review"
    assert review["changes"] == {key: {"before": "review", "after": "supervise"}}


def test_moving_shapes_is_layout_only_and_reported_apart() -> None:
    with_di = _with_diagram()
    added = diff_versions(_simple(), with_di)
    assert [e["id"] for e in added.diagram.added] == ["diagram"]  # its shapes are inside it
    assert not added.model and added.layout_only
    moved = _edit(with_di, BPMN, **{'x="300" y="80"': 'x="320" y="90"'})
    diff = diff_versions(with_di, moved)
    assert not diff.model and diff.layout_only
    [shape] = diff.diagram.changed
    assert (shape["id"], shape["tag"], shape["parent"]) == ("review_di", "BPMNShape", "plane")
    assert shape["changes"] == {
        "Bounds/@x": {"before": "300", "after": "320"},
        "Bounds/@y": {"before": "80", "after": "90"},
    }
    renamed = _edit(moved, BPMN, **{'name="审单 Review"': 'name="审核 Check"'})
    both = diff_versions(with_di, renamed)
    assert not both.layout_only
    assert [e["id"] for e in both.model.changed] == ["review"]
    assert [e["id"] for e in both.diagram.changed] == ["review_di"]


def test_dmn_rule_changes_name_the_cell_and_whole_rules() -> None:
    old = read_directory(REPO / "bpmn")
    name = "mode_limits.dmn"
    text = old[name].decode("utf-8")
    start, end = (
        text.index('<rule id="mode_limits_rule_3">'),
        text.index('<rule id="mode_limits_rule_4">'),
    )
    rule_3 = text[start:end]
    cell = '<outputEntry id="mode_limits_r2_o2"><text>0</text></outputEntry>'
    new_rule = rule_3.replace("mode_limits_rule_3", "mode_limits_rule_new").replace(
        "mode_limits_r3_", "mode_limits_rn_"
    )
    changes = {
        cell: cell.replace("<text>0</text>", "<text>1</text>"),
        rule_3: new_rule,  # rule 3 goes, a new rule with the same cells comes
    }
    diff = diff_versions(old, _edit_map(old, name, changes))
    assert diff.files["changed"] == [name]
    [changed] = diff.model.changed
    assert (changed["id"], changed["tag"], changed["parent"]) == (
        "mode_limits_r2_o2",
        "outputEntry",
        "mode_limits_rule_2",
    )
    assert changed["changes"] == {"text": {"before": "0", "after": "1"}}
    # one entry per rule, not one per cell
    assert [(e["id"], e["tag"]) for e in diff.model.removed] == [("mode_limits_rule_3", "rule")]
    assert [(e["id"], e["tag"]) for e in diff.model.added] == [("mode_limits_rule_new", "rule")]
    assert not diff.diagram


def test_dmn_diagram_moves_are_layout_only() -> None:
    old = read_directory(REPO / "bpmn")
    name = "mode_limits.dmn"
    text = old[name].decode("utf-8")
    start = text.index("<dmndi:DMNShape")
    bounds = text[
        text.index("<dc:Bounds", start) : text.index("/>", text.index("<dc:Bounds", start))
    ]
    moved = bounds.replace('x="', 'x="1', 1)
    diff = diff_versions(old, _edit_map(old, name, {bounds: moved}))
    assert diff.layout_only and [e["tag"] for e in diff.diagram.changed] == ["DMNShape"]


def test_form_files_added_removed_and_changed() -> None:
    old = _simple()
    new = dict(old)
    del new["forms/handle.schema.json"]
    form = json.loads(old[REVIEW_FORM])
    form["required"] = ["approved", "reason"]
    new[REVIEW_FORM] = json.dumps(form).encode()
    new["forms/extra.schema.json"] = b'{"type": "object"}'
    diff = diff_versions(old, new)
    assert diff.files == {
        "added": ["forms/extra.schema.json"],
        "removed": ["forms/handle.schema.json"],
        "changed": [REVIEW_FORM],
    }
    forms = {f["file"]: f for f in diff.forms}
    assert forms["forms/extra.schema.json"]["status"] == "added"
    assert forms["forms/handle.schema.json"]["status"] == "removed"
    assert forms[REVIEW_FORM]["changes"] == {"required[1]": {"before": None, "after": '"reason"'}}
    assert not diff.model and not diff.layout_only


def test_hostile_xml_is_not_expanded_and_gets_no_element_detail() -> None:
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
        b"<bpmn:process id='p' name='&e;' /></bpmn:definitions>"
    )
    diff = diff_versions(_simple(), {**_simple(), BPMN: hostile})
    assert diff.files["changed"] == [BPMN]
    assert not diff.model and not diff.layout_only
    assert "root:" not in json.dumps(diff.as_dict())


def test_outline_names_processes_and_decisions_with_their_files() -> None:
    parts = outline(read_directory(REPO / "bpmn"))
    assert parts["processes"]["resident_request"] == "resident_request.bpmn"
    assert parts["decisions"]["mode_limits"] == "mode_limits.dmn"
    assert parts["decisions"]["triage"] == "triage.dmn"
    assert outline(_simple()) == {"processes": {"simple_request": BPMN}, "decisions": {}}
