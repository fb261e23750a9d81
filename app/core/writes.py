"""Plain writes for the unit of work: an ORM object's changes as one UPDATE, and a queue that
sends a transaction's writes to PostgreSQL in one round trip.

The unit of work changes two rows per action (the case and the process instance). Letting the
ORM flush them cost more than the engine step itself, so the unit of work writes them here:
the changed columns only, with the optimistic version check the mapper declares (a stale
revision raises ``StaleDataError`` exactly as a flush would), and then marks the values
committed so that the flush at commit finds nothing left to do.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, event, inspect, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ColumnProperty, Session
from sqlalchemy.orm.attributes import NO_VALUE, set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from app.database import dialect_of, mark_written
from app.extensions import db


def write_through(obj: Any) -> None:
    """UPDATE ``obj``'s changed columns now. Left to the flush: objects not yet persistent
    and objects with a changed relationship."""
    state = inspect(obj)
    if not state.persistent:
        return
    mapper = state.mapper
    changes: dict[str, Any] = {}
    # committed_state holds the original value of each attribute set since the load: the
    # only ones worth a look. A column changed if its value differs from that original, as
    # its history would say (asking each attribute for its history cost more than the UPDATE).
    current, attributes = state.dict, state.manager
    for key, original in list(state.committed_state.items()):
        if not isinstance(mapper.get_property(key), ColumnProperty):
            return  # a relationship changed: foreign keys are the flush's business
        value = current.get(key, NO_VALUE)
        if value is NO_VALUE:
            continue
        if original is NO_VALUE or not attributes[key].impl.is_equal(value, original):
            changes[key] = value
    if not changes:
        return
    version_col = mapper.version_id_col
    version_key = None
    params = {f"v_{key}": value for key, value in changes.items()}
    params["pk"] = state.identity[0]
    if version_col is not None:
        version_key = mapper.get_property_by_column(version_col).key
        current = getattr(obj, version_key)
        params["version"], params[f"v_{version_key}"] = current, current + 1
        changes[version_key] = current + 1
    statement = _statement(mapper, tuple(sorted(changes)), version_key)
    stale = f"{mapper.local_table.name} row {params['pk']} was changed since read"
    with db.session.no_autoflush:  # else the flush would write the row first
        queue(statement, params, expect=1, stale=stale)
    for key, value in changes.items():
        set_committed_value(obj, key, value)
    # Every change is written: take the object off the session's modified list, as a flush
    # does after its UPDATE (else the flush still walks it, which is the cost saved here).
    state._commit_all(state.dict, db.session.identity_map)


@functools.lru_cache(maxsize=256)
def _statement(mapper: Any, keys: tuple[str, ...], version_key: str | None) -> Any:
    """UPDATE <table> SET <keys> WHERE pk = :pk [AND version = :version], built once."""
    (pk,) = mapper.primary_key
    statement = update(mapper.local_table).where(pk == bindparam("pk"))
    if version_key is not None:
        statement = statement.where(mapper.version_id_col == bindparam("version"))
    columns = {mapper.get_property(key).columns[0].name: bindparam(f"v_{key}") for key in keys}
    return statement.values(**columns)


# -- pipelined writes --------------------------------------------------------------------------
#
# A completion writes five rows. Sent one by one, each waits for PostgreSQL's answer before the
# next goes out; queued and sent in psycopg's pipeline mode, they cost one round trip, and the
# row counts are checked when the answers are in, still before COMMIT. Elsewhere (SQLite, an
# in-process library with no round trip to save) a queued write runs at once. Order is kept:
# the queue is sent before any other statement of the session and before the ORM's flush.

_QUEUE = "gridcase_write_queue"


@dataclass(frozen=True, slots=True)
class _Write:
    statement: Any
    params: dict[str, Any] | list[dict[str, Any]]
    expect: int | None
    stale: str


def queue(
    statement: Any,
    params: dict[str, Any] | list[dict[str, Any]],
    *,
    expect: int | None = None,
    stale: str = "a row was changed by someone else",
) -> None:
    """Write ``statement`` (built once, with bind parameters) in this transaction. With
    ``expect``, a different row count raises ``StaleDataError`` (at the latest by :func:`send`).

    Statements must carry every column they write: Python-side column defaults are not
    applied on the pipelined path (checked when a statement is first compiled)."""
    session = db.session()
    if dialect_of(session) != "postgresql":
        result = session.execute(statement, params)
        _check(result.rowcount, expect, stale)
        return
    session.info.setdefault(_QUEUE, []).append(_Write(statement, params, expect, stale))


def send(session: Session | None = None) -> None:
    """Send the queued writes of the session now, in one round trip, and check them."""
    session = session or db.session()
    pending: list[_Write] | None = session.info.pop(_QUEUE, None)
    if not pending:
        return
    if session.info.get(_GROUPED):
        pending = _grouped(pending)
    connection = session.connection()
    dialect = connection.dialect
    driver = connection.connection.driver_connection
    mark_written(connection)
    cursors = []
    try:
        with driver.pipeline():
            for write in pending:
                cursor = driver.cursor()
                if isinstance(write.params, list):
                    forms = [_driver_form(write.statement, p, dialect) for p in write.params]
                    cursor.executemany(forms[0][0], [values for _sql, values in forms])
                else:
                    cursor.execute(*_driver_form(write.statement, write.params, dialect))
                cursors.append(cursor)
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(None, None, exc, dialect.loaded_dbapi.Error) from exc
    for write, cursor in zip(pending, cursors, strict=True):
        _check(cursor.rowcount, write.expect, write.stale)


# -- grouped sending -----------------------------------------------------------------------------
#
# The scheduler fires a group of timers in one transaction, each on its own case: their writes
# touch disjoint rows, so the same statement of every fire (the case UPDATE, the instance
# UPDATE, the event INSERT, ...) can go as one executemany instead of one execute per fire.
# The driver then converts each statement once; row counts add up, so a stale row among them
# still fails the whole transaction.

_GROUPED = "gridcase_write_grouped"


@contextmanager
def grouped() -> Iterator[None]:
    """Within: queued writes are sent statement by statement (first use first), not in queue
    order. Only for work whose writes never touch one row twice, as fires of distinct cases."""
    session = db.session()
    session.info[_GROUPED] = True
    try:
        yield
    finally:
        session.info.pop(_GROUPED, None)


def _grouped(pending: list[_Write]) -> list[_Write]:
    buckets: dict[tuple[Any, ...], list[_Write]] = {}
    for write in pending:
        keys = tuple(sorted(write.params[0] if isinstance(write.params, list) else write.params))
        buckets.setdefault((write.statement, keys, write.expect is None), []).append(write)
    merged = []
    for writes in buckets.values():
        if len(writes) == 1:
            merged.append(writes[0])
            continue
        params: list[dict[str, Any]] = []
        for write in writes:
            params += write.params if isinstance(write.params, list) else [write.params]
        expect = None if writes[0].expect is None else sum(w.expect or 0 for w in writes)
        merged.append(_Write(writes[0].statement, params, expect, writes[0].stale))
    return merged


def _check(rowcount: int, expect: int | None, stale: str) -> None:
    if expect is not None and rowcount != expect:
        raise StaleDataError(stale)


def _driver_form(statement: Any, params: dict[str, Any], dialect: Any) -> tuple[str, Any]:
    """The SQL text and the driver's parameters, as SQLAlchemy itself would pass them."""
    sql, compiled, processors = _compiled(statement, dialect, tuple(sorted(params)))
    values = compiled.construct_params(params)
    for name, process in processors:
        values[name] = process(values[name])
    return sql, values


@functools.lru_cache(maxsize=256)
def _compiled(statement: Any, dialect: Any, keys: tuple[str, ...]) -> tuple[str, Any, tuple]:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise ValueError(
            f"a queued statement relies on Python-side defaults: pass every column ({compiled})"
        )
    processors = []
    for bind, name in compiled.bind_names.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((compiled.escaped_bind_names.get(name, name), process))
    return compiled.string, compiled, tuple(processors)


@event.listens_for(Session, "do_orm_execute")
def _send_before_execute(state: Any) -> None:
    if _QUEUE in state.session.info:
        send(state.session)


@event.listens_for(Session, "before_flush")
@event.listens_for(Session, "before_commit")
def _send_before_flush(session: Session, *_args: Any) -> None:
    if _QUEUE in session.info:
        send(session)


@event.listens_for(Session, "after_rollback")
def _discard_on_rollback(session: Session) -> None:
    session.info.pop(_QUEUE, None)
