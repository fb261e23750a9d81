"""Deploy-time validation: every problem is refused clearly and pinned to its element."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflows.errors import SpecValidationError
from workflows.specs import load_bundle, read_directory

SIMPLE = Path(__file__).parent.parent / "data" / "simple"
ROLES = {"grid_worker", "community_leader"}


def _files(**replace: str) -> dict[str, bytes]:
    files = read_directory(SIMPLE)
    text = files["simple_request.bpmn"].decode()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    files["simple_request.bpmn"] = text.encode()
    return files


def _errors(files: dict[str, bytes]) -> list[tuple[str | None, str]]:
    with pytest.raises(SpecValidationError) as info:
        load_bundle(files, roles=ROLES)
    return [(e.element, e.message) for e in info.value.errors]


def test_the_valid_bundle_loads_with_only_what_it_needs() -> None:
    files = read_directory(SIMPLE)
    files["unrelated.json"] = b"{}"
    bundle = load_bundle(files, roles=ROLES)
    assert bundle.key == "simple_request"
    assert sorted(bundle.files) == [
        "forms/handle.schema.json",
        "forms/review.schema.json",
        "simple_request.bpmn",
    ]
    assert bundle.content_hash == load_bundle(read_directory(SIMPLE), roles=ROLES).content_hash


@pytest.mark.parametrize(
    ("script", "needle"),
    [
        ("import os", "import"),
        ("x = ().__class__.__base__.__subclasses__()", "invalid attribute name"),
        ("x = __import__('os')", "__import__"),
        ("x = = 1", "SyntaxError"),
    ],
)
def test_hostile_or_broken_scripts_are_refused_at_deploy(script: str, needle: str) -> None:
    errors = _errors(_files(**{'outcome = "closed"': script}))
    assert {e for e, _ in errors} == {"mark_closed"}
    assert needle.lower() in errors[0][1].lower()


def test_unquoted_timer_duration_is_refused_naming_the_event() -> None:
    errors = _errors(_files(**{">reminder_at<": ">PT2H<"}))
    assert errors == [("remind", "timer expression 'PT2H' must be a quoted string, e.g. \"PT2H\"")]


def test_unknown_lane_is_refused() -> None:
    errors = _errors(_files(**{'name="community_leader"': 'name="chief_of_everything"'}))
    assert errors == [("review", "unknown lane 'chief_of_everything': not a role")]


def test_missing_decision_and_form_are_refused() -> None:
    files = _files(
        **{
            '<bpmn:scriptTask id="mark_closed" name="Mark closed">': (
                '<bpmn:businessRuleTask id="mark_closed" name="Decide"><bpmn:extensionElements>'
                "<spiffworkflow:calledDecisionId>nowhere</spiffworkflow:calledDecisionId>"
                "</bpmn:extensionElements>"
            ),
            '<bpmn:script>outcome = "closed"</bpmn:script>\n    </bpmn:scriptTask>': (
                "</bpmn:businessRuleTask>"
            ),
            'value="review.schema.json"': 'value="missing.schema.json"',
        }
    )
    errors = _errors(files)
    assert ("mark_closed", "decision 'nowhere' is not in any DMN file") in errors
    assert ("review", "form file 'missing.schema.json' is missing") in errors


def test_gateway_condition_is_compiled_in_the_sandbox() -> None:
    errors = _errors(_files(**{"approved == False": "approved.__class__ == bool"}))
    assert [e for e, _ in errors] == ["g_review"]


@pytest.mark.parametrize(
    "content",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><x>&b;</x>',
        b"<not-closed>",
        b"x" * (3 * 1024 * 1024),
    ],
    ids=["external-entity", "entity-expansion", "malformed", "too-large"],
)
def test_hostile_xml_is_refused_before_the_engine_sees_it(content: bytes) -> None:
    with pytest.raises(SpecValidationError) as info:
        load_bundle({"evil.bpmn": content})
    assert info.value.errors[0].file == "evil.bpmn"


def test_non_executable_process_is_refused() -> None:
    errors = _errors(_files(**{'isExecutable="true"': 'isExecutable="false"'}))
    assert errors == [(None, "expected exactly one executable process, found: none")]


def test_engine_errors_become_spec_errors_not_crashes() -> None:
    # a task with two outgoing flows: the engine refuses it (draw a parallel gateway)
    files = _files(
        **{
            "<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>": (
                "<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>"
                "<bpmn:outgoing>f_extra</bpmn:outgoing>"
            ),
            '<bpmn:sequenceFlow id="f4"': (
                '<bpmn:sequenceFlow id="f_extra" sourceRef="review" targetRef="end_closed" />'
                '<bpmn:sequenceFlow id="f4"'
            ),
        }
    )
    with pytest.raises(SpecValidationError) as info:
        load_bundle(files, roles=ROLES)
    assert info.value.errors


def test_inclusive_join_on_a_loop_is_refused_naming_the_gateway() -> None:
    """Compaction cannot keep this shape correct (the engine checks the first pass's join)."""
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
  <bpmn:process id="loopy" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="init"><bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:script>n = 0</bpmn:script></bpmn:scriptTask>
    <bpmn:inclusiveGateway id="split">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>f_again</bpmn:incoming>
      <bpmn:outgoing>fa</bpmn:outgoing><bpmn:outgoing>fb</bpmn:outgoing></bpmn:inclusiveGateway>
    <bpmn:scriptTask id="a"><bpmn:incoming>fa</bpmn:incoming><bpmn:outgoing>fa2</bpmn:outgoing>
      <bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="b"><bpmn:incoming>fb</bpmn:incoming><bpmn:outgoing>fb2</bpmn:outgoing>
      <bpmn:script>y = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:inclusiveGateway id="join">
      <bpmn:incoming>fa2</bpmn:incoming><bpmn:incoming>fb2</bpmn:incoming>
      <bpmn:outgoing>fj</bpmn:outgoing></bpmn:inclusiveGateway>
    <bpmn:scriptTask id="bump"><bpmn:incoming>fj</bpmn:incoming><bpmn:outgoing>fk</bpmn:outgoing>
      <bpmn:script>n = n + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="g" default="f_done"><bpmn:incoming>fk</bpmn:incoming>
      <bpmn:outgoing>f_again</bpmn:outgoing><bpmn:outgoing>f_done</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f_done</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="init" />
    <bpmn:sequenceFlow id="f1" sourceRef="init" targetRef="split" />
    <bpmn:sequenceFlow id="fa" sourceRef="split" targetRef="a">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">True</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="fb" sourceRef="split" targetRef="b">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">True</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="fa2" sourceRef="a" targetRef="join" />
    <bpmn:sequenceFlow id="fb2" sourceRef="b" targetRef="join" />
    <bpmn:sequenceFlow id="fj" sourceRef="join" targetRef="bump" />
    <bpmn:sequenceFlow id="fk" sourceRef="bump" targetRef="g" />
    <bpmn:sequenceFlow id="f_again" sourceRef="g" targetRef="split">
      <bpmn:conditionExpression>n &lt; 3</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_done" sourceRef="g" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""
    with pytest.raises(SpecValidationError) as info:
        load_bundle({"loopy.bpmn": xml.encode()})
    # both gateways have two incoming flows on the cycle: each is a join the engine mis-checks
    assert [e.element for e in info.value.errors] == ["split", "join"]
    assert all("inclusive gateway" in e.message for e in info.value.errors)
