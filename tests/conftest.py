"""Fixtures: every app test runs on SQLite and on PostgreSQL, with a clock we move by hand.

``GRIDCASE_TEST_DATABASES`` (default ``sqlite,postgresql``) picks the backends;
``TEST_POSTGRES_URL`` points at the PostgreSQL server (default: 127.0.0.1:5432, database test).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import text

from app import create_app
from app.extensions import db
from app.orgs.service import reset_caches
from tests.clocks import frozen_at
from workflows.clock import FrozenClock

# The scenario driver's own assertions get pytest's detailed messages. Registered here, in
# the root conftest, because tests outside tests/bpmn import the driver too.
pytest.register_assert_rewrite("tests.bpmn.scenario", "tests.bpmn.rr")

DATA = Path(__file__).parent / "data"
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = [
    b.strip() for b in os.environ.get("GRIDCASE_TEST_DATABASES", "sqlite,postgresql").split(",")
]
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 3 March 2025, 09:30 in Beijing: an ordinary working morning.
START = datetime(2025, 3, 3, 9, 30, tzinfo=SHANGHAI)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def _schema_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'gridcase.sqlite'}"
    else:
        url = POSTGRES_URL
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.remove()
        db.engine.dispose()
    yield url


@pytest.fixture
def app(_schema_url: str, backend: str) -> Iterator[Flask]:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=_schema_url)
    with app.app_context():
        _empty_all_tables(backend)
        reset_caches()
        yield app
        db.session.remove()
        db.engine.dispose()


def _empty_all_tables(backend: str) -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    with frozen_at(START) as frozen:
        yield frozen


@pytest.fixture
def org(app: Flask) -> dict[str, object]:
    """The demo org tree and users (the same data the run command seeds)."""
    from app.orgs.demo import seed_demo
    from app.orgs.models import OrgUnit, User

    seed_demo()
    units = {u.code: u for u in db.session.scalars(db.select(OrgUnit))}
    users = {u.username: u for u in db.session.scalars(db.select(User))}
    return {"units": units, "users": users}
