"""bench/inbox.py's data: the tree it measures on, and rows the app reads as its own (the
bulk loader writes past the ORM, so a wrong column format would only show as wrong figures).
The benchmark itself loads a million rows: `make bench`."""

from __future__ import annotations

from collections import Counter

from flask import Flask
from sqlalchemy import func, select

from app.core.models import Case, HumanTask
from app.extensions import db
from app.orgs.models import OrgUnit
from app.tasks.service import InboxQuery, inbox
from bench.inbox import principal
from bench.inbox_data import NOW, build_tree, load


def test_the_tree_has_a_thousand_units_under_one_district() -> None:
    tree = build_tree()
    kinds = Counter(kind for _, _, _, kind, _, _ in tree.units)
    assert len(tree.units) == 1000 and len({code for _, code, *_ in tree.units}) == 1000
    assert kinds == {"district": 1, "street": 10, "community": 80, "grid": 800, "department": 109}
    paths = {unit_id: path for unit_id, *_, path in tree.units}
    for unit_id, _, _, _, parent, path in tree.units:
        assert path == (paths[parent] if parent else "/") + f"{unit_id}/"


def test_loaded_rows_read_back_through_the_app(app: Flask) -> None:
    counts = load(db.engine, cases=300)
    assert counts == {"units": 1000, "users": 1091, "cases": 300, "tasks": 1000, "open": 100}
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(HumanTask)) == 1000
    task = db.session.scalars(select(HumanTask).where(HumanTask.status == "open")).first()
    assert task is not None and task.created_at.tzinfo is not None
    assert task.created_at <= NOW and task.case.opened_at <= task.created_at
    assert db.session.get(OrgUnit, task.org_unit_id) is not None
    unassigned = db.session.scalar(
        select(func.count())
        .select_from(HumanTask)
        .where(HumanTask.status == "open", HumanTask.assignee_id.is_(None))
    )
    rows, _, total = inbox(principal("bx-auditor"), InboxQuery(scope="group", limit=200))
    assert total == len(rows) == unassigned > 50
    assert {t.status for t in rows} == {"open"} and all(t.case.code for t in rows)
    assert db.session.scalar(select(func.count()).select_from(Case)) == 300
