"""Admin changes to users and their roles (用户与角色), each with its admin audit event.

Every change runs in one write transaction that first locks the admin chain's head
(``events.lock_head``), then re-reads whether the acting user is still an active admin: admin
changes therefore run one at a time, on every database and across worker processes. With the
two self-guards (an admin can neither deactivate themselves nor drop their own admin role)
that keeps the system from ever losing its last admin: whoever makes a change is an active
admin before it and still one after it.

Role changes need no token revocation: the API loads a user's grants afresh on every request.
Deactivation and a new password revoke every token of the user in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update

from app.admin import events
from app.admin.models import AdminEventHead
from app.auth.access import Forbidden
from app.auth.models import ApiToken
from app.auth.service import hash_password
from app.core.uow import NotFound
from app.database import write_transaction
from app.extensions import db
from app.orgs import service as orgs
from app.orgs.models import OrgUnit, RoleAssignment, User
from workflows import clock

PASSWORD_MIN = 10
# Auditors are read-only whatever else they hold, so an "admin" who is also an auditor could
# change nothing: the two roles go to different people (separation of duties).
EXCLUSIVE_ROLES = frozenset({"admin", "auditor"})


class AdminError(Exception):
    """Bad admin input, naming the field (HTTP 422 unless ``status`` says otherwise)."""

    def __init__(self, field: str, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.field, self.status = field, status


@dataclass
class Change:
    """One admin change in progress: the locked chain head and who acts."""

    head: AdminEventHead
    actor: str

    def record(self, type: str, data: dict[str, Any]) -> None:
        events.append(self.head, type=type, actor=self.actor, data=data)


@contextmanager
def admin_change(actor: str) -> Iterator[Change]:
    """A write transaction holding the admin lock, made by a user who is (still) an active
    admin; commits on success, writes nothing on any error."""
    with write_transaction() as session:
        head = events.lock_head(session)
        if not _is_active_admin(actor):
            raise Forbidden("只有在职的管理员可以修改 only an active admin may do this")
        yield Change(head=head, actor=actor)


def _is_active_admin(username: str) -> bool:
    held = (
        select(RoleAssignment.role)
        .join(User, User.id == RoleAssignment.user_id)
        .where(User.username == username, User.active.is_(True))
    )
    roles = set(db.session.scalars(held))
    return "admin" in roles and "auditor" not in roles


def password_problem(password: str, username: str) -> str | None:
    """Why a password is refused, or None (the policy: length, and not the username)."""
    if len(password) < PASSWORD_MIN:
        return (
            f"密码至少需要 {PASSWORD_MIN} 个字符 "
            f"the password needs at least {PASSWORD_MIN} characters"
        )
    if password.casefold() == username.casefold():
        return "密码不能与用户名相同 the password must not equal the username"
    return None


def grant_fields(assignment: RoleAssignment) -> dict[str, Any]:
    return {
        "role": assignment.role,
        "org_unit": assignment.org_unit.code,
        "include_below": assignment.include_below,
    }


def user_fields(user: User) -> dict[str, Any]:
    """The user as the API shows it: never the password or its hash."""
    grants = sorted((grant_fields(a) for a in user.roles), key=lambda g: (g["org_unit"], g["role"]))
    return {
        "username": user.username,
        "display_name": user.display_name,
        "active": user.active,
        "created_at": user.created_at,
        "roles": grants,
    }


def get_user(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} not found")
    return user


def list_users(
    *,
    org_unit: str | None,
    role: str | None,
    q: str | None,
    active: bool | None,
    after: str | None,
    limit: int,
) -> tuple[list[User], str | None, int]:
    """A page of users by username, the username to continue after, and the total.

    ``org_unit`` and ``role`` match one grant together: the role held in that unit or a unit
    below it.
    """
    conditions = []
    if org_unit or role:
        grant = [RoleAssignment.user_id == User.id]
        if role:
            grant.append(RoleAssignment.role == role)
        if org_unit:
            target = orgs.get_by_code(org_unit)
            if target is None:
                raise AdminError("org_unit", _unknown_unit(org_unit))
            unit_ids = select(OrgUnit.id).where(OrgUnit.path.startswith(target.path))
            grant.append(RoleAssignment.org_unit_id.in_(unit_ids))
        conditions.append(exists().where(and_(*grant)))
    if q and q.strip():
        text = q.strip()
        conditions.append(
            or_(
                User.username.icontains(text, autoescape=True),
                User.display_name.icontains(text, autoescape=True),
            )
        )
    if active is not None:
        conditions.append(User.active.is_(active))
    total = db.session.scalar(select(func.count()).select_from(User).where(*conditions)) or 0
    query = select(User).where(*conditions)
    if after is not None:
        query = query.where(User.username > after)
    rows = list(db.session.scalars(query.order_by(User.username).limit(limit + 1)))
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1].username, int(total)
    return rows, None, int(total)


def create_user(
    *,
    actor: str,
    username: str,
    display_name: str,
    password: str,
    roles: Sequence[Mapping[str, Any]],
) -> User:
    """A new active user with a password and role grants (event ``user.created``)."""
    _check_text("display_name", display_name)
    problem = password_problem(password, username)
    if problem:
        raise AdminError("password", problem)
    password_hash = hash_password(password)  # slow on purpose: before taking the lock
    with admin_change(actor) as change:
        if db.session.scalar(select(User.id).where(User.username == username)) is not None:
            raise AdminError("username", f"用户名已存在 username {username!r} is taken")
        grants = _resolve_grants(roles)
        user = orgs.create_user(
            username=username, display_name=display_name.strip(), password_hash=password_hash
        )
        for role, unit, below in grants:
            orgs.grant(user=user, role=role, unit=unit, include_below=below)
        db.session.flush()
        fields = user_fields(user)
        change.record("user.created", {k: v for k, v in fields.items() if k != "created_at"})
    return get_user(username)


def update_user(*, actor: str, username: str, changes: Mapping[str, Any]) -> User:
    """Change the display name, active flag or password (event ``user.updated``).

    Deactivating a user or setting their password revokes all their tokens at once.
    """
    if "display_name" in changes:
        _check_text("display_name", changes["display_name"])
    password = changes.get("password")
    if password is not None:
        problem = password_problem(password, username)
        if problem:
            raise AdminError("password", problem)
    password_hash = hash_password(password) if password is not None else None
    with admin_change(actor) as change:
        user = get_user(username)
        diff: dict[str, Any] = {}
        name = changes.get("display_name")
        if name is not None and name.strip() != user.display_name:
            diff["display_name"] = {"before": user.display_name, "after": name.strip()}
            user.display_name = name.strip()
        active = changes.get("active")
        if active is not None and active != user.active:
            if not active and username == actor:
                raise AdminError(
                    "active",
                    "不能停用自己的账号 you cannot deactivate yourself: another admin must",
                )
            diff["active"] = {"before": user.active, "after": active}
            user.active = active
        if password_hash is not None:
            diff["password"] = "changed"  # never the password or its hash
            user.password_hash = password_hash
        if not diff:
            return user
        if "password" in diff or diff.get("active", {}).get("after") is False:
            diff["tokens_revoked"] = _revoke_tokens(user)
        change.record("user.updated", {"username": username, "changes": diff})
    return get_user(username)


def replace_roles(*, actor: str, username: str, roles: Sequence[Mapping[str, Any]]) -> User:
    """Replace every role grant of a user (event ``user.roles_replaced``)."""
    with admin_change(actor) as change:
        user = get_user(username)
        grants = _resolve_grants(roles)
        if username == actor and not any(role == "admin" for role, _, _ in grants):
            raise AdminError(
                "roles",
                "不能移除自己的管理员角色 "
                "you cannot remove your own admin role: another admin must",
            )
        before = user_fields(user)["roles"]
        wanted = {(role, unit.id): (unit, below) for role, unit, below in grants}
        for assignment in list(user.roles):
            key = (assignment.role, assignment.org_unit_id)
            if key in wanted:
                assignment.include_below = wanted.pop(key)[1]
            else:
                user.roles.remove(assignment)
        db.session.flush()  # deletes first: a grant removed and re-added stays unique
        for (role, _), (unit, below) in sorted(wanted.items(), key=lambda item: item[0]):
            orgs.grant(user=user, role=role, unit=unit, include_below=below)
        db.session.flush()
        after = user_fields(user)["roles"]
        if after == before:
            return user
        change.record(
            "user.roles_replaced", {"username": username, "before": before, "after": after}
        )
    return get_user(username)


def _resolve_grants(roles: Sequence[Mapping[str, Any]]) -> list[tuple[str, OrgUnit, bool]]:
    """(role, unit, include_below) per requested grant; unknown units, duplicates and an
    admin who is also an auditor are 422s naming the entry."""
    out: list[tuple[str, OrgUnit, bool]] = []
    seen: set[tuple[str, int]] = set()
    for i, grant in enumerate(roles):
        unit = orgs.get_by_code(grant["org_unit"])
        if unit is None:
            raise AdminError(f"roles.{i}.org_unit", _unknown_unit(grant["org_unit"]))
        if (grant["role"], unit.id) in seen:
            raise AdminError(
                f"roles.{i}", "重复的角色授权 the same role in the same unit is given twice"
            )
        seen.add((grant["role"], unit.id))
        out.append((grant["role"], unit, bool(grant.get("include_below", False))))
    if {role for role, _, _ in out} >= EXCLUSIVE_ROLES:
        raise AdminError(
            "roles",
            "管理员与审计员须由不同的人担任 admin and auditor go to different people "
            "(auditors are read-only)",
        )
    return out


def _revoke_tokens(user: User) -> int:
    """Revoke every live token of ``user``; how many were revoked."""
    now = clock.now()
    result = db.session.execute(
        update(ApiToken)
        .where(
            ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def _check_text(field: str, value: str) -> None:
    if not value.strip():
        raise AdminError(field, "不能为空 must not be blank")


def _unknown_unit(code: str) -> str:
    return f"未知的组织单元 unknown org unit {code!r}"
