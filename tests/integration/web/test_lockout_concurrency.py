"""Lock-out holds under concurrent tries: a try is taken atomically before the answer is
checked, per account (or borrower) and per source, and expires; the right answer after the
lock-out does not get in. Twenty concurrent first opens of one link are one."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from arrears.bootstrap import App
from arrears.privacy.links import make_token
from arrears.services import auth
from arrears.services.auth import (
    BORROWER_PAIR_MAX,
    BORROWER_WINDOW,
    MAX_FAILURES,
    SOURCE_MAX_FAILURES,
    SignInFailed,
    SignInLocked,
    authenticate,
    borrower_limits,
    take_try,
)
from arrears.services.users import DEMO_PASSWORD
from arrears.store import tables as t
from arrears.store.tables_web import auth_throttle, borrower_links, login_attempts
from arrears.web.app import create_app
from tests.integration.web.conftest import DAY1, NOW, csrf_of

TRIES = 30


class CountingHasher(PasswordHasher):
    """The test-sized argon2 hasher, counting the passwords it checks."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.checked = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.checked += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher() -> Iterator[CountingHasher]:
    before = auth._hasher
    counting = CountingHasher()
    auth.use_hasher(counting)
    yield counting
    auth.use_hasher(before)


def _all_at_once(n: int, attempt: Callable[[int], Any]) -> list[Any]:
    start = threading.Barrier(n)

    def run(i: int) -> Any:
        start.wait()
        return attempt(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def _client(app: App, **kw: Any) -> TestClient:
    web = create_app(app, business_date=DAY1, clock=lambda: NOW, **kw)
    return TestClient(web, base_url="https://testserver", follow_redirects=False)


def test_thirty_concurrent_sign_ins_get_at_most_the_limit_checked(
    app: App, hasher: CountingHasher
) -> None:
    with _client(app) as web:
        csrf = csrf_of(web.get("/login").text)
        hasher.checked = 0

        def guess(i: int) -> int:
            data = {"username": "agent", "password": f"guess-{i:02d}!", "csrf": csrf}
            return int(web.post("/login", data=data).status_code)

        codes = _all_at_once(TRIES, guess)
        assert hasher.checked <= MAX_FAILURES
        assert codes.count(401) == hasher.checked and codes.count(429) == TRIES - hasher.checked
        right = {"username": "agent", "password": DEMO_PASSWORD, "csrf": csrf}
        assert web.post("/login", data=right).status_code == 429  # the lock holds
        assert hasher.checked <= MAX_FAILURES  # ... without even checking it
    with app.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(login_attempts)) == hasher.checked


def test_the_lock_expires_and_a_success_clears_the_account(app: App) -> None:
    secret = b"s" * 32
    for _ in range(MAX_FAILURES):
        with pytest.raises(SignInFailed):
            authenticate(app.engine, "agent", "wrong", NOW, "10.0.0.1", secret=secret)
    with pytest.raises(SignInLocked) as caught:
        authenticate(app.engine, "agent", DEMO_PASSWORD, NOW, "10.0.0.1", secret=secret)
    reopens = caught.value.until
    assert reopens == NOW + auth.LOCKOUT
    assert authenticate(app.engine, "agent", DEMO_PASSWORD, reopens, "10.0.0.1", secret=secret)
    # the success gave the account its tries back
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(SignInFailed):
            authenticate(app.engine, "agent", "wrong", reopens, "10.0.0.1", secret=secret)
    assert authenticate(app.engine, "agent", DEMO_PASSWORD, reopens, "10.0.0.1", secret=secret)


def test_no_password_spraying_across_accounts(app: App) -> None:
    """One source guessing one password each for many accounts is stopped by its own counter;
    the accounts themselves stay open from elsewhere."""
    secret = b"s" * 32
    for i in range(SOURCE_MAX_FAILURES):
        with pytest.raises(SignInFailed):
            authenticate(app.engine, f"user{i}", "Summer2026!", NOW, "203.0.113.9", secret=secret)
    with pytest.raises(SignInLocked):
        authenticate(app.engine, "agent", DEMO_PASSWORD, NOW, "203.0.113.9", secret=secret)
    assert authenticate(app.engine, "agent", DEMO_PASSWORD, NOW, "198.51.100.7", secret=secret)
    with app.engine.connect() as conn:  # names that are no account's are not stored
        names = set(conn.scalars(select(login_attempts.c.username)))
        keys = " ".join(conn.scalars(select(auth_throttle.c.key)))
    assert names == {"(unknown)", "agent"}
    assert "user1" not in keys and "203.0.113.9" not in keys


def _link(app: App) -> str:
    with app.engine.connect() as conn:
        case_id = conn.scalar(select(t.cases.c.id).where(t.cases.c.borrower_id == "B1"))
    assert case_id is not None
    return "/b/" + make_token(app.keyring, int(case_id), DAY1 + timedelta(days=14))


def test_thirty_concurrent_borrower_tries_get_at_most_five_checked(app: App) -> None:
    link = _link(app)
    with _client(app) as page:
        assert page.get(link).status_code == 200

        def guess(i: int) -> int:
            data = {"id_last4": f"{i:04d}"}  # the right answer is 1234: not among them
            return int(page.post(link + "/verify", data=data).status_code)

        codes = _all_at_once(TRIES, guess)
        assert codes.count(401) == BORROWER_PAIR_MAX  # checked, and wrong
        assert codes.count(429) == TRIES - BORROWER_PAIR_MAX  # refused unchecked
        r = page.post(link + "/verify", data={"id_last4": "1234"})
        assert r.status_code == 429  # the right answer after the lock-out does not get in


def test_one_link_holder_does_not_lock_the_borrower_out(app: App) -> None:
    """The pair counter is per source: another source still has its tries; and the lock
    expires with its window."""
    secret = b"s" * 32
    holder = borrower_limits(secret, "B1", "203.0.113.9")
    for _ in range(BORROWER_PAIR_MAX):
        assert take_try(app.engine, holder, NOW) is None
    assert take_try(app.engine, holder, NOW) == NOW + BORROWER_WINDOW
    assert take_try(app.engine, borrower_limits(secret, "B1", "198.51.100.7"), NOW) is None
    assert take_try(app.engine, holder, NOW + BORROWER_WINDOW) is None


def test_twenty_concurrent_first_opens_of_one_link(app: App) -> None:
    link = _link(app)
    with _client(app) as page:
        codes = _all_at_once(20, lambda _: page.get(link).status_code)
    assert codes == [200] * 20
    with app.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(borrower_links)) == 1
