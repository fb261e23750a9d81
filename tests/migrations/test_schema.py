"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL.

Tests build their schema with ``create_all``; production runs ``flask db upgrade``. This test
runs the real command on an empty database and asks Alembic to compare the result with the
models: a model change without its migration (or a migration that drifted) fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, make_url

from app import create_app
from app.extensions import db
from tests.conftest import BACKENDS, POSTGRES_URL

REPO = Path(__file__).resolve().parents[2]


def _upgrade(url: str, *revision: str, command: str = "upgrade") -> None:
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "app"}
    subprocess.run(
        [sys.executable, "-m", "flask", "db", command, *revision],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite'}"
        return
    parsed = make_url(POSTGRES_URL)
    name = f"{parsed.database}_migrations"
    admin = f"host={parsed.host} port={parsed.port or 5432} user={parsed.username} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield parsed.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _differences(url: str) -> list[object]:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    engine = create_engine(url)
    try:
        with app.app_context(), engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, db.metadata))
    finally:
        engine.dispose()


def _state_storage(url: str) -> tuple[str, list[str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            compression = conn.exec_driver_sql(
                "SELECT attcompression FROM pg_attribute WHERE attname = 'state'"
                " AND attrelid = 'process_instances'::regclass"
            ).scalar()
            options = conn.exec_driver_sql(
                "SELECT reloptions FROM pg_class WHERE relname = 'process_instances'"
            ).scalar()
            return str(compression), list(options or [])
    finally:
        engine.dispose()


@pytest.mark.slow
def test_upgrade_builds_the_models_schema_and_downgrade_undoes_it(empty_database: str) -> None:
    _upgrade(empty_database)
    assert _differences(empty_database) == []
    if empty_database.startswith("postgresql"):
        # each action rewrites the state: lz4, and kept in the row rather than in TOAST
        assert _state_storage(empty_database) == ("l", ["toast_tuple_target=8160"])
    _upgrade(empty_database, "base", command="downgrade")
    engine = create_engine(empty_database)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
