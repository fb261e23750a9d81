"""Every /api/v1 route × every role × a case in the caller's own unit or in another street.

The demo street (S-01) gets a second street beside it (S-02, grid G-21, its own grid worker
and dispatcher), so that "another org unit" is foreign even to the first street's dispatcher.
For each route the test builds a real request against fresh cases (one in G-01, one in
G-21), sends it as each user and compares the status with :data:`EXPECTED`: the reviewed
access table, one string per route and scope, a letter per user in :data:`USERS` order:

    ``A`` allowed (2xx)   ``C`` allowed, refused by the case's state (409)
    ``F`` forbidden (403) ``N`` not visible (404)

Independently of the table, three rules must hold: nobody without a role covering G-21 (or
admin/auditor) gets a 2xx on a request aimed at the G-21 case; an auditor never writes; a
refused write (403/404) writes no audit event. A route missing from the table fails the test:
a new route is classified here when it is added.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from app.core.models import HumanTask
from app.database import write_transaction
from app.extensions import db
from app.orgs.demo import DEMO_USERS
from app.orgs.models import OrgUnit
from app.orgs.service import create_unit, reset_caches
from tests.app.api.support import Caller, add_user, as_user, event_count, prepare
from tests.helpers import INTAKE, open_simple_case

USERS = [u[0] for u in DEMO_USERS] + ["grid21", "street2"]
LETTER = {200: "A", 201: "A", 204: "A", 409: "C", 403: "F", 404: "N"}
SAFE = {"GET"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class World:
    """The ids a request needs, for the case in G-01 (own) and the one in G-21 (other)."""

    case: dict[str, int]
    task: dict[str, str]
    tracking: dict[str, str]
    attachment: dict[str, int]
    code: dict[str, str]


def _second_street() -> None:
    with write_transaction() as session:
        district = session.scalar(db.select(OrgUnit).where(OrgUnit.code == "D-01"))
        street = create_unit(code="S-02", name="第二街道", kind="street", parent=district)
        community = create_unit(code="C-21", name="第21社区", kind="community", parent=street)
        create_unit(code="G-21", name="第21网格", kind="grid", parent=community)
    reset_caches()
    add_user("grid21", "grid_worker", "G-21")
    add_user("street2", "street_dispatcher", "S-02", include_below=True)


def _world(client: Any, *, attach: bool = False) -> World:
    cases = {"own": open_simple_case(), "other": open_simple_case(org_unit="G-21")}
    admin = as_user(client, "admin")
    attachment = {}
    for scope, case in cases.items() if attach else ():
        upload = {"file": (io.BytesIO(PNG), "photo.png")}
        response = admin.post(f"/api/v1/cases/{case.id}/attachments", data=upload)
        assert response.status_code == 201, response.get_json()
        attachment[scope] = response.get_json()["id"]
    db.session.rollback()
    task = {
        scope: db.session.scalar(
            db.select(HumanTask.id).where(HumanTask.case_id == c.id, HumanTask.status == "open")
        )
        for scope, c in cases.items()
    }
    return World(
        case={s: c.id for s, c in cases.items()},
        task=task,
        tracking={s: c.tracking_code for s, c in cases.items()},
        attachment=attachment,
        code={s: c.code for s, c in cases.items()},
    )


Request = tuple[str, str, dict[str, Any]]
Build = Callable[[World, str], Request]


def _case(path: str, method: str = "GET", **kwargs: Any) -> Build:
    return lambda w, s: (method, f"/api/v1/cases/{w.case[s]}{path}", kwargs)


def _task(path: str, method: str = "POST", **kwargs: Any) -> Build:
    return lambda w, s: (method, f"/api/v1/tasks/{w.task[s]}{path}", kwargs)


def _plain(method: str, url: str, **kwargs: Any) -> Build:
    return lambda w, s: (method, url, kwargs)


def _unit_stats(w: World, s: str) -> Request:
    return "GET", f"/api/v1/stats?org_unit={'G-01' if s == 'own' else 'G-21'}", {}


def _unit_digests(w: World, s: str) -> Request:
    unit = "G-01" if s == "own" else "G-21"
    return "GET", f"/api/v1/sla/digests?day=2025-03-02&org_unit={unit}", {}


# rule, method -> how to call it, and whether it is aimed at one case (own/other) or not
ROUTES: dict[tuple[str, str], tuple[Build, bool]] = {
    ("/api/v1/me", "GET"): (_plain("GET", "/api/v1/me"), False),
    ("/api/v1/cases", "GET"): (_plain("GET", "/api/v1/cases"), False),
    ("/api/v1/cases", "POST"): (
        lambda w, s: (
            "POST",
            "/api/v1/cases",
            {"json": {**INTAKE, "org_unit": "G-01" if s == "own" else "G-21"}},
        ),
        True,
    ),
    ("/api/v1/cases/<int:case_id>", "GET"): (_case(""), True),
    ("/api/v1/cases/<int:case_id>/events", "GET"): (_case("/events"), True),
    ("/api/v1/cases/<int:case_id>/events/verify", "GET"): (_case("/events/verify"), True),
    ("/api/v1/cases/<int:case_id>/sla", "GET"): (_case("/sla"), True),
    ("/api/v1/cases/<int:case_id>/comments", "GET"): (_case("/comments"), True),
    ("/api/v1/cases/<int:case_id>/comments", "POST"): (
        _case("/comments", "POST", json={"body": "已电话联系居民"}),
        True,
    ),
    ("/api/v1/cases/<int:case_id>/attachments", "GET"): (_case("/attachments"), True),
    ("/api/v1/cases/<int:case_id>/attachments", "POST"): (
        lambda w, s: (
            "POST",
            f"/api/v1/cases/{w.case[s]}/attachments",
            {"data": {"file": (io.BytesIO(PNG + s.encode()), "scene.png")}},
        ),
        True,
    ),
    ("/api/v1/cases/<int:case_id>/attachments/<int:attachment_id>", "GET"): (
        lambda w, s: ("GET", f"/api/v1/cases/{w.case[s]}/attachments/{w.attachment[s]}", {}),
        True,
    ),
    ("/api/v1/cases/<int:case_id>/withdraw", "POST"): (
        _case("/withdraw", "POST", json={"reason": "居民已自行解决"}),
        True,
    ),
    ("/api/v1/cases/<int:case_id>/suspend", "POST"): (
        _case("/suspend", "POST", json={"reason": "等待居民补充材料"}),
        True,
    ),
    ("/api/v1/cases/<int:case_id>/resume", "POST"): (
        _case("/resume", "POST", json={"reason": "材料已补齐"}),
        True,
    ),
    ("/api/v1/cases/<int:case_id>/extend", "POST"): (
        _case("/extend", "POST", json={"reason": "需要协调部门", "working_days": 1}),
        True,
    ),
    ("/api/v1/tasks", "GET"): (_plain("GET", "/api/v1/tasks?scope=all"), False),
    ("/api/v1/tasks/<task_id>", "GET"): (_task("", "GET"), True),
    ("/api/v1/tasks/<task_id>/claim", "POST"): (_task("/claim"), True),
    ("/api/v1/tasks/<task_id>/unclaim", "POST"): (_task("/unclaim"), True),
    ("/api/v1/tasks/<task_id>/assign", "POST"): (
        lambda w, s: (
            "POST",
            f"/api/v1/tasks/{w.task[s]}/assign",
            {"json": {"username": "grid1" if s == "own" else "grid21"}},
        ),
        True,
    ),
    ("/api/v1/tasks/<task_id>/delegate", "POST"): (
        _task("/delegate", json={"username": "grid2"}),
        True,
    ),
    ("/api/v1/tasks/<task_id>/resolve", "POST"): (_task("/resolve", json={}), True),
    ("/api/v1/tasks/<task_id>/complete", "POST"): (
        _task("/complete", json={"data": {"result": "已修复路灯"}}),
        True,
    ),
    ("/api/v1/tasks/bulk", "POST"): (
        lambda w, s: (
            "POST",
            "/api/v1/tasks/bulk",
            {"json": {"action": "claim", "ids": [w.task[s]]}},
        ),
        True,
    ),
    ("/api/v1/track/<tracking_code>", "GET"): (
        lambda w, s: ("GET", f"/api/v1/track/{w.tracking[s]}", {}),
        True,
    ),
    ("/api/v1/track/<tracking_code>/rating", "POST"): (
        lambda w, s: (
            "POST",
            f"/api/v1/track/{w.tracking[s]}/rating",
            {"json": {"satisfaction": "satisfied", "comment": "很满意"}},
        ),
        True,
    ),
    ("/api/v1/stats", "GET"): (_unit_stats, True),
    ("/api/v1/sla/digests", "GET"): (_unit_digests, True),
    ("/api/v1/sla/incidents", "GET"): (_plain("GET", "/api/v1/sla/incidents"), False),
    ("/api/v1/sla/incidents/<timer_id>/retry", "POST"): (
        _plain("POST", "/api/v1/sla/incidents/no-such-timer/retry"),
        False,
    ),
    ("/api/v1/export/events.csv", "GET"): (_plain("GET", "/api/v1/export/events.csv"), False),
    ("/api/v1/export/cases.xes", "GET"): (_plain("GET", "/api/v1/export/cases.xes"), False),
    ("/api/v1/processes", "GET"): (_plain("GET", "/api/v1/processes"), False),
    ("/api/v1/processes/<key>/versions/<int:version>", "GET"): (
        _plain("GET", "/api/v1/processes/simple_request/versions/1"),
        False,
    ),
    ("/api/v1/processes/<key>/versions/<int:version>/bpmn", "GET"): (
        _plain("GET", "/api/v1/processes/simple_request/versions/1/bpmn"),
        False,
    ),
    ("/api/v1/processes/<key>/versions/<int:version>/diff/<int:other>", "GET"): (
        _plain("GET", "/api/v1/processes/simple_request/versions/1/diff/1"),
        False,
    ),
    ("/api/v1/calendars", "GET"): (_plain("GET", "/api/v1/calendars"), False),
    ("/api/v1/org-units", "GET"): (_plain("GET", "/api/v1/org-units"), False),
    ("/api/v1/org-units/<code>", "GET"): (_plain("GET", "/api/v1/org-units/G-01"), False),
    ("/api/v1/users", "GET"): (_plain("GET", "/api/v1/users"), False),
    ("/api/v1/users/<username>", "GET"): (_plain("GET", "/api/v1/users/grid1"), False),
    ("/api/v1/admin/events", "GET"): (_plain("GET", "/api/v1/admin/events"), False),
    ("/api/v1/admin/events/verify", "GET"): (_plain("GET", "/api/v1/admin/events/verify"), False),
}

# Routes whose every user's answer is fixed elsewhere: auth (tests/app/auth), designers'
# uploads (tests/app/processes), and admin writes (tests/app/admin, tests/app/sla), each with
# its own role tests; the rule "auditors never write" is still checked for them below.
ELSEWHERE = {
    ("/api/v1/auth/token", "POST"),
    ("/api/v1/auth/token", "DELETE"),
    ("/api/v1/processes", "POST"),
    ("/api/v1/processes/validate", "POST"),
    ("/api/v1/calendars", "POST"),
    ("/api/v1/calendars/<name>/years/<int:year>", "POST"),
    ("/api/v1/calendars/units/<code>", "PUT"),
    ("/api/v1/org-units", "POST"),
    ("/api/v1/org-units/<code>", "PATCH"),
    ("/api/v1/users", "POST"),
    ("/api/v1/users/<username>", "PATCH"),
    ("/api/v1/users/<username>/roles", "PUT"),
    ("/api/v1/openapi.json", "GET"),
}

EXPECTED: dict[tuple[str, str, str], str] = {
    # users:  grid1 grid2 building1 staff1 leader1 dispatcher dept_city dept_housing supervisor
    #         volunteer1 auditor designer admin | grid21 street2 (the second street)
    ("/api/v1/admin/events", "GET", "any"): "FFFFFFFFFFAFAFF",
    ("/api/v1/admin/events/verify", "GET", "any"): "FFFFFFFFFFAFAFF",
    ("/api/v1/calendars", "GET", "any"): "AAAAAAAAAAAAAAA",
    ("/api/v1/cases", "GET", "any"): "AAAAAAAAAAAAAAA",
    ("/api/v1/cases", "POST", "other"): "FFFFFFFFFFFFAAA",
    ("/api/v1/cases", "POST", "own"): "AFAAAAFFFFFFAFF",
    ("/api/v1/cases/<int:case_id>", "GET", "other"): "NNNNNNNNNNANAAA",
    ("/api/v1/cases/<int:case_id>", "GET", "own"): "ANAAAANNANANANN",
    ("/api/v1/cases/<int:case_id>/attachments", "GET", "other"): "NNNNNNNNNNANAAA",
    ("/api/v1/cases/<int:case_id>/attachments", "GET", "own"): "ANAAAANNANANANN",
    ("/api/v1/cases/<int:case_id>/attachments", "POST", "other"): "NNNNNNNNNNFNAAA",
    ("/api/v1/cases/<int:case_id>/attachments", "POST", "own"): "ANAAAANNANFNANN",
    (
        "/api/v1/cases/<int:case_id>/attachments/<int:attachment_id>",
        "GET",
        "other",
    ): "NNNNNNNNNNANAAA",
    (
        "/api/v1/cases/<int:case_id>/attachments/<int:attachment_id>",
        "GET",
        "own",
    ): "ANAAAANNANANANN",
    ("/api/v1/cases/<int:case_id>/comments", "GET", "other"): "NNNNNNNNNNANAAA",
    ("/api/v1/cases/<int:case_id>/comments", "GET", "own"): "ANAAAANNANANANN",
    ("/api/v1/cases/<int:case_id>/comments", "POST", "other"): "NNNNNNNNNNFNAAA",
    ("/api/v1/cases/<int:case_id>/comments", "POST", "own"): "ANAAAANNANFNANN",
    ("/api/v1/cases/<int:case_id>/events", "GET", "other"): "NNNNNNNNNNANAAA",
    ("/api/v1/cases/<int:case_id>/events", "GET", "own"): "ANAAAANNANANANN",
    ("/api/v1/cases/<int:case_id>/events/verify", "GET", "other"): "NNNNNNNNNNANAAA",
    ("/api/v1/cases/<int:case_id>/events/verify", "GET", "own"): "ANAAAANNANANANN",
    ("/api/v1/cases/<int:case_id>/extend", "POST", "other"): "NNNNNNNNNNFNAFA",
    ("/api/v1/cases/<int:case_id>/extend", "POST", "own"): "FNFFAANNANFNANN",
    ("/api/v1/cases/<int:case_id>/resume", "POST", "other"): "NNNNNNNNNNFNCCC",
    ("/api/v1/cases/<int:case_id>/resume", "POST", "own"): "CNCCCCNNCNFNCNN",
    ("/api/v1/cases/<int:case_id>/sla", "GET", "other"): "NNNNNNNNNNANAAA",
    ("/api/v1/cases/<int:case_id>/sla", "GET", "own"): "ANAAAANNANANANN",
    ("/api/v1/cases/<int:case_id>/suspend", "POST", "other"): "NNNNNNNNNNFNAAA",
    ("/api/v1/cases/<int:case_id>/suspend", "POST", "own"): "ANAAAANNANFNANN",
    ("/api/v1/cases/<int:case_id>/withdraw", "POST", "other"): "NNNNNNNNNNFNAAA",
    ("/api/v1/cases/<int:case_id>/withdraw", "POST", "own"): "ANAAAANNFNFNANN",
    ("/api/v1/export/cases.xes", "GET", "any"): "AAAAAAAAAAAAAAA",
    ("/api/v1/export/events.csv", "GET", "any"): "AAAAAAAAAAAAAAA",
    ("/api/v1/me", "GET", "any"): "AAAAAAAAAAAAAAA",
    ("/api/v1/org-units", "GET", "any"): "FFFFFFFFFFAFAFF",
    ("/api/v1/org-units/<code>", "GET", "any"): "FFFFFFFFFFAFAFF",
    ("/api/v1/processes", "GET", "any"): "AAAAAAAAAAAAAAA",
    ("/api/v1/processes/<key>/versions/<int:version>", "GET", "any"): "FFFFFFFFFFAAAFF",
    ("/api/v1/processes/<key>/versions/<int:version>/bpmn", "GET", "any"): "FFFFFFFFFFAAAFF",
    (
        "/api/v1/processes/<key>/versions/<int:version>/diff/<int:other>",
        "GET",
        "any",
    ): "FFFFFFFFFFAAAFF",
    ("/api/v1/sla/digests", "GET", "other"): "FFFFFFFFFFAFAAA",
    ("/api/v1/sla/digests", "GET", "own"): "AFAAAAFFAFAAAFF",
    ("/api/v1/sla/incidents", "GET", "any"): "FFFFFFFFFFAFAFF",
    ("/api/v1/sla/incidents/<timer_id>/retry", "POST", "any"): "FFFFFFFFFFFFNFF",
    ("/api/v1/stats", "GET", "other"): "FFFFFFFFFFAFAAA",
    ("/api/v1/stats", "GET", "own"): "AFAAAAFFAFAAAFF",
    ("/api/v1/tasks", "GET", "any"): "AAAAAAAAAAAAAAA",
    ("/api/v1/tasks/<task_id>", "GET", "other"): "NNNNNNNNNNANAAA",
    ("/api/v1/tasks/<task_id>", "GET", "own"): "ANNNAANNANANANN",
    ("/api/v1/tasks/<task_id>/assign", "POST", "other"): "NNNNNNNNNNFNAFA",
    ("/api/v1/tasks/<task_id>/assign", "POST", "own"): "FNNNAANNANFNANN",
    ("/api/v1/tasks/<task_id>/claim", "POST", "other"): "NNNNNNNNNNFNAAF",
    ("/api/v1/tasks/<task_id>/claim", "POST", "own"): "ANNNFFNNFNFNANN",
    ("/api/v1/tasks/<task_id>/complete", "POST", "other"): "NNNNNNNNNNFNAAF",
    ("/api/v1/tasks/<task_id>/complete", "POST", "own"): "ANNNFFNNFNFNANN",
    ("/api/v1/tasks/<task_id>/delegate", "POST", "other"): "NNNNNNNNNNFNCCF",
    ("/api/v1/tasks/<task_id>/delegate", "POST", "own"): "CNNNFFNNFNFNCNN",
    ("/api/v1/tasks/<task_id>/resolve", "POST", "other"): "NNNNNNNNNNFNCCC",
    ("/api/v1/tasks/<task_id>/resolve", "POST", "own"): "CNNNCCNNCNFNCNN",
    ("/api/v1/tasks/<task_id>/unclaim", "POST", "other"): "NNNNNNNNNNFNCCF",
    ("/api/v1/tasks/<task_id>/unclaim", "POST", "own"): "CNNNFFNNFNFNCNN",
    ("/api/v1/tasks/bulk", "POST", "other"): "NNNNNNNNNNFNAAF",
    ("/api/v1/tasks/bulk", "POST", "own"): "ANNNFFNNFNFNANN",
    ("/api/v1/track/<tracking_code>", "GET", "other"): "AAAAAAAAAAAAAAA",
    ("/api/v1/track/<tracking_code>", "GET", "own"): "AAAAAAAAAAAAAAA",
    ("/api/v1/track/<tracking_code>/rating", "POST", "other"): "CCCCCCCCCCCCCCC",
    ("/api/v1/track/<tracking_code>/rating", "POST", "own"): "CCCCCCCCCCCCCCC",
    ("/api/v1/users", "GET", "any"): "FFFFFFFFFFAFAFF",
    ("/api/v1/users/<username>", "GET", "any"): "FFFFFFFFFFAFAFF",
}

COVERS_G21 = {"grid21", "street2", "admin"}  # and the auditor, who reads everything


def _run(client: Any, world: World, request: Request, user: str) -> TestResponse:
    method, url, kwargs = request
    caller: Caller = as_user(client, user)
    return caller.client.open(  # buffered: a streamed export is read and closed here
        url,
        method=method,
        headers={"Authorization": f"Bearer {caller.token}"},
        buffered=True,
        **kwargs,
    )


def _status(rule: str, response: TestResponse) -> int:
    """The answer for the one id sent; a bulk request answers per id inside a 200."""
    if rule == "/api/v1/tasks/bulk" and response.status_code == 200:
        return int(response.get_json()["results"][0]["status"])
    return response.status_code


def _matrix(app: Flask, rule: str, method: str) -> dict[str, str]:
    """The route's answers for every user, on fresh cases; also checks the three rules."""
    build, scoped = ROUTES[(rule, method)]
    client = app.test_client()
    row = {}
    for scope in ("own", "other") if scoped else ("any",):
        letters = []
        attach = rule.endswith("<int:attachment_id>")
        shared = _world(client, attach=attach) if method in SAFE else None
        for user in USERS:
            world = shared or _world(client, attach=attach)  # fresh cases for each write
            before = event_count()
            response = _run(client, world, build(world, scope if scoped else "own"), user)
            status = _status(rule, response)
            assert status in LETTER, (rule, method, scope, user, status, response.get_data(True))
            letters.append(LETTER[status])
            if status in (403, 404) and method not in SAFE:
                assert event_count() == before, (rule, user, "a refused write wrote an event")
            if user == "auditor" and method not in SAFE and not rule.startswith("/api/v1/track"):
                assert status == 403, (rule, "an auditor wrote", status)
            foreign = user not in COVERS_G21 | {"auditor"}
            if scope == "other" and status < 300 and foreign:
                leak = (rule, method, user, status)
                assert rule.startswith("/api/v1/track"), f"cross-org access: {leak}"
            if not scoped and status < 300 and foreign:  # lists and exports: no foreign row
                body = response.get_data(as_text=True)
                for secret in (world.code["other"], world.task["other"]):
                    assert secret not in body, (rule, user, "lists a case of another street")
        row[scope] = "".join(letters)
    return row


def test_every_api_route_is_classified(app: Flask) -> None:
    routes = {
        (r.rule, m)
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/v1")
        for m in r.methods - {"HEAD", "OPTIONS"}
    }
    assert routes - set(ROUTES) - ELSEWHERE == set(), "classify the new routes in this file"
    assert set(ROUTES) & ELSEWHERE == set()
    assert set(ROUTES) | ELSEWHERE <= routes, "a classified route no longer exists"


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[1]} {r[0]}")
def test_route_answers_each_role_as_the_access_table_says(
    app: Flask, org: dict, clock: Any, route: tuple[str, str]
) -> None:
    prepare(app)
    _second_street()
    rule, method = route
    row = _matrix(app, rule, method)
    missing = {(rule, method, s): v for s, v in row.items() if (rule, method, s) not in EXPECTED}
    assert not missing, f"unreviewed: {missing!r}"
    for scope, letters in row.items():
        assert letters == EXPECTED[rule, method, scope], _explain(
            EXPECTED[rule, method, scope], letters
        )


def _explain(expected: str, actual: str) -> str:
    return "; ".join(
        f"{user}: expected {e}, got {a}"
        for user, e, a in zip(USERS, expected, actual, strict=True)
        if e != a
    )
