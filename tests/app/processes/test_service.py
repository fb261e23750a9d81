"""Deploying: identical content is a no-op, changed content a new version, cases keep theirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import uow
from app.core.models import ProcessVersion
from app.extensions import db
from app.processes.service import deploy, latest_version, validate
from tests.helpers import DATA, only_task, open_simple_case
from workflows.specs import read_directory


def _deploy(files: dict[str, bytes]) -> tuple[ProcessVersion, bool]:
    return deploy(bundle=validate(files), actor="designer")


def _changed(text_from: str, text_to: str) -> dict[str, bytes]:
    files = read_directory(DATA / "simple")
    files["simple_request.bpmn"] = files["simple_request.bpmn"].replace(
        text_from.encode(), text_to.encode()
    )
    return files


def test_identical_content_is_a_no_op_and_changes_make_versions(org: dict, clock) -> None:
    files = read_directory(DATA / "simple")
    v1, created1 = _deploy(files)
    again, created_again = _deploy(files)
    assert (v1.version, created1) == (1, True)
    assert (again.id, created_again) == (v1.id, False)
    v2, created2 = _deploy(_changed('outcome = "closed"', 'outcome = "closed"\nreviewed = True'))
    assert (v2.version, created2) == (2, True)
    assert latest_version("simple_request").id == v2.id
    assert db.session.scalar(db.select(db.func.count()).select_from(ProcessVersion)) == 2


def test_running_cases_stay_on_their_version(org: dict, clock) -> None:
    _deploy(read_directory(DATA / "simple"))
    old_case = open_simple_case()
    # version 2 renames the review task; the old case must still run version 1's review
    _deploy(_changed('name="审单 Review"', 'name="审核 Check"'))
    new_case = open_simple_case()
    assert old_case.instance.version.version == 1
    assert new_case.instance.version.version == 2
    uow.complete_task(task_id=only_task(old_case).id, data={"result": "ok"}, actor="grid1")
    uow.complete_task(task_id=only_task(new_case).id, data={"result": "ok"}, actor="grid1")
    assert only_task(old_case).name == "审单 Review"
    assert only_task(new_case).name == "审核 Check"


def test_a_deployed_version_keeps_its_spec_when_the_files_change_on_disk(
    org: dict, clock, tmp_path: Path
) -> None:
    version, _ = _deploy(read_directory(DATA / "simple"))
    stored = version.files["simple_request.bpmn"]
    assert "审单 Review" in stored
    assert uow.version_spec(version)[0].name == "simple_request"


def test_invalid_bundle_writes_nothing(org: dict) -> None:
    from workflows.errors import SpecValidationError

    with pytest.raises(SpecValidationError):
        _deploy(_changed(">reminder_at<", ">PT2H<"))
    assert db.session.scalar(db.select(db.func.count()).select_from(ProcessVersion)) == 0
