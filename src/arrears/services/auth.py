"""Signing in and proving who calls: passwords (argon2), lock-out, sessions, CSRF tokens and
scoped integration tokens. Every function takes the time it acts at; nothing reads the clock."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, and_, delete, func, insert, select, update

from arrears.store.tables_web import integration_tokens, login_attempts, sessions, users

_hasher = PasswordHasher()
_dummy: list[str] = []

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=10)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def use_hasher(hasher: PasswordHasher) -> None:
    """Replace the argon2 parameters (tests use cheap ones; production keeps the defaults)."""
    global _hasher
    _hasher = hasher
    _dummy.clear()


def _dummy_hash() -> str:
    """A hash of a password nobody has, so an unknown user costs as much time as a known one."""
    if not _dummy:
        _dummy.append(_hasher.hash("no-such-user-" + secrets.token_hex(8)))
    return _dummy[0]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class SignInFailed(PermissionError):
    def __init__(self) -> None:
        super().__init__("user name or password is wrong")


class SignInLocked(PermissionError):
    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__(
            f"too many failed sign-ins; try again after {until:%H:%M} UTC or ask an admin"
        )


def locked_until(conn: Connection, username: str, now: datetime) -> datetime | None:
    """The end of the lock-out if the last MAX_FAILURES attempts within LOCKOUT all failed."""
    recent = conn.execute(
        select(login_attempts.c.at, login_attempts.c.ok)
        .where(login_attempts.c.username == username, login_attempts.c.at > now - LOCKOUT)
        .order_by(login_attempts.c.at.desc(), login_attempts.c.id.desc())
        .limit(MAX_FAILURES)
    ).all()
    if len(recent) < MAX_FAILURES or any(r.ok for r in recent):
        return None
    last: datetime = recent[0].at
    if last.tzinfo is None:  # SQLite hands back naive UTC
        last = last.replace(tzinfo=now.tzinfo)
    return last + LOCKOUT


def authenticate(
    conn: Connection, username: str, password: str, now: datetime, remote: str | None = None
) -> str:
    """Check the password; returns the username or raises SignInFailed / SignInLocked."""
    until = locked_until(conn, username, now)
    if until is not None:
        raise SignInLocked(until)
    row = conn.execute(
        select(users.c.password_hash, users.c.active).where(users.c.username == username)
    ).first()
    ok = False
    try:
        ok = _hasher.verify(row.password_hash if row else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        ok = False
    ok = ok and row is not None and bool(row.active)
    conn.execute(insert(login_attempts).values(username=username, at=now, ok=ok, remote=remote))
    if not ok:
        raise SignInFailed()
    if row is not None and _hasher.check_needs_rehash(row.password_hash):
        conn.execute(
            update(users)
            .where(users.c.username == username)
            .values(password_hash=_hasher.hash(password))
        )
    return username


@dataclass(frozen=True)
class Session:
    username: str
    csrf: str
    expires_at: datetime


def open_session(conn: Connection, username: str, now: datetime) -> tuple[str, Session]:
    """A new session; returns the secret id for the cookie (only its hash is stored)."""
    sid = secrets.token_urlsafe(32)
    session = Session(username, secrets.token_urlsafe(24), now + SESSION_TTL)
    conn.execute(
        insert(sessions).values(
            id_hash=sha256(sid),
            username=username,
            csrf=session.csrf,
            created_at=now,
            expires_at=session.expires_at,
        )
    )
    return sid, session


def find_session(conn: Connection, sid: str, now: datetime) -> Session | None:
    row = conn.execute(
        select(sessions.c.username, sessions.c.csrf, sessions.c.expires_at)
        .join(users, users.c.username == sessions.c.username)
        .where(sessions.c.id_hash == sha256(sid), users.c.active.is_(True))
    ).first()
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=now.tzinfo)
    if expires <= now:
        return None
    return Session(row.username, row.csrf, expires)


def close_session(conn: Connection, sid: str) -> None:
    conn.execute(delete(sessions).where(sessions.c.id_hash == sha256(sid)))


def csrf_matches(session: Session, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(session.csrf, token)


class Scope(StrEnum):
    BORROWERS_WRITE = "borrowers:write"
    ACCOUNTS_WRITE = "accounts:write"
    PAYMENTS_WRITE = "payments:write"
    CASES_READ = "cases:read"
    WEBHOOKS_WRITE = "webhooks:write"


ALL_SCOPES = frozenset(Scope)


class TokenInvalid(PermissionError):
    def __init__(self) -> None:
        super().__init__("the bearer token is unknown, malformed or revoked; ask an admin")


class ScopeUnknown(ValueError):
    def __init__(self, scope: str) -> None:
        super().__init__(f"unknown scope {scope!r}; use {', '.join(s.value for s in Scope)}")


@dataclass(frozen=True)
class Integration:
    token_id: str
    name: str
    scopes: frozenset[Scope]


def parse_scopes(texts: list[str] | str) -> frozenset[Scope]:
    items = texts.split() if isinstance(texts, str) else texts
    out = set()
    for item in items:
        try:
            out.add(Scope(item))
        except ValueError:
            raise ScopeUnknown(item) from None
    return frozenset(out)


def issue_token(conn: Connection, name: str, scopes: frozenset[Scope], now: datetime) -> str:
    """A new token `arr_<id>_<secret>`; shown once, stored as the hash of the secret."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        insert(integration_tokens).values(
            id=token_id,
            name=name,
            secret_hash=sha256(secret),
            scopes=" ".join(sorted(scopes)),
            created_at=now,
        )
    )
    return f"arr_{token_id}_{secret}"


def check_token(conn: Connection, token: str) -> Integration:
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != "arr" or not token_id or not secret:
        raise TokenInvalid()
    row = conn.execute(
        select(integration_tokens).where(
            and_(integration_tokens.c.id == token_id, integration_tokens.c.revoked_at.is_(None))
        )
    ).first()
    if row is None or not hmac.compare_digest(row.secret_hash, sha256(secret)):
        raise TokenInvalid()
    return Integration(token_id, row.name, parse_scopes(row.scopes))


def revoke_token(conn: Connection, token_id: str, now: datetime) -> bool:
    return bool(
        conn.execute(
            update(integration_tokens)
            .where(integration_tokens.c.id == token_id, integration_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
    )


def count_sessions(conn: Connection, username: str) -> int:
    return int(
        conn.scalar(
            select(func.count()).select_from(sessions).where(sessions.c.username == username)
        )
        or 0
    )
