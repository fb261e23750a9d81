"""Write an ORM object's pending column changes as one plain UPDATE, at once.

The unit of work changes two rows per action (the case and the process instance). Letting the
ORM flush them cost more than the engine step itself, so the unit of work writes them here:
the changed columns only, with the optimistic version check the mapper declares (a stale
revision raises ``StaleDataError`` exactly as a flush would), and then marks the values
committed so that the flush at commit finds nothing left to do.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, inspect, update
from sqlalchemy.orm import ColumnProperty
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from app.extensions import db


def write_through(obj: Any) -> None:
    """UPDATE ``obj``'s changed columns now. Left to the flush: objects not yet persistent
    and objects with a changed relationship."""
    state = inspect(obj)
    if not state.persistent:
        return
    mapper = state.mapper
    changes: dict[str, Any] = {}
    for attr in state.attrs:
        if attr.key in state.unloaded:
            continue
        history = attr.history
        if not history.added:
            continue
        if not isinstance(mapper.get_property(attr.key), ColumnProperty):
            return  # a relationship changed: foreign keys are the flush's business
        changes[attr.key] = history.added[0]
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
    with db.session.no_autoflush:  # else the flush would write the row first
        result = db.session.execute(statement, params)
    if result.rowcount != 1:
        raise StaleDataError(f"{mapper.local_table.name} row {params['pk']} was changed since read")
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
