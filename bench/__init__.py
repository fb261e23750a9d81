"""Benchmarks: each prints a table beside the raw SpiffWorkflow baseline (docs/performance.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# A database of its own: benchmarks drop and recreate every table.
PG_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridcase_bench"
)


def ensure_pg_database(url: str = PG_URL) -> str:
    """Create the benchmark database on the server when it does not exist yet."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
        )
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    return url


PROCESSES = Path(__file__).parent / "processes"
MIGRATIONS = Path(__file__).parent.parent / "migrations"


def intake(title: str) -> dict[str, str]:
    """Minimal intake fields for a benchmark case in the demo grid G-01."""
    return {
        "title": title,
        "category": "0101",
        "request_type": "help",
        "channel": "hotline",
        "org_unit": "G-01",
    }


@contextmanager
def fresh_app(url: str, **config: object) -> Iterator[Flask]:
    """An app on an emptied database: migrated, demo org seeded, bench processes deployed."""
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.orgs.demo import seed_demo
    from app.processes.service import deploy_directory

    app = create_app("production", SQLALCHEMY_DATABASE_URI=url, SECRET_KEY="bench", **config)
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade(directory=str(MIGRATIONS))
        seed_demo()
        deploy_directory(PROCESSES, actor="bench")
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()
