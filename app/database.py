"""Database plumbing every package shares: column types and the write transaction.

SQLite and PostgreSQL must behave the same (DESIGN invariant 7). Two places they differ are
handled here: SQLite forgets time zones (we store UTC and hand back aware datetimes), and a
SQLite transaction that reads first and writes later fails with "database is locked" when
another writer got in between, so every write transaction on SQLite starts with
``BEGIN IMMEDIATE`` and waits its turn instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from app.extensions import db

JSONType = JSON().with_variant(JSONB(), "postgresql")
_immediate: ContextVar[bool] = ContextVar("gridcase_sqlite_immediate", default=False)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def configure_engine(engine: Engine) -> None:
    """Connection settings: WAL, a busy timeout and explicit BEGINs on SQLite; on PostgreSQL,
    a note on the connection of whether its transaction wrote (see :func:`end_read`)."""
    if engine.dialect.name == "postgresql":
        _track_writes(engine)
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _immediate.get() else "BEGIN")


def _commit_keeping_loaded(session: Any) -> None:
    before, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = before


_WROTE = "gridcase_wrote"


def _track_writes(engine: Engine) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _mark(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip()[:6].upper().startswith("SELECT"):
            conn.info[_WROTE] = True

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _clear(conn: Any) -> None:
        conn.info.pop(_WROTE, None)


def mark_written(connection: Any) -> None:
    """Note a write made on the driver connection directly (see app.core.writes)."""
    connection.info[_WROTE] = True


_DIALECT = "gridcase_dialect"


def dialect_of(session: Any) -> str:
    """The session's database dialect name, looked up once per session (the app has one
    database; the hot path asks on every queued write)."""
    name = session.info.get(_DIALECT)
    if name is None:
        name = session.info[_DIALECT] = session.get_bind().dialect.name
    return str(name)


def end_read() -> None:
    """End the session's transaction: COMMIT it if it only read, else ROLL it BACK.

    On PostgreSQL a ROLLBACK makes psycopg forget its prepared statements, so a server that
    ended every request that way would parse and plan every statement again, every time
    (about a third of a task completion's cost). A transaction that only read commits the
    same nothing, and the statements stay prepared. Anything written, pending or failed is
    rolled back as before; SQLite always rolls back (it has no such cache to keep).
    """
    session = db.session()
    transaction = session.get_transaction()
    if transaction is None:
        return
    if (
        session.new
        or session.dirty
        or session.deleted
        or not transaction.is_active
        or dialect_of(session) != "postgresql"
        or session.connection().info.get(_WROTE)
    ):
        session.rollback()
    else:
        session.commit()


@contextmanager
def write_transaction(*, expire: Callable[[Any], None] | None = None) -> Iterator[Any]:
    """One transaction that writes: commit on success, roll back on any error.

    The session must hold no pending changes (a write path owns its transaction); an open
    read-only transaction is ended first so that SQLite can begin an immediate one. With
    ``expire``, the commit keeps what the session loaded and ``expire(session)`` then drops
    what the transaction wrote behind the ORM's back (the unit of work's plain SQL), so the
    response need not read again the rows the transaction has just written.
    """
    session = db.session()  # the scoped session's current Session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("write_transaction() entered with pending changes in the session")
    if session.in_transaction():
        session.commit()
    token = _immediate.set(True)
    try:
        session.begin()
        try:
            yield session
            if expire is None:
                session.commit()
            else:
                _commit_keeping_loaded(session)
                expire(session)
        except BaseException:
            session.rollback()
            raise
    finally:
        _immediate.reset(token)
