"""The inbox query (待办): one page of a user's tasks and their total, shaped for the indexes.

At a million task rows the obvious query (join the org units, test path prefixes, OR the
grants together, sort nulls last with a CASE over everything) reads every open task of a role
and sorts it. So (bench/inbox.py, docs/performance.md):

- the scope is split into disjoint branches: mine (``assignee_id = me``: ``ix_tasks_mine``),
  one per role held (unassigned, ``role = r AND org_unit_id IN (…)``: ``ix_tasks_group``,
  one index probe per unit; the units below an ``include_below`` grant are a subquery on the
  small org tree), or every unassigned task for those who read all (``ix_tasks_unassigned``);
- a person's or a role's branch is read from its index and sorted (no index orders a list
  of units, and sorting a few thousand keys is cheap); the branch of everything unassigned is
  read in index order, tasks with a due time first (the keyset ``(due_at, id) > (v, id)`` is
  a row value the index seeks to), then those without, so a deep page costs what the first
  does. Each branch gives its next ``limit + 1`` keys; the database orders their union and
  joins the rows, in one statement with the total;
- the total is exact: per-branch counts, each read from an index alone.

Sorting by ``-due_at`` or ``-created_at`` breaks ties by descending id, and tasks without a
due time come last either way. Sorting by ``created_at`` has no index of its own: fine for a
person or a group, a sort of every unassigned task for those who read all.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import joinedload

from app.auth.access import Principal
from app.cases.queries import InvalidInput
from app.core.models import Case, HumanTask
from app.extensions import db
from app.orgs.models import OrgUnit, User
from app.orgs.service import get_by_code
from workflows import clock

if TYPE_CHECKING:
    from app.tasks.service import InboxQuery

Key = tuple[int, Any, str]  # (nulls-last flag, sort value, task id)


@dataclass(frozen=True)
class Branch:
    """One disjoint part of a scope. ``ordered``: read in index order, because it may be
    huge; otherwise read whole from its index and sorted (one person's or one group's)."""

    where: ColumnElement[bool]
    ordered: bool


def units_at_or_below(paths: Collection[str], ids: Collection[int] = ()) -> Any:
    """SQL: the ids of the units ``ids`` and of those at or below ``paths``, as a subquery
    (the database reads the small org tree itself: a list of a thousand ids costs
    PostgreSQL more to plan than the query costs to run)."""
    return select(OrgUnit.id).where(
        or_(
            *(OrgUnit.path.startswith(path) for path in sorted(paths)),
            *([OrgUnit.id.in_(sorted(ids))] if ids else []),
        )
    )


def role_units(p: Principal) -> dict[str, ColumnElement[bool]]:
    """Role → SQL: a task's unit is one the user holds the role in (``Grant.covers``)."""
    exact: dict[str, set[int]] = {}
    below: dict[str, set[str]] = {}
    for g in p.grants:
        exact.setdefault(g.role, set())
        if g.include_below:
            below.setdefault(g.role, set()).add(g.path)
        else:
            exact[g.role].add(g.unit_id)
    return {
        role: HumanTask.org_unit_id.in_(
            units_at_or_below(below[role], ids) if role in below else sorted(ids)
        )
        for role, ids in exact.items()
    }


def branches(p: Principal, scope: str) -> list[Branch]:
    """Disjoint branches whose union is the scope: mine (assigned to me) and group
    (unassigned, of my roles in my units; every unassigned task for those who read all)."""
    out = []
    if scope in ("mine", "all"):
        out.append(Branch(HumanTask.assignee_id == p.user.id, ordered=False))
    if scope in ("group", "all"):
        unassigned = HumanTask.assignee_id.is_(None)
        if p.reads_all:
            out.append(Branch(unassigned, ordered=True))
        else:
            out += [
                Branch(and_(unassigned, HumanTask.role == role, units), ordered=False)
                for role, units in sorted(role_units(p).items())
            ]
    return out


def filters(q: InboxQuery) -> list[ColumnElement[bool]]:
    """The query's own filters: status, 办理方式 mode, unit and below, overdue, due before."""
    conditions: list[ColumnElement[bool]] = [HumanTask.status == q.status]
    if q.mode:
        conditions.append(exists().where(Case.id == HumanTask.case_id, Case.mode == q.mode))
    if q.org_unit:
        target = get_by_code(q.org_unit)
        if target is None:
            raise InvalidInput({"org_unit": [f"unknown org unit {q.org_unit!r}"]})
        conditions.append(HumanTask.org_unit_id.in_(units_at_or_below([target.path])))
    now = clock.now()
    if q.overdue is True:
        conditions.append(HumanTask.due_at < now)
    elif q.overdue is False:
        conditions.append(or_(HumanTask.due_at.is_(None), HumanTask.due_at >= now))
    if q.due_before is not None:
        conditions.append(HumanTask.due_at < q.due_before)
    return conditions


def total(where: list[ColumnElement[bool]], parts: list[Branch]) -> Any:
    """SQL: the number of tasks in the branches, each counted from its own index."""
    counts = [
        select(func.count()).select_from(HumanTask).where(*where, b.where).scalar_subquery()
        for b in parts
    ]
    out: Any = counts[0]
    for more in counts[1:]:
        out = out + more
    return out


class Pager:
    """The rows of one page, in the order of ``q.sort``, nulls last, after ``q.after``.

    A branch that no index orders (a role's units, mine) is read whole from its index and
    sorted: ``(due_at IS NULL), due_at, id``, as one select. The branch of everything
    unassigned is read in index order instead, as two ranges: the tasks with a due time, and
    then, only when the page is not full with them, those without.
    """

    def __init__(self, q: InboxQuery, where: list[ColumnElement[bool]]) -> None:
        self.q, self.where = q, where
        self.column = HumanTask.due_at if q.sort.lstrip("-") == "due_at" else HumanTask.created_at
        self.descending = q.sort.startswith("-")
        after = q.after
        self.in_nulls = after is not None and (bool(after[0]) or after[1] is None)

    def _dir(self, expr: Any) -> Any:
        return expr.desc() if self.descending else expr

    def _beyond(self) -> ColumnElement[bool]:
        """Past the cursor among the tasks with a sort value (a row value index seeks to)."""
        assert self.q.after is not None
        key, bound = tuple_(self.column, HumanTask.id), tuple_(self.q.after[1], self.q.after[2])
        return key < bound if self.descending else key > bound

    def _id_beyond(self) -> ColumnElement[bool]:
        assert self.q.after is not None
        last = self.q.after[2]
        return HumanTask.id < last if self.descending else HumanTask.id > last

    def keys(self, b: Branch, size: int, phase: str) -> Select[Any]:
        """The next ``size`` keys of a branch: ``phase`` is "all" (sorted, nulls last),
        "values" (in index order, with a sort value) or "nulls" (without, by id)."""
        column, after = self.column, self.q.after
        flag = case((column.is_(None), 1), else_=0)
        extra: list[ColumnElement[bool]] = []
        if phase == "all":
            if after is not None:
                extra.append(
                    and_(column.is_(None), self._id_beyond())
                    if self.in_nulls
                    else or_(column.is_(None), self._beyond())
                )
            order = [flag, self._dir(column), self._dir(HumanTask.id)]
        elif phase == "values":
            extra.append(column.is_not(None))
            if after is not None:
                extra.append(self._beyond())
            order = [self._dir(column), self._dir(HumanTask.id)]
        else:
            extra.append(column.is_(None))
            if self.in_nulls:
                extra.append(self._id_beyond())
            order = [self._dir(HumanTask.id)]
        return (
            select(flag.label("flag"), column.label("value"), HumanTask.id.label("id"))
            .where(*self.where, b.where, *extra)
            .order_by(*order)
            .limit(size)
        )

    def rows(
        self, selects: list[Select[Any]], size: int, total: Any = None
    ) -> tuple[list[HumanTask], int | None]:
        """The first ``size`` tasks of the selects' union, with their case, unit and assignee
        (not the case's unit nor the assignee's roles: lists do not show them), and ``total``
        evaluated in the same statement (None when there is no row to carry it)."""
        if len(selects) == 1:
            keys = selects[0].subquery("page_keys")
        else:
            keys = union_all(*(select(s.subquery()) for s in selects)).subquery("page_keys")
        stmt = (
            select(HumanTask, (literal(None) if total is None else total).label("total"))
            .join(keys, HumanTask.id == keys.c.id)
            .order_by(keys.c.flag, self._dir(keys.c.value), self._dir(keys.c.id))
            .limit(size)
            .options(
                joinedload(HumanTask.case).lazyload(Case.org_unit),
                joinedload(HumanTask.org_unit),
                joinedload(HumanTask.assignee).lazyload(User.roles),
            )
        )
        found = db.session.execute(stmt).all()
        return [task for task, _ in found], (found[0][1] if found else None)

    def page(self, parts: list[Branch], total: Any) -> tuple[list[HumanTask], Key | None, int]:
        """The page, the key of the next one and the total (SQL ``total``, read in the same
        statement as the page)."""
        size = self.q.limit + 1
        ordered = [b for b in parts if b.ordered]
        first = "nulls" if self.in_nulls else "values"
        selects = [self.keys(b, size, first if b.ordered else "all") for b in parts]
        rows, counted = self.rows(selects, size, total)
        if counted is None:
            counted = db.session.scalar(select(total))
        with_value = [t for t in rows if getattr(t, self.column.key) is not None]
        if ordered and first == "values" and len(with_value) < size:
            # The ordered branches' tasks without a sort value come after all the others'
            # with one; read every branch's such tasks again, in one order.
            rest = size - len(with_value)
            nulls, _ = self.rows([self.keys(b, rest, "nulls") for b in parts], rest)
            rows = with_value + nulls
        key = None
        if len(rows) == size:
            rows = rows[: self.q.limit]
            value = getattr(rows[-1], self.column.key)
            key = (int(value is None), value, rows[-1].id)
        return rows, key, int(counted or 0)


def page(p: Principal, q: InboxQuery) -> tuple[list[HumanTask], Key | None, int]:
    """One page of the user's tasks, the key of the next page (or None) and the total."""
    where = filters(q)
    parts = branches(p, q.scope)
    if not parts:
        return [], None, 0
    return Pager(q, where).page(parts, total(where, parts))
