"""The inbox query (待办): one page of a user's tasks and their total, shaped for the indexes.

At a million task rows the obvious query (join the org units, test path prefixes, OR the
grants together, sort nulls last with a CASE over everything) reads every open task of a role
and sorts it. So (bench/inbox.py, docs/performance.md):

- the scope is split into disjoint branches: mine (``assignee_id = me``: ``ix_tasks_mine``),
  one per role held (unassigned, ``role = r AND org_unit_id IN (…)``: ``ix_tasks_group``;
  the units below an ``include_below`` grant are a subquery on the small org tree), or every
  unassigned task for those who read all (``ix_tasks_unassigned``);
- a person's or a role's branch is read once from its index, as a CTE that gives both its
  count and its sorted keys (no index orders a list of units, and sorting a few thousand
  keys is cheap); the branch of everything unassigned is counted from its index and read in
  index order, tasks with a due time first (the keyset ``(due_at, id) > (v, id)`` is a row
  value the index seeks to), then those without, so a deep page costs what the first does;
- each branch gives its next ``limit + 1`` keys; the database orders their union and joins
  the rows, with the exact total, in one statement.

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
    any_,
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


def units_at_or_below(paths: Collection[str], ids: Collection[int] = ()) -> Select[Any]:
    """SQL: the ids of the units ``ids`` and of those at or below ``paths`` (the database
    reads the small org tree itself: a list of a thousand ids costs PostgreSQL more to plan
    than the query costs to run)."""
    return select(OrgUnit.id).where(
        or_(
            *(OrgUnit.path.startswith(path) for path in sorted(paths)),
            *([OrgUnit.id.in_(sorted(ids))] if ids else []),
        )
    )


def in_units(units: Select[Any]) -> ColumnElement[bool]:
    """SQL: a task's unit is one of ``units``. PostgreSQL gets ``= ANY(ARRAY(…))``, which it
    probes the index with unit by unit; for ``IN (subquery)`` it would hash-join the role's
    tasks of every unit instead (a street dispatcher's: every street's, 3 ms against 0.9).
    SQLite probes unit by unit either way."""
    if db.session.get_bind().dialect.name == "postgresql":
        return HumanTask.org_unit_id == any_(func.array(units.scalar_subquery()))
    return HumanTask.org_unit_id.in_(units)


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
        role: in_units(units_at_or_below(below[role], ids))
        if role in below
        else HumanTask.org_unit_id.in_(sorted(ids))
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
        conditions.append(in_units(units_at_or_below([target.path])))
    now = clock.now()
    if q.overdue is True:
        conditions.append(HumanTask.due_at < now)
    elif q.overdue is False:
        conditions.append(or_(HumanTask.due_at.is_(None), HumanTask.due_at >= now))
    if q.due_before is not None:
        conditions.append(HumanTask.due_at < q.due_before)
    return conditions


class Pager:
    """The rows of one page, in the order of ``q.sort``, nulls last, after ``q.after``, and
    the total, in one statement.

    A branch that no index orders (mine, a role's units) is read once from its index, as a
    CTE that both its count and its sorted keys (``(due_at IS NULL), due_at, id``) come from.
    The branch of everything unassigned is counted from its index and read in index order,
    as two ranges: the tasks with a due time, and then, only when the page is not full with
    them, those without.
    """

    def __init__(self, q: InboxQuery, where: list[ColumnElement[bool]], parts: list[Branch]):
        self.q, self.where, self.parts = q, where, parts
        self.column = HumanTask.due_at if q.sort.lstrip("-") == "due_at" else HumanTask.created_at
        self.descending = q.sort.startswith("-")
        after = q.after
        self.in_nulls = after is not None and (bool(after[0]) or after[1] is None)
        self.flag = case((self.column.is_(None), 1), else_=0)
        self.read: dict[int, Any] = {
            i: select(self.flag.label("flag"), self.column.label("value"), HumanTask.id.label("id"))
            .where(*where, b.where)
            .cte(f"branch_{i}")
            for i, b in enumerate(parts)
            if not b.ordered
        }

    def _dir(self, expr: Any) -> Any:
        return expr.desc() if self.descending else expr

    def _beyond(self, value: Any, ident: Any) -> ColumnElement[bool]:
        """Past the cursor among the tasks with a sort value (a row value index seeks to)."""
        assert self.q.after is not None
        key, bound = tuple_(value, ident), tuple_(self.q.after[1], self.q.after[2])
        return key < bound if self.descending else key > bound

    def _id_beyond(self, ident: Any) -> ColumnElement[bool]:
        assert self.q.after is not None
        return ident < self.q.after[2] if self.descending else ident > self.q.after[2]

    def total(self) -> Any:
        """SQL: the number of tasks in all branches."""
        counts = []
        for i, b in enumerate(self.parts):
            source = self.read.get(i)
            if source is not None:
                count = select(func.count()).select_from(source)
            else:
                count = select(func.count()).select_from(HumanTask).where(*self.where, b.where)
            counts.append(count.scalar_subquery())
        out: Any = counts[0]
        for more in counts[1:]:
            out = out + more
        return out

    def keys(self, i: int, size: int, nulls: bool) -> Select[Any]:
        """The next ``size`` keys of branch ``i``: with a sort value then without (a sorted
        branch: ``nulls`` keeps only those without), or those of one range (ordered)."""
        if i in self.read:
            src = self.read[i]
            value, ident, flag = src.c.value, src.c.id, src.c.flag
            order = [flag, self._dir(value), self._dir(ident)]
        else:
            value, ident, flag = self.column, HumanTask.id, self.flag
            order = [self._dir(ident)] if nulls else [self._dir(value), self._dir(ident)]
        extra: list[ColumnElement[bool]] = []
        if nulls:
            extra.append(value.is_(None))
            if self.in_nulls:
                extra.append(self._id_beyond(ident))
        elif i in self.read:
            if self.q.after is not None:
                extra.append(
                    and_(value.is_(None), self._id_beyond(ident))
                    if self.in_nulls
                    else or_(value.is_(None), self._beyond(value, ident))
                )
        else:
            extra.append(value.is_not(None))
            if self.q.after is not None:
                extra.append(self._beyond(value, ident))
        stmt = select(flag.label("flag"), value.label("value"), ident.label("id"))
        if i not in self.read:
            stmt = stmt.where(*self.where, self.parts[i].where)
        return stmt.where(*extra).order_by(*order).limit(size)

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

    def page(self) -> tuple[list[HumanTask], Key | None, int]:
        """The page, the key of the next one and the total."""
        size, total = self.q.limit + 1, self.total()
        # past the tasks with a sort value, an ordered branch reads its second range
        selects = [
            self.keys(i, size, nulls=self.in_nulls and b.ordered) for i, b in enumerate(self.parts)
        ]
        rows, counted = self.rows(selects, size, total)
        if counted is None:
            counted = db.session.scalar(select(total))
        with_value = [t for t in rows if getattr(t, self.column.key) is not None]
        if any(b.ordered for b in self.parts) and not self.in_nulls and len(with_value) < size:
            # The ordered branch's tasks without a sort value come after every branch's with
            # one: read every branch's such tasks again, in one order.
            rest = size - len(with_value)
            nulls, _ = self.rows([self.keys(i, rest, True) for i in range(len(self.parts))], rest)
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
    return Pager(q, where, parts).page()
