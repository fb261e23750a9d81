"""Org units (a tree) and users with roles per org unit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import UTCDateTime
from app.extensions import db

ORG_KINDS = ("district", "street", "community", "grid", "building", "department")
ROLES = (
    "grid_worker",
    "building_head",
    "community_staff",
    "community_leader",
    "street_dispatcher",
    "department_staff",
    "supervisor",
    "volunteer",
    "resident",
    "auditor",
    "designer",
    "admin",
)


class OrgUnit(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "org_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    # Materialised path of ids ("/1/4/9/"): "this unit and everything below it" is one LIKE.
    path: Mapped[str] = mapped_column(String(400), index=True, default="/")

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id])

    def ancestors(self) -> list[OrgUnit]:
        """This unit and its ancestors, nearest first."""
        chain, unit = [], self
        while unit is not None:
            chain.append(unit)
            unit = unit.parent
        return chain


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class RoleAssignment(db.Model):  # type: ignore[name-defined,misc]
    """A role held in one org unit; ``include_below`` extends it to the units under it."""

    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("user_id", "role", "org_unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(40))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    include_below: Mapped[bool] = mapped_column(default=False)

    user: Mapped[User] = relationship(back_populates="roles")
    org_unit: Mapped[OrgUnit] = relationship(lazy="joined")
