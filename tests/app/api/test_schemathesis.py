"""Fuzz every route of the served OpenAPI document with schemathesis (issue #5).

The schema is loaded from the app itself (``GET /api/v1/openapi.json``), so a route another
change adds is fuzzed without touching this file. Each operation gets a bounded number of
derandomized examples, valid (positive) and invalid (negative) ones, sent as the admin (the
broadest rights) and, valid ones only, as a plain grid worker. Every response must be no 5xx,
carry a documented status code and content type, and match its documented schema. Path
parameters are drawn from real rows half of the time (the demo org, the shipped processes,
open cases, their tasks, an attachment) so the handlers run past their 404s.

Reads go first and closing a case (``/withdraw``) last, so the writes in between meet open
cases. The login route counts failures and blocks a username or address for a growing time:
the block is a database row, not a sleep, and the clock is frozen, so fuzzing it costs one
argon2 verify per attempt and never waits. ``DELETE /auth/token`` revokes the token it is sent
with, so it gets a fresh token per example.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.auth.service import issue_token
from app.core.models import Case, CaseAttachment, HumanTask, ProcessVersion
from app.extensions import db
from app.orgs.calendar_models import Calendar
from app.orgs.models import OrgUnit, User
from app.processes.service import deploy_directory
from tests.app.api.support import as_user, intake_body, open_case
from tests.helpers import REPO

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
# Examples per operation and mode: 57 operations x 2 users x 2 databases take ~1 min of CPU.
EXAMPLES = {"admin": {POSITIVE: 8, NEGATIVE: 5}, "grid1": {POSITIVE: 4}}
ROLES = {"admin": "admin", "grid1": "grid_worker"}
REVOKE = ("DELETE", "/api/v1/auth/token")
CLOSING = ("/withdraw",)  # fuzzed last: they close the cases the other writes need open
# A 1x1 PNG: an attachment to download.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kg"
    "AAAABJRU5ErkJggg=="
)


@dataclass
class Fuzz:
    """What one run needs: the loaded schema, real path values, bodies that pass validation,
    and a token per request; it records each answer's status and every failure."""

    schema: Any
    real: dict[str, list[Any]]
    bodies: dict[tuple[str, str], dict[str, Any]]
    token: Callable[[str], str]
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def _real_values() -> dict[str, list[Any]]:
    """Values of path parameters that hit rows, by parameter name."""
    db.session.rollback()  # a fresh snapshot
    cases = list(db.session.scalars(db.select(Case).order_by(Case.id)))
    versions = list(db.session.scalars(db.select(ProcessVersion).order_by(ProcessVersion.id)))
    return {
        "case_id": [c.id for c in cases],
        "task_id": list(db.session.scalars(db.select(HumanTask.id).order_by(HumanTask.id))),
        "attachment_id": list(db.session.scalars(db.select(CaseAttachment.id))),
        "tracking_code": [c.tracking_code for c in cases],
        "key": sorted({v.definition.key for v in versions}),
        "version": sorted({v.version for v in versions}),
        "other": sorted({v.version for v in versions}),
        "code": sorted(db.session.scalars(db.select(OrgUnit.code)))[:4],
        "name": list(db.session.scalars(db.select(Calendar.name))),
        "year": [2025, 2026],
        "username": ["grid2", "dept_city"],  # never the fuzzing users: they keep their rights
    }


@pytest.fixture
def fuzz(app: Flask, org: dict, clock: Any) -> Iterator[Fuzz]:
    deploy_directory(REPO / "bpmn", actor="test")
    admin = as_user(app.test_client(), "admin")
    cases = [open_case(admin, title=title) for title in ("路灯不亮", "楼道堆物", "噪音扰民")]
    admin.post(
        f"/api/v1/cases/{cases[0]['id']}/attachments",
        data={"file": (io.BytesIO(PNG), "photo.png")},
        content_type="multipart/form-data",
    )
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)

    def token(username: str) -> str:
        user = db.session.scalar(db.select(User).where(User.username == username))
        assert user is not None
        return issue_token(user.id)[0]

    bodies = {("POST", "/api/v1/cases"): intake_body()}
    yield Fuzz(schema=schema, real=_real_values(), bodies=bodies, token=token)


def _strategy(fuzz: Fuzz, operation: Any, mode: GenerationMode) -> Any:
    """Generated cases; valid ones also with real path values, or with a known good body."""
    generated = operation.as_strategy(generation_mode=mode)
    if mode is NEGATIVE:
        return generated
    known = [p.name for p in operation.path_parameters if fuzz.real.get(p.name)]
    width = max((len(fuzz.real[n]) for n in known), default=0)
    hits = [
        operation.as_strategy(
            generation_mode=mode,
            path_parameters={n: fuzz.real[n][i % len(fuzz.real[n])] for n in known},
        )
        for i in range(width)
    ]
    body = fuzz.bodies.get((operation.method.upper(), operation.path))
    if body is not None:
        hits.append(operation.as_strategy(generation_mode=mode, body=body))
    return st.one_of(generated, *hits)


def _fuzz_one(
    fuzz: Fuzz, operation: Any, mode: GenerationMode, examples: int, token: Callable[[], str]
) -> None:
    """Up to ``examples`` requests to one operation; raises on the first failure."""

    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is enough
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(fuzz, operation, mode))
    def one(case: Any) -> None:
        headers = {"Authorization": f"Bearer {token()}"}
        # buffered: the test client closes file downloads (else: an unclosed-file warning)
        response = case.call_and_validate(headers=headers, checks=CHECKS, buffered=True)
        fuzz.statuses[(operation.label, response.status_code)] += 1

    one()


def _order(operation: Any) -> tuple[bool, bool]:
    return operation.method.upper() != "GET", operation.path.endswith(CLOSING)


def _run(fuzz: Fuzz, username: str) -> str:
    """Every operation, every mode; failures are collected so one run reports them all.
    Returns the token most requests carried."""
    shared = fuzz.token(username)
    operations = sorted((r.ok() for r in fuzz.schema.get_all_operations()), key=_order)
    for operation in operations:
        if (operation.method.upper(), operation.path) == REVOKE:

            def token() -> str:
                return fuzz.token(username)
        else:

            def token() -> str:
                return shared

        for mode, examples in EXAMPLES[username].items():
            try:
                _fuzz_one(fuzz, operation, mode, examples, token)
            except Unsatisfiable:
                pass  # no invalid request exists (e.g. no parameters): nothing to send
            except (Exception, FailureGroup) as exc:
                fuzz.failures.append(f"{operation.label} [{mode.value}]: {exc}")
    return shared


@pytest.mark.parametrize("username", sorted(EXAMPLES))
def test_every_route_conforms_to_the_openapi_document(
    app: Flask, fuzz: Fuzz, username: str
) -> None:
    token = _run(fuzz, username)
    assert not fuzz.failures, "\n\n".join(fuzz.failures)
    # The user kept their token and rights to the end, so no request was refused for that.
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.get_json()["roles"] == [ROLES[username]]
    if username == "admin":
        # The fuzz reached the handlers: every read the admin can aim at real rows succeeded.
        reached = {label for (label, status), _ in fuzz.statuses.items() if status < 300}
        for result in fuzz.schema.get_all_operations():
            operation = result.ok()
            aimed = all(fuzz.real.get(p.name) for p in operation.path_parameters)
            if operation.method.upper() == "GET" and aimed:
                assert operation.label in reached, (operation.label, fuzz.statuses)
