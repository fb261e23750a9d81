"""app.database: how a request's transaction ends."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from app.database import end_read
from app.extensions import db
from app.orgs.models import OrgUnit


@pytest.fixture
def unit(org: dict) -> OrgUnit:
    return org["units"]["G-01"]


def test_a_change_left_pending_is_rolled_back_not_committed(unit: OrgUnit) -> None:
    unit.name = "不该保存"
    end_read()
    assert db.session.scalar(select(OrgUnit.name).where(OrgUnit.id == unit.id)) != "不该保存"


def test_a_flushed_but_uncommitted_write_is_rolled_back(unit: OrgUnit) -> None:
    rename = text("UPDATE org_units SET name = 'flushed' WHERE id = :id")
    db.session.execute(rename, {"id": unit.id})
    end_read()
    assert db.session.scalar(select(OrgUnit.name).where(OrgUnit.id == unit.id)) != "flushed"


def test_reads_ended_this_way_keep_postgresqls_prepared_statements(unit: OrgUnit, backend) -> None:
    """psycopg prepares a statement on its fifth run and forgets every one at a ROLLBACK: a
    server whose requests ended with ROLLBACK would parse and plan every statement again."""
    if backend != "postgresql":
        pytest.skip("a PostgreSQL server-side cache")
    query = select(OrgUnit.code).where(OrgUnit.id == unit.id)
    for _ in range(6):
        assert db.session.scalar(query) == "G-01"
        end_read()
    prepared = db.session.scalar(
        text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :q"),
        {"q": "SELECT org_units.code%"},
    )
    end_read()
    assert prepared == 1


def test_each_request_ends_its_read_and_keeps_prepared_statements(app, unit, backend) -> None:
    """The teardown of every app context (each request has one) ends the read this way."""
    if backend != "postgresql":
        pytest.skip("a PostgreSQL server-side cache")
    db.session.commit()
    query = select(OrgUnit.code).where(OrgUnit.id == unit.id)
    for _ in range(6):
        with app.app_context():
            assert db.session.scalar(query) == "G-01"
    with app.app_context():
        prepared = db.session.scalar(
            text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :q"),
            {"q": "SELECT org_units.code%"},
        )
    assert prepared == 1


def test_the_engine_state_is_stored_compressed_with_lz4_and_in_the_row(app, backend) -> None:
    """create_all (tests, benchmarks) stores process_instances.state as migration 0007 does:
    every action rewrites it, so its compression and TOAST use weigh on every write."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL storage settings")
    compression = db.session.scalar(
        text(
            "SELECT attcompression FROM pg_attribute WHERE attname = 'state'"
            " AND attrelid = 'process_instances'::regclass"
        )
    )
    options = db.session.scalar(
        text("SELECT reloptions FROM pg_class WHERE relname = 'process_instances'")
    )
    end_read()
    assert compression == "l"
    assert options == ["toast_tuple_target=8160"]
