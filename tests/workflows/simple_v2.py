"""A changed copy of tests/data/simple, written to a folder, for the version diff tests.

Version 2 renames the review task, rewrites the rework condition, inserts a user task
(double_check) between review and the gateway, and adds a field to the review form.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.helpers import DATA

BPMN = "simple_request.bpmn"
REVIEW_FORM = "forms/review.schema.json"
DOUBLE_CHECK = """<bpmn:userTask id="double_check" name="复核 Double check">
      <bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f4b</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f4b" sourceRef="double_check" targetRef="g_review" />
    <bpmn:exclusiveGateway id="g_review\""""
CHANGES = {
    'name="审单 Review"': 'name="审核 Check"',
    "approved == False": "approved != True",
    '<bpmn:sequenceFlow id="f4" sourceRef="review" targetRef="g_review" />': (
        '<bpmn:sequenceFlow id="f4" sourceRef="review" targetRef="double_check" />'
    ),
    "<bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f_approve</bpmn:outgoing>": (
        "<bpmn:incoming>f4b</bpmn:incoming><bpmn:outgoing>f_approve</bpmn:outgoing>"
    ),
    '<bpmn:exclusiveGateway id="g_review"': DOUBLE_CHECK,
    "<bpmn:flowNodeRef>review</bpmn:flowNodeRef>": (
        "<bpmn:flowNodeRef>review</bpmn:flowNodeRef>\n"
        "        <bpmn:flowNodeRef>double_check</bpmn:flowNodeRef>"
    ),
}


def replace_all(text: str, changes: dict[str, str]) -> str:
    for old, new in changes.items():
        assert text.count(old) == 1, old  # the fixture still says what the test expects
        text = text.replace(old, new)
    return text


def write_simple_v2(dest: Path) -> Path:
    """Copy tests/data/simple to ``dest`` and apply version 2's changes; returns ``dest``."""
    shutil.copytree(DATA / "simple", dest)
    bpmn = dest / BPMN
    bpmn.write_text(replace_all(bpmn.read_text("utf-8"), CHANGES), "utf-8")
    form_path = dest / REVIEW_FORM
    form = json.loads(form_path.read_text("utf-8"))
    form["properties"]["note"] = {"type": "string", "title": "备注"}
    form_path.write_text(json.dumps(form, ensure_ascii=False), "utf-8")
    return dest
