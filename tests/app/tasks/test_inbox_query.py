"""The inbox query against a plain Python model of the rules, on a varied set of tasks.

``app/tasks/inbox.py`` splits a scope into branches, resolves grants in SQL, reads the
everything-unassigned branch in two index ranges and sorts the others: none of that may change
what a user sees. Each walk pages through a scope with a small limit and must return exactly
the tasks the rules allow (``Principal.holds``, the same helper that guards single tasks), in
the documented order (due time, then id, tasks without a due time last), with the right
total on every page.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert, select, update

from app.auth.access import Principal
from app.cases.queries import InvalidInput
from app.core.models import Case, HumanTask
from app.database import write_transaction
from app.extensions import db
from app.orgs.models import OrgUnit, User
from app.orgs.service import create_user, grant
from app.tasks.service import SORTS, InboxQuery, inbox
from tests.helpers import deploy_simple, open_simple_case
from workflows.clock import FrozenClock

ROLES = ("grid_worker", "community_staff", "community_leader", "street_dispatcher", None)
ASSIGNEES = (None, None, None, "grid1", "staff1", "dispatcher", "multi")


@pytest.fixture
def world(app: Flask, org: dict[str, Any], clock: FrozenClock) -> dict[str, Any]:
    """~150 tasks over every demo unit and several roles, with ties and missing due times,
    in two cases (one urgent), assigned to nobody or to one of the users."""
    deploy_simple()
    with write_transaction():
        multi = create_user(username="multi", display_name="两个角色 Two roles")
        units = {u.code: u for u in db.session.scalars(select(OrgUnit))}
        grant(user=multi, role="grid_worker", unit=units["G-02"])
        grant(user=multi, role="community_leader", unit=units["C-02"], include_below=True)
    cases = [open_simple_case(), open_simple_case(org_unit="G-03")]
    with write_transaction() as session:
        session.execute(update(Case).where(Case.id == cases[1].id).values(mode="urgent"))
    users = {u.username: u.id for u in db.session.scalars(select(User))}
    rng, now = random.Random(5), clock.now()
    rows = []
    for _ in range(150):
        case = rng.choice(cases)
        rows.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "case_id": case.id,
                "instance_id": case.instance_id,
                "bpmn_id": "handle",
                "name": "办理 Handle",
                "role": rng.choice(ROLES),
                "org_unit_id": rng.choice(list(units.values())).id,
                "assignee_id": users.get(rng.choice(ASSIGNEES) or ""),
                "status": rng.choice(("open", "open", "open", "completed")),
                "created_at": now - timedelta(hours=rng.randrange(6)),
                "due_at": rng.choice([None, *(now + timedelta(hours=h) for h in range(-2, 4))]),
            }
        )
    with write_transaction() as session:
        session.execute(insert(HumanTask), rows)
    return {"units": units}


def principal(username: str) -> Principal:
    db.session.rollback()
    user = db.session.scalar(select(User).where(User.username == username))
    assert user is not None
    return Principal.of(user)


def expected(p: Principal, q: InboxQuery, keep: Callable[[HumanTask], bool]) -> list[str]:
    """The rules in Python: which tasks the scope holds, in the documented order."""
    db.session.rollback()
    tasks = [
        t
        for t in db.session.scalars(select(HumanTask).where(HumanTask.status == q.status))
        if keep(t)
    ]
    mine = {t.id for t in tasks if t.assignee_id == p.user.id}
    group = {
        t.id
        for t in tasks
        if t.assignee_id is None and (p.reads_all or p.holds(t.role, t.org_unit))
    }
    wanted = {"mine": mine, "group": group, "all": mine | group}[q.scope]
    chosen = [t for t in tasks if t.id in wanted]
    key = q.sort.lstrip("-")
    valued = sorted(
        (t for t in chosen if getattr(t, key) is not None),
        key=lambda t: (getattr(t, key), t.id),
        reverse=q.sort.startswith("-"),
    )
    nulls = sorted(
        (t for t in chosen if getattr(t, key) is None),
        key=lambda t: t.id,
        reverse=q.sort.startswith("-"),
    )
    return [t.id for t in valued + nulls]


def walk(p: Principal, q: InboxQuery) -> list[str]:
    """Every page of the query, following the cursor; each page reports the same total."""
    seen: list[str] = []
    totals = set()
    after = None
    while True:
        db.session.rollback()
        rows, after, total = inbox(p, replace(q, after=after))
        seen += [t.id for t in rows]
        totals.add(total)
        assert len(rows) <= q.limit
        if after is None:
            break
        assert len(rows) == q.limit
    assert totals == {len(seen)}
    return seen


@pytest.mark.parametrize("username", ["grid1", "staff1", "dispatcher", "multi", "auditor"])
def test_every_scope_sort_and_status_pages_through_exactly_the_allowed_tasks(
    world: dict[str, Any], username: str
) -> None:
    p = principal(username)
    seen_any = False
    for scope in ("mine", "group", "all"):
        for sort in SORTS:
            for status in ("open", "completed"):
                q = InboxQuery(scope=scope, sort=sort, status=status, limit=4)
                want = expected(p, q, lambda _: True)
                assert walk(p, q) == want, (scope, sort, status)
                seen_any = seen_any or bool(want)
    assert seen_any


def test_the_auditor_sees_every_unassigned_task_and_the_dispatcher_a_subtree(
    world: dict[str, Any],
) -> None:
    db.session.rollback()
    unassigned_open = db.session.scalar(
        select(db.func.count())
        .select_from(HumanTask)
        .where(HumanTask.status == "open", HumanTask.assignee_id.is_(None))
    )
    _, _, total = inbox(principal("auditor"), InboxQuery(scope="group"))
    assert total == unassigned_open > 0
    dispatcher = principal("dispatcher")
    rows, _, total = inbox(dispatcher, InboxQuery(scope="group", limit=200))
    assert total > 0 and {t.role for t in rows} == {"street_dispatcher"}
    assert all(t.org_unit.path.startswith(world["units"]["S-01"].path) for t in rows)


@pytest.mark.parametrize("username", ["dispatcher", "multi", "admin"])
def test_filters_narrow_the_same_walk(
    world: dict[str, Any], clock: FrozenClock, username: str
) -> None:
    p = principal(username)
    now, soon = clock.now(), clock.now() + timedelta(hours=1)
    c01 = world["units"]["C-01"].path
    cases: list[tuple[dict[str, Any], Callable[[HumanTask], bool]]] = [
        ({"org_unit": "C-01"}, lambda t: t.org_unit.path.startswith(c01)),
        ({"mode": "urgent"}, lambda t: t.case.mode == "urgent"),
        ({"overdue": True}, lambda t: t.due_at is not None and t.due_at < now),
        ({"overdue": False}, lambda t: t.due_at is None or t.due_at >= now),
        ({"due_before": soon}, lambda t: t.due_at is not None and t.due_at < soon),
    ]
    for args, keep in cases:
        for sort in ("due_at", "-due_at"):
            q = InboxQuery(scope="all", sort=sort, limit=5, **args)
            assert walk(p, q) == expected(p, q, keep), (args, sort)


def test_an_unknown_unit_filter_names_the_field(world: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as caught:
        inbox(principal("grid1"), InboxQuery(org_unit="NO-SUCH-UNIT"))
    assert set(caught.value.errors) == {"org_unit"}


def test_a_user_without_task_roles_has_an_empty_group(world: dict[str, Any]) -> None:
    assert inbox(principal("designer"), InboxQuery(scope="group")) == ([], None, 0)
