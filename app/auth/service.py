"""Login, bearer tokens and the login slowdown.

Passwords are argon2 hashes (argon2-cffi ``PasswordHasher``). A token is 32 random bytes,
handed out once; the database keeps only its sha256. Failed logins are counted per username
and per client address in the ``login_failures`` table (shared by every worker process):
after ``USER_FREE`` failures of a username (``ADDR_FREE`` of an address) within ``WINDOW``,
each further failure blocks that key for an exponentially growing time (2 s, 4 s, 8 s, ...,
at most ``MAX_DELAY``); a login attempted while blocked is refused without checking the
password. Unknown usernames are counted and timed like known ones, so neither the answer nor
the slowdown tells whether a user exists.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import and_, bindparam, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.auth.models import ApiToken, LoginFailure
from app.database import write_transaction
from app.extensions import db
from app.orgs.models import User
from workflows import clock

DEFAULT_TTL = timedelta(hours=12)
USER_FREE = 3
ADDR_FREE = 20
WINDOW = timedelta(hours=1)
MAX_DELAY = timedelta(minutes=15)

_hasher = PasswordHasher()
_dummy_hash: str | None = None


class BadCredentials(Exception):
    """Unknown user, wrong password or inactive user: one answer for all three."""


class LoginThrottled(Exception):
    """Too many recent failures for this username or address; retry after ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many failed logins; retry in {retry_after} s")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _ttl() -> timedelta:
    seconds = current_app.config.get("API_TOKEN_TTL_SECONDS")
    return timedelta(seconds=int(seconds)) if seconds else DEFAULT_TTL


def _keys(username: str, address: str | None) -> list[tuple[str, int]]:
    """The counters a login attempt touches, each with its free failures (config:
    LOGIN_USER_FREE, LOGIN_ADDR_FREE)."""
    config = current_app.config
    keys = [(f"user:{username[:150]}", int(config.get("LOGIN_USER_FREE", USER_FREE)))]
    if address:
        keys.append((f"addr:{address[:150]}", int(config.get("LOGIN_ADDR_FREE", ADDR_FREE))))
    return keys


def _check_password(user: User | None, password: str) -> bool:
    """Verify in constant-ish time: unknown users cost one argon2 verify too."""
    global _dummy_hash
    if user is None or not user.active or not user.password_hash:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_hex(16))
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_dummy_hash, password)
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def blocked_for(keys: list[str], now: datetime) -> int:
    """Seconds until every key may try again (0: not blocked)."""
    rows = db.session.scalars(select(LoginFailure).where(LoginFailure.key.in_(keys)))
    waits = [(r.blocked_until - now).total_seconds() for r in rows if r.blocked_until]
    longest = max(waits, default=0.0)
    return int(longest) + 1 if longest > 0 else 0


def _delay(failures: int, free: int) -> timedelta | None:
    if failures <= free:
        return None
    return min(timedelta(seconds=2 ** min(failures - free, 20)), MAX_DELAY)


def record_failure(keys: list[tuple[str, int]], now: datetime) -> None:
    """Count one failure against each key; purge counters nobody touched within WINDOW."""
    for attempt in range(2):  # a concurrent first failure may insert the same key
        try:
            with write_transaction() as session:
                session.execute(
                    delete(LoginFailure).where(
                        LoginFailure.last_failed_at < now - WINDOW,
                        or_(LoginFailure.blocked_until.is_(None), LoginFailure.blocked_until < now),
                    )
                )
                for key, free in keys:
                    row = session.get(LoginFailure, key)
                    if row is None:
                        row = LoginFailure(key=key, failures=0, last_failed_at=now)
                        session.add(row)
                    elif row.last_failed_at < now - WINDOW:
                        row.failures = 0
                    row.failures += 1
                    row.last_failed_at = now
                    delay = _delay(row.failures, free)
                    row.blocked_until = now + delay if delay else None
            return
        except IntegrityError:
            if attempt:
                raise


def login(username: str, password: str, *, address: str | None) -> tuple[str, ApiToken]:
    """Check the password and issue a token: (raw token, its row). Raises BadCredentials or
    LoginThrottled."""
    now = clock.now()
    keys = _keys(username, address)
    wait = blocked_for([k for k, _ in keys], now)
    if wait:
        raise LoginThrottled(wait)
    user = db.session.scalar(select(User).where(User.username == username))
    if not _check_password(user, password):
        record_failure(keys, now)
        raise BadCredentials("wrong username or password")
    assert user is not None
    user_id = user.id
    with write_transaction() as session:
        session.execute(delete(LoginFailure).where(LoginFailure.key == keys[0][0]))
        fresh = session.get(User, user_id)
        assert fresh is not None and fresh.password_hash is not None
        if _hasher.check_needs_rehash(fresh.password_hash):
            fresh.password_hash = _hasher.hash(password)
        raw, token = _new_token(user_id, now)
    return raw, token


def issue_token(user_id: int) -> tuple[str, ApiToken]:
    """A token for a user without a password check (CLI, tests, single sign-on)."""
    with write_transaction():
        return _new_token(user_id, clock.now())


def _new_token(user_id: int, now: datetime) -> tuple[str, ApiToken]:
    raw = secrets.token_urlsafe(32)
    token = ApiToken(
        token_hash=token_digest(raw), user_id=user_id, created_at=now, expires_at=now + _ttl()
    )
    db.session.add(token)
    return raw, token


def verify(raw: str) -> User | None:
    """The active user a live (unexpired, unrevoked) token belongs to, else None."""
    if not raw:
        return None
    params = {"digest": token_digest(raw), "now": clock.now()}
    return db.session.execute(_verify_query(), params).unique().scalar_one_or_none()


@functools.cache
def _verify_query() -> Any:
    """Built once (every API request runs it): the user with their roles, in one read."""
    return (
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(
            and_(
                ApiToken.token_hash == bindparam("digest"),
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > bindparam("now"),
                User.active.is_(True),
            )
        )
        .options(joinedload(User.roles))
    )


def revoke(raw: str) -> bool:
    """Revoke a token; False when it was unknown or already revoked."""
    with write_transaction() as session:
        token = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(raw)))
        if token is None or token.revoked_at is not None:
            return False
        token.revoked_at = clock.now()
    return True
