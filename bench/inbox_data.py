"""The inbox benchmark's data: 1,000 org units, 300,000 cases, 1,000,000 task rows.

Rows are generated in Python from one seeded random stream and loaded in bulk: COPY on
PostgreSQL, one ``executemany`` transaction on SQLite; then ANALYZE (PostgreSQL: VACUUM
ANALYZE, so that counts can be index-only as autovacuum would allow in production). The
schema comes from the migrations, so the benchmark measures the indexes production has.

The tree (区 → 街道 → 社区 → 网格, 部门): 1 district, 10 streets of 8 communities of 10 grids
(800 grids), 10 departments per street and 9 at the district: 1,000 units. One user per role
and unit, as the roles' tasks land (grid workers on grids, community staff and leaders on
communities with include_below, street dispatchers and supervisors on streets with
include_below, department staff on departments), plus a district supervisor and an auditor.

A third of the cases are open, each with one open task (100,000) and two completed ones; the
rest are closed with three or four completed tasks (900,000 in all). A case's first task is
its grid worker's (接单), the others go to roles by ``ROLES`` weights; a quarter of the open
tasks are claimed, 70 % of the completed ones were; a tenth have no due time.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CASES = 300_000
STREETS, COMMUNITIES, GRIDS, DEPARTMENTS = 10, 8, 10, 10
DISTRICT_DEPARTMENTS = 9
ROLES = (  # role, weight, the level its task lands on
    ("grid_worker", 45, "grid"),
    ("community_staff", 15, "community"),
    ("community_leader", 10, "community"),
    ("street_dispatcher", 10, "street"),
    ("supervisor", 5, "street"),
    ("department_staff", 15, "department"),
)
LEVEL_OF = {role: level for role, _, level in ROLES}
MODES = ("immediate", "immediate", "immediate", "proxy", "accompany", "home_visit", "urgent")
TASK_COLUMNS = (
    "id case_id instance_id bpmn_id name role org_unit_id assignee_id owner_id status stage "
    "form priority created_at due_at completed_at completed_by revision"
)
CASE_COLUMNS = (
    "id code tracking_code title description category request_type channel address reporter "
    "resident urgent org_unit_id mode stage status priority opened_at due_at closed_at "
    "instance_id paused_seconds extension_count event_seq event_hash"
)


@dataclass
class Tree:
    """Units as (id, code, name, kind, parent_id, path) and the ids the generator needs."""

    units: list[tuple[int, str, str, str, int | None, str]] = field(default_factory=list)
    grids: list[tuple[int, int, int]] = field(default_factory=list)  # grid, community, street
    departments: dict[int, list[int]] = field(default_factory=dict)  # street → departments

    def add(self, code: str, name: str, kind: str, parent: int | None) -> int:
        unit_id = len(self.units) + 1
        parent_path = self.units[parent - 1][5] if parent else "/"
        self.units.append((unit_id, code, name, kind, parent, f"{parent_path}{unit_id}/"))
        return unit_id


def build_tree() -> Tree:
    tree = Tree()
    district = tree.add("BX-D", "基准区 Bench district", "district", None)
    for s in range(STREETS):
        street = tree.add(f"BX-S{s}", f"第{s}街道 Street {s}", "street", district)
        for c in range(COMMUNITIES):
            community = tree.add(f"BX-C{s}{c}", f"第{s}-{c}社区", "community", street)
            for g in range(GRIDS):
                grid = tree.add(f"BX-G{s}{c}{g}", f"第{s}-{c}-{g}网格", "grid", community)
                tree.grids.append((grid, community, street))
        tree.departments[street] = [
            tree.add(f"BX-P{s}-{d}", f"第{s}街道 部门{d}", "department", street)
            for d in range(DEPARTMENTS)
        ]
    for d in range(DISTRICT_DEPARTMENTS):
        tree.add(f"BX-P-{d}", f"区部门{d}", "department", district)
    return tree


def build_users(tree: Tree) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Users (id, username, display_name) and role rows (id, user, role, unit, below)."""
    users: list[tuple[Any, ...]] = []
    roles: list[tuple[Any, ...]] = []

    def user(username: str, role: str, unit: int, below: bool) -> None:
        users.append((len(users) + 1, username, username))
        roles.append((len(roles) + 1, len(users), role, unit, below))

    for unit_id, code, _, kind, _, _ in tree.units:
        if kind == "grid":
            user(f"gw-{code}", "grid_worker", unit_id, False)
        elif kind == "community":
            user(f"cs-{code}", "community_staff", unit_id, True)
            user(f"cl-{code}", "community_leader", unit_id, True)
        elif kind == "street":
            user(f"sd-{code}", "street_dispatcher", unit_id, True)
            user(f"sv-{code}", "supervisor", unit_id, True)
        elif kind == "department":
            user(f"ds-{code}", "department_staff", unit_id, False)
    user("sv-district", "supervisor", 1, True)
    user("bx-auditor", "auditor", 1, True)
    return users, roles


class Generator:
    """Cases and tasks from one seeded stream; ``owner`` maps (role, unit) to its user id."""

    def __init__(self, tree: Tree, owner: dict[tuple[str, int], int], seed: int = 5) -> None:
        self.tree, self.owner, self.rng = tree, owner, random.Random(seed)
        self.roles = [r for r, _, _ in ROLES]
        self.weights = [w for _, w, _ in ROLES]

    def unit_for(self, role: str, grid: tuple[int, int, int]) -> int:
        level = LEVEL_OF[role]
        if level == "department":
            return self.rng.choice(self.tree.departments[grid[2]])
        return grid[{"grid": 0, "community": 1, "street": 2}[level]]

    def task(
        self, case_id: int, role: str, unit: int, created: datetime, *, done: bool
    ) -> tuple[Any, ...]:
        rng = self.rng
        due = created + timedelta(hours=rng.randrange(4, 240)) if rng.random() < 0.9 else None
        claimed = rng.random() < (0.7 if done else 0.25)
        assignee = self.owner.get((role, unit)) if claimed else None
        completed = created + timedelta(minutes=rng.randrange(5, 4000)) if done else None
        task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        return (
            task_id, case_id, 1, f"t_{role}", f"{role} task", role, unit, assignee, None,
            "completed" if done else "open", "dispatch", None, rng.randint(1, 5), created, due,
            completed, f"user{assignee}" if done else None, 1,
        )  # fmt: skip

    def rows(self, cases: int) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
        """(case row, its task rows) for every case."""
        rng = self.rng
        for case_id in range(1, cases + 1):
            grid = rng.choice(self.tree.grids)
            is_open = case_id % 3 == 0
            span = 30 * 86400 if is_open else 730 * 86400
            opened = NOW - timedelta(seconds=rng.randrange(span))
            tasks, at = [], opened
            steps = 2 if is_open else 3 + case_id % 3 % 2
            for step in range(steps):
                role = "grid_worker" if step == 0 else rng.choices(self.roles, self.weights)[0]
                tasks.append(self.task(case_id, role, self.unit_for(role, grid), at, done=True))
                at = tasks[-1][15]
            if is_open:
                role = rng.choices(self.roles, self.weights)[0]
                tasks.append(self.task(case_id, role, self.unit_for(role, grid), at, done=False))
            case = (
                case_id, f"BX-{case_id:07d}", f"T{case_id:09d}", f"基准案件 {case_id}", "",
                "0101", "help", "hotline", "", "{}", "{}", False, grid[0], rng.choice(MODES),
                "dispatch" if is_open else "closed", "open" if is_open else "closed",
                rng.randint(1, 5), opened, opened + timedelta(days=5),
                None if is_open else at, None, 0, 0, 0, "0" * 64,
            )  # fmt: skip
            yield case, tasks


def chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class Loader:
    """Bulk inserts through the driver: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"
        self.raw = engine.raw_connection()
        self.cursor = self.raw.cursor()
        if not self.pg:
            self.cursor.execute("PRAGMA synchronous=OFF")
            self.cursor.execute("BEGIN")

    def put(self, table: str, columns: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Write ``rows`` into the ``columns`` (names separated by spaces) of ``table``."""
        names = ", ".join(columns.split())
        if self.pg:
            with self.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(columns.split()))
        self.cursor.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({marks})", [_sqlite(row) for row in rows]
        )

    def finish(self) -> None:
        if self.pg:
            self.raw.commit()
            for table in ("org_units", "users", "role_assignments", "cases"):
                self.cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            self.raw.commit()
        else:
            self.cursor.execute("COMMIT")
            self.cursor.execute("PRAGMA synchronous=NORMAL")
        self.raw.close()


def _sqlite(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Values as SQLAlchemy stores them in SQLite: naive UTC text datetimes."""
    return tuple(
        v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v
        for v in row
    )


def load(engine: Engine, cases: int = CASES) -> dict[str, int]:
    """Fill the empty, migrated schema; the counts of what was written."""
    tree = build_tree()
    users, roles = build_users(tree)
    owner = {(role, unit): user for _, user, role, unit, _ in roles}
    loader = Loader(engine)
    loader.put("process_definitions", "id key name created_at", [(1, "bx", "bench", NOW)])
    loader.put(
        "process_versions",
        "id definition_id version content_hash files spec_json deployed_at deployed_by",
        [(1, 1, 1, "0" * 64, "{}", "{}", NOW, "bench")],
    )
    loader.put(
        "process_instances",
        "id version_id state status revision created_at updated_at",
        [(1, 1, "{}", "running", 1, NOW, NOW)],
    )
    loader.put("org_units", "id code name kind parent_id path", tree.units)
    loader.put(
        "users",
        "id username display_name active created_at",
        [(*u, True, NOW) for u in users],
    )
    loader.put("role_assignments", "id user_id role org_unit_id include_below", roles)
    counts = {"units": len(tree.units), "users": len(users), "cases": 0, "tasks": 0, "open": 0}
    for batch in chunks(Generator(tree, owner).rows(cases), 20_000):
        loader.put("cases", CASE_COLUMNS, [c for c, _ in batch])
        tasks = [t for _, ts in batch for t in ts]
        loader.put("human_tasks", TASK_COLUMNS, tasks)
        counts["cases"] += len(batch)
        counts["tasks"] += len(tasks)
        counts["open"] += sum(t[9] == "open" for t in tasks)
    loader.finish()
    analyze(engine)
    return counts


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
