"""The tables the unit of work writes: versions, instances, cases, tasks, timers, events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, event, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import JSONType, UTCDateTime
from app.extensions import db
from app.orgs.models import OrgUnit, User


class ProcessDefinition(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "process_definitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    versions: Mapped[list[ProcessVersion]] = relationship(
        back_populates="definition", order_by="ProcessVersion.version"
    )


class ProcessVersion(db.Model):  # type: ignore[name-defined,misc]
    """An immutable deployed version: its source files and its serialized spec, stored once."""

    __tablename__ = "process_versions"
    __table_args__ = (
        UniqueConstraint("definition_id", "version"),
        UniqueConstraint("definition_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    # Large and needed only on a spec-cache miss or by designers: loaded on first access.
    files: Mapped[dict[str, str]] = mapped_column(JSONType, deferred=True)
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deployed_by: Mapped[str] = mapped_column(String(80))

    definition: Mapped[ProcessDefinition] = relationship(back_populates="versions", lazy="joined")


class ProcessInstance(db.Model):  # type: ignore[name-defined,misc]
    """The serialized engine state of one case; ``revision`` guards against lost updates."""

    __tablename__ = "process_instances"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"), index=True)
    state: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="running")
    revision: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    version: Mapped[ProcessVersion] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012


# Every action rewrites the state (~10 KB of JSON). PostgreSQL's default pglz compression cost
# a fifth of the database's time per timer firing, lz4 is several times cheaper (a server
# built without it keeps its default); and kept in the row up to a page (toast_tuple_target),
# the ~2.6 KB compressed state is no longer written to the TOAST table and its index on every
# update. Migration 0007 does the same on existing databases.
STATE_STORAGE = """
ALTER TABLE process_instances SET (toast_tuple_target = 8160);
DO $$ BEGIN
  EXECUTE 'ALTER TABLE process_instances ALTER COLUMN state SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'process_instances.state keeps the default compression: %', SQLERRM;
END $$
"""


@event.listens_for(ProcessInstance.__table__, "after_create")
def _store_state_cheaply(_table: Any, connection: Any, **_kw: Any) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(STATE_STORAGE))


class Case(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_unit_status", "org_unit_id", "status"),
        # The scheduler skips the timers of suspended (挂起) cases on every claim: a partial
        # index holds just those few, so a city's million cases are never scanned for it.
        Index(
            "ix_cases_paused",
            "id",
            postgresql_where=text("paused_at IS NOT NULL"),
            sqlite_where=text("paused_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    tracking_code: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(20))
    request_type: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(300), default="")
    reporter: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    resident: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    urgent: Mapped[bool] = mapped_column(default=False)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    mode: Mapped[str | None] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(20), default="accept")
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    priority: Mapped[int] = mapped_column(default=3)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))
    # SLA (app/sla): 挂起 pause start, working time paused so far, 延期 count, overdue flag
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_seconds: Mapped[int] = mapped_column(default=0, server_default="0")
    extension_count: Mapped[int] = mapped_column(default=0, server_default="0")
    sla_flag: Mapped[str | None] = mapped_column(String(20))  # None | overdue | flagged
    # Head of the audit chain, kept on the row so appending needs no read of the log.
    event_seq: Mapped[int] = mapped_column(default=0)
    event_hash: Mapped[str] = mapped_column(String(64), default="0" * 64)

    org_unit: Mapped[OrgUnit] = relationship(lazy="joined")
    instance: Mapped[ProcessInstance | None] = relationship()


def _where(condition: str) -> dict[str, Any]:
    """A partial index's condition, on both backends."""
    return {f"{dialect}_where": text(condition) for dialect in ("sqlite", "postgresql")}


class HumanTask(db.Model):  # type: ignore[name-defined,misc]
    """The inbox projection of a ready user task; its id is the engine's task id."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        # The inbox (app/tasks/inbox.py): unassigned tasks by role and unit (group), assigned
        # ones by assignee (mine), unassigned ones in due order (for those who read all).
        # Split by assignee_id: in one index with the assigned ones, the big NULL group looks
        # like a few rows to SQLite's statistics (an average per key) and draws its planner.
        # The role before the unit: a district-wide grant reads its role's tasks, not every
        # open task (docs/performance.md weighs the two orders); assignee_id trails only so
        # that SQLite 3.40 reads the partial indexes alone (it does not take their WHERE as
        # covered).
        Index(
            "ix_tasks_group",
            *("status", "role", "org_unit_id", "due_at", "id", "assignee_id"),
            **_where("assignee_id IS NULL"),
        ),
        Index(
            "ix_tasks_mine",
            *("assignee_id", "status", "due_at", "id"),
            **_where("assignee_id IS NOT NULL"),
        ),
        Index(
            "ix_tasks_unassigned",
            *("status", "due_at", "id", "assignee_id"),
            **_where("assignee_id IS NULL"),
        ),
        Index("ix_tasks_case", "case_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"))
    bpmn_id: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(40))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # 委派 delegation: the owner lent the task to the assignee and gets it back on resolve.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(20), default="open")
    stage: Mapped[str | None] = mapped_column(String(20))
    form: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(default=3)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by: Mapped[str | None] = mapped_column(String(80))
    revision: Mapped[int] = mapped_column(default=1)

    case: Mapped[Case] = relationship()
    org_unit: Mapped[OrgUnit] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])

    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012


class Timer(db.Model):  # type: ignore[name-defined,misc]
    """A waiting timer: the source of truth the scheduler claims with a lease."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "status", "due_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # engine task id
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    bpmn_id: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    interrupting: Mapped[bool] = mapped_column(default=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | incident
    lock_owner: Mapped[str | None] = mapped_column(String(80))
    lock_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retries: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012


class CaseEvent(db.Model):  # type: ignore[name-defined,misc]
    """Append-only, hash-chained audit log of one case."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int]
    type: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class CaseComment(db.Model):  # type: ignore[name-defined,misc]
    """A caseworker's note on a case; written with its audit event, never edited."""

    __tablename__ = "case_comments"
    __table_args__ = (Index("ix_comments_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    author: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    # Shown to the resident on the tracking page (公开答复) or kept internal.
    public: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseAttachment(db.Model):  # type: ignore[name-defined,misc]
    """A file on a case: the bytes live outside the database, addressed by their SHA-256."""

    __tablename__ = "case_attachments"
    __table_args__ = (Index("ix_attachments_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
