"""Signing in and proving who calls: passwords (argon2), lock-out, sessions, CSRF tokens and
scoped integration tokens. Every function takes the time it acts at; nothing reads the clock.

Lock-out (sign-in and the borrower page) counts tries, not failures after the fact: a try is
taken from every counter that applies — the account (or borrower), the source address, and for
the borrower page the pair — by one conditional UPDATE each, in one transaction committed
*before* the answer is checked. Thirty concurrent guesses therefore get at most the limit
checked; the rest are refused unchecked. A success gives the account's counter back (and the
source its one try); counters reset when their window ends. Counter keys are keyed hashes: no
typed name, password or address is stored. The policy is in docs/web.md."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, and_, case, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.store.tables_web import (
    auth_throttle,
    integration_tokens,
    login_attempts,
    sessions,
    users,
)

_hasher = PasswordHasher()
_dummy: list[str] = []

MAX_FAILURES = 5  # sign-in tries per account per LOCKOUT window
SOURCE_MAX_FAILURES = 20  # sign-in tries per source address per window, across accounts
LOCKOUT = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=10)
TOKEN_TTL = timedelta(days=90)
UNKNOWN_ACCOUNT = "(unknown)"


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


@dataclass(frozen=True)
class Limit:
    """At most `tries` tries per `window` on the counter `key` (a keyed hash, see `counter`)."""

    key: str
    tries: int
    window: timedelta


def counter(secret: bytes, kind: str, *parts: str) -> str:
    """A counter's key: `kind:` and a keyed hash of what it counts (never the value itself)."""
    body = "\x1f".join(parts).encode()
    return f"{kind}:{hmac.new(secret, body, hashlib.sha256).hexdigest()[:40]}"


def _aware(value: datetime, now: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=now.tzinfo)


def take_try(engine: Engine, limits: list[Limit], now: datetime) -> datetime | None:
    """Take one try from every counter, in a transaction of its own, committed before the
    caller checks the answer. None: taken; else nothing is taken and the time the exhausted
    counter reopens is returned. Atomic on SQLite and PostgreSQL: the row is created if missing
    (INSERT … ON CONFLICT DO NOTHING), then one conditional UPDATE takes the try only while
    tries remain, so concurrent tries never exceed the limit."""
    dialect_insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    with engine.begin() as conn:
        for limit in sorted(limits, key=lambda lim: lim.key):  # one lock order: no deadlock
            conn.execute(
                dialect_insert(auth_throttle)
                .values(key=limit.key, tries=0, window_ends=now + limit.window)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            expired = auth_throttle.c.window_ends <= now
            taken = conn.execute(
                update(auth_throttle)
                .where(
                    auth_throttle.c.key == limit.key,
                    or_(expired, auth_throttle.c.tries < limit.tries),
                )
                .values(
                    tries=case((expired, 1), else_=auth_throttle.c.tries + 1),
                    window_ends=case(
                        (expired, now + limit.window), else_=auth_throttle.c.window_ends
                    ),
                )
            ).rowcount
            if not taken:
                ends = conn.scalar(
                    select(auth_throttle.c.window_ends).where(auth_throttle.c.key == limit.key)
                )
                conn.rollback()  # no try is taken from the other counters either
                return _aware(ends, now) if ends is not None else now + limit.window
    return None


def locked(conn: Connection, limits: list[Limit], now: datetime) -> datetime | None:
    """When an exhausted counter among `limits` reopens (None: every one has a try left)."""
    for limit in limits:
        row = conn.execute(
            select(auth_throttle.c.tries, auth_throttle.c.window_ends).where(
                auth_throttle.c.key == limit.key
            )
        ).first()
        if row is None:
            continue
        ends = _aware(row.window_ends, now)
        if ends > now and row.tries >= limit.tries:
            return ends
    return None


def give_back(conn: Connection, reset: list[Limit], refund: list[Limit]) -> None:
    """After a success: `reset` counters start again; `refund` counters get this try back."""
    if reset:
        conn.execute(
            update(auth_throttle)
            .where(auth_throttle.c.key.in_([lim.key for lim in reset]))
            .values(tries=0)
        )
    if refund:
        conn.execute(
            update(auth_throttle)
            .where(auth_throttle.c.key.in_([lim.key for lim in refund]), auth_throttle.c.tries > 0)
            .values(tries=auth_throttle.c.tries - 1)
        )


def forget_expired(conn: Connection, now: datetime) -> int:
    """Drop counters whose window ended (they count nothing any more)."""
    return int(
        conn.execute(delete(auth_throttle).where(auth_throttle.c.window_ends <= now)).rowcount
    )


def sign_in_limits(secret: bytes, username: str, remote: str | None) -> tuple[Limit, Limit]:
    """(the account's counter, the source's counter across accounts: no password spraying)."""
    return (
        Limit(counter(secret, "account", username), MAX_FAILURES, LOCKOUT),
        Limit(counter(secret, "source", remote or "-"), SOURCE_MAX_FAILURES, LOCKOUT),
    )


def authenticate(
    engine: Engine,
    username: str,
    password: str,
    now: datetime,
    remote: str | None = None,
    *,
    secret: bytes,
) -> str:
    """Check the password; returns the username or raises SignInFailed / SignInLocked.

    A try is taken from the account's and the source's counters before the password is checked
    (`take_try`); `secret` keys the counters' hashes. `login_attempts` records the name only
    when it is an account's (a name that is none is often a password typed in the wrong box)."""
    account, source = sign_in_limits(secret, username, remote)
    until = take_try(engine, [account, source], now)
    if until is not None:
        raise SignInLocked(until)
    with engine.begin() as conn:
        row = conn.execute(
            select(users.c.password_hash, users.c.active).where(users.c.username == username)
        ).first()
        ok = False
        try:
            ok = _hasher.verify(row.password_hash if row else _dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            ok = False
        ok = ok and row is not None and bool(row.active)
        conn.execute(
            insert(login_attempts).values(
                username=username if row is not None else UNKNOWN_ACCOUNT,
                at=now,
                ok=ok,
                remote=remote,
            )
        )
        if ok and row is not None:
            give_back(conn, reset=[account], refund=[source])
            if _hasher.check_needs_rehash(row.password_hash):
                conn.execute(
                    update(users)
                    .where(users.c.username == username)
                    .values(password_hash=_hasher.hash(password))
                )
    if not ok:  # raised after the commit: the attempt stays recorded
        raise SignInFailed()
    return username


BORROWER_WINDOW = timedelta(minutes=30)
BORROWER_PAIR_MAX = 5  # tries per borrower from one source per window
BORROWER_MAX = 15  # tries per borrower from all sources per window
BORROWER_SOURCE_MAX = 20  # tries per source across borrowers per window


def borrower_limits(secret: bytes, borrower_id: str, remote: str | None) -> list[Limit]:
    """The borrower page's counters: this borrower from this source (so one link holder locks
    out only themselves), the borrower from anywhere, and the source across borrowers."""
    src = remote or "-"
    return [
        Limit(
            counter(secret, "borrower-src", borrower_id, src), BORROWER_PAIR_MAX, BORROWER_WINDOW
        ),
        Limit(counter(secret, "borrower", borrower_id), BORROWER_MAX, BORROWER_WINDOW),
        Limit(counter(secret, "page-src", src), BORROWER_SOURCE_MAX, BORROWER_WINDOW),
    ]


def open_borrower_link(
    conn: Connection,
    *,
    token_hash: str,
    borrower_id: str,
    case_id: int,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Record a borrower-page link the first time it is opened; concurrent first opens are one
    (INSERT … ON CONFLICT DO NOTHING)."""
    from arrears.store.tables_web import borrower_links

    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        dialect_insert(borrower_links)
        .values(
            token_hash=token_hash,
            borrower_id=borrower_id,
            case_id=case_id,
            created_at=now,
            expires_at=expires_at,
        )
        .on_conflict_do_nothing(index_elements=["token_hash"])
    )


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
    # an external collection agency: its placed cases only, bound to one agency (agencies.py)
    AGENCY = "agency"


# the lender's own systems; an agency's token is issued by `arrears agency token`
ALL_SCOPES = frozenset(Scope) - {Scope.AGENCY}


class TokenInvalid(PermissionError):
    def __init__(self) -> None:
        super().__init__("the bearer token is unknown, malformed or revoked; ask an admin")


class TokenExpired(TokenInvalid):
    def __init__(self, expired_at: datetime) -> None:
        PermissionError.__init__(
            self,
            f"the bearer token expired at {expired_at:%Y-%m-%d %H:%M} UTC; ask an admin to "
            "issue a new one (`arrears users token`)",
        )
        self.expired_at = expired_at


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


def issue_token(
    conn: Connection,
    name: str,
    scopes: frozenset[Scope],
    now: datetime,
    ttl: timedelta | None = TOKEN_TTL,
    *,
    ring: KeyRing | None = None,
    by: str = "admin",
) -> str:
    """A new token `arr_<id>_<secret>`; shown once, stored as the hash of the secret. It works
    until `now + ttl` (default TOKEN_TTL, 90 days; None: until revoked). With `ring`, the issue
    is an audit entry (who, the token's id, name, scopes and expiry; never the secret)."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        insert(integration_tokens).values(
            id=token_id,
            name=name,
            secret_hash=sha256(secret),
            scopes=" ".join(sorted(scopes)),
            created_at=now,
            expires_at=None if ttl is None else now + ttl,
        )
    )
    if ring is not None:
        expires = "never" if ttl is None else (now + ttl).isoformat(timespec="seconds")
        detail = {"action": "issued", "name": name, "scopes": sorted(scopes), "expires": expires}
        audit.append(
            conn,
            ring,
            actor=by,
            kind=audit.AuditKind.TOKEN,
            subject=f"token:{token_id}",
            detail=detail,
            at=now,
        )
    return f"arr_{token_id}_{secret}"


def check_token(conn: Connection, token: str, now: datetime | None = None) -> Integration:
    """The integration a token belongs to; `TokenInvalid` (or `TokenExpired` at `now`)."""
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
    if now is not None and row.expires_at is not None:
        expires = _aware(row.expires_at, now)
        if expires <= now:
            raise TokenExpired(expires)
    return Integration(token_id, row.name, parse_scopes(row.scopes))


def revoke_token(
    conn: Connection,
    token_id: str,
    now: datetime,
    *,
    ring: KeyRing | None = None,
    by: str = "admin",
) -> bool:
    """Revoke a token; with `ring`, a revoke that happened is an audit entry."""
    done = bool(
        conn.execute(
            update(integration_tokens)
            .where(integration_tokens.c.id == token_id, integration_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
    )
    if done and ring is not None:
        audit.append(
            conn,
            ring,
            actor=by,
            kind=audit.AuditKind.TOKEN,
            subject=f"token:{token_id}",
            detail={"action": "revoked"},
            at=now,
        )
    return done


def count_sessions(conn: Connection, username: str) -> int:
    return int(
        conn.scalar(
            select(func.count()).select_from(sessions).where(sessions.c.username == username)
        )
        or 0
    )
