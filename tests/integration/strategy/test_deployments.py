"""Deployed strategies: versions, maker–checker, shares, open cases moved only when the deploy
says so (each move recorded), rollback to the version before; the command line (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, select
from typer.testing import CliRunner

from arrears.cli import build
from arrears.domain.strategy.variants import variant_of_bucket
from arrears.engine.run_day import run_day
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services import strategies as svc
from arrears.services.users import add_user
from arrears.store import tables as t
from arrears.store.tables_strategy import case_strategy_versions
from arrears.strategy.deployed import Deployed, VersionStatus, with_shares
from arrears.strategy.loader import BUILTIN, loads
from tests import factories as f
from tests.integration.privacy.conftest import cli_url

NAME = "seed_challenger_day3"
V1 = BUILTIN[NAME].read_text(encoding="utf-8")
V2 = V1.replace("version: 1", "version: 2")
DAY1 = date(2026, 3, 16)
AT = datetime(2026, 3, 16, 9, tzinfo=UTC)


def _users(conn: Connection) -> None:
    add_user(conn, "lin", "strategist-pass", "strategist", at=AT)
    add_user(conn, "zhao", "strategist-pass", "strategist", at=AT)
    add_user(conn, "agent1", "strategist-pass", "agent", at=AT)


def _borrowers(conn: Connection, prefix: str, n: int, due: date) -> None:
    for i in range(n):
        bid = f.borrower(conn, f"{prefix}{i}", phone=f"+86138000{i:05d}")
        f.account(conn, f"A{prefix}{i}", bid, [(due, 100_000, 0)])


def _versions(conn: Connection) -> dict[int, list[tuple[int, str]]]:
    """case id -> [(version, reason)] in the order given."""
    cv, sv = case_strategy_versions, t.metadata.tables["strategy_versions"]
    out: dict[int, list[tuple[int, str]]] = {}
    for case_id, version, reason in conn.execute(
        select(cv.c.case_id, sv.c.version, cv.c.reason)
        .join(sv, sv.c.id == cv.c.version_id)
        .order_by(cv.c.since, cv.c.version_id)
    ):
        out.setdefault(int(case_id), []).append((int(version), reason))
    return out


def _deploy_approve(
    conn: Connection, ring: KeyRing, source: str, frm: date, migrate: bool = False
) -> Deployed:
    d = svc.deploy(
        conn, ring, source=source, path="f.yaml", by="lin", migrate_open_cases=migrate, at=AT
    )
    return svc.approve(
        conn, ring, name=d.name, version=d.version, by="zhao", active_from=frm,
        shares={"challenger_day3": 30}, at=AT,
    )  # fmt: skip


def test_open_cases_move_only_when_the_deploy_says_so(db: Engine, keyring: KeyRing) -> None:
    with db.begin() as conn:
        _users(conn)
        _borrowers(conn, "A", 10, DAY1 - timedelta(days=1))
        _borrowers(conn, "B", 10, DAY1)
        _borrowers(conn, "C", 10, DAY1 + timedelta(days=1))
    run_day(db, DAY1)  # 10 cases under the seed
    with db.begin() as conn:
        _deploy_approve(conn, keyring, V1, DAY1 + timedelta(days=1))
    run_day(db, DAY1 + timedelta(days=1))  # 10 new cases under v1; the seed's stay
    with db.connect() as conn:
        given_v1 = _versions(conn)
    assert len(given_v1) == 10 and all(v == [(1, "new")] for v in given_v1.values())

    with db.begin() as conn:
        v2 = _deploy_approve(conn, keyring, V2, DAY1 + timedelta(days=2), migrate=True)
    assert v2.migrate_open_cases
    run_day(db, DAY1 + timedelta(days=2))
    with db.connect() as conn:
        moved = _versions(conn)
        strategies = set(conn.scalars(select(t.cases.c.strategy).where(t.cases.c.status == "open")))
    assert len(moved) == 30  # every open case is under v2 now, each move recorded
    assert sum(1 for v in moved.values() if v == [(2, "new")]) == 10
    assert sum(1 for v in moved.values() if v == [(1, "new"), (2, "migrated")]) == 10
    assert sum(1 for v in moved.values() if v == [(2, "migrated")]) == 10  # the seed's
    assert strategies == {NAME}

    # rolling v2 back: new cases follow v1 again (the version approved before)
    with db.begin() as conn:
        done = svc.rollback(
            conn, keyring, name=NAME, by="lin", from_=DAY1 + timedelta(days=3), at=AT
        )
    assert done.retired.version == 2 and done.now_in_force is not None
    assert done.now_in_force.version == 1
    with db.connect() as conn:
        assert svc.version_in_force(conn, DAY1 + timedelta(days=2)).version == 2  # type: ignore[union-attr]
        assert svc.shares_of(conn, NAME, DAY1 + timedelta(days=3)) == [
            ("champion", 70),
            ("challenger_day3", 30),
        ]


def test_refusals_leave_nothing_behind(db: Engine, keyring: KeyRing) -> None:
    with db.begin() as conn:
        _users(conn)
        with pytest.raises(svc.StrategyUserRefused, match="agent"):
            svc.deploy(conn, keyring, source=V1, path="f", by="agent1", at=AT)
        with pytest.raises(svc.StrategyUserRefused, match="no active user"):
            svc.deploy(conn, keyring, source=V1, path="f", by="nobody", at=AT)
        with pytest.raises(svc.loader.StrategyInvalid):
            svc.deploy(conn, keyring, source="strategy: x\nsteps: 3\n", path="f", by="lin", at=AT)
        d = svc.deploy(conn, keyring, source=V1, path="f", by="lin", at=AT)
        with pytest.raises(svc.StrategyVersionExists, match="raise `version:`"):
            svc.deploy(conn, keyring, source=V1 + "# edited\n", path="f", by="lin", at=AT)
        for shares, why in (
            ({"nobody": 30}, "no variant 'nobody'"),
            ({"champion": 60, "challenger_day3": 30}, "add up to 100"),
            ({"challenger_day3": 130}, "0 to 100"),
        ):
            with pytest.raises(svc.StrategyShareInvalid, match=why):
                svc.approve(
                    conn, keyring, name=NAME, version=1, by="zhao", active_from=DAY1,
                    shares=shares, at=AT,
                )  # fmt: skip
        with pytest.raises(svc.StrategyVersionUnknown):
            svc.approve(conn, keyring, name=NAME, version=9, by="zhao", active_from=DAY1, at=AT)
        with pytest.raises(svc.StrategyNotInForce):
            svc.rollback(conn, keyring, name=NAME, by="lin", from_=DAY1, at=AT)
        assert svc.get_version(conn, NAME).status is VersionStatus.PENDING
        svc.approve(conn, keyring, name=NAME, version=1, by="zhao", active_from=DAY1, at=AT)
        with pytest.raises(svc.StrategyNotPending):
            svc.approve(conn, keyring, name=NAME, version=1, by="zhao", active_from=DAY1, at=AT)
    assert d.sha256 == svc.sha256_of(V1)


@given(st.integers(min_value=0, max_value=100))
def test_a_share_takes_exactly_its_buckets(pct: int) -> None:
    """Whatever the share, the challenger takes exactly that many of the 100 hash buckets."""
    strategy = with_shares(loads(V1), [("champion", 100 - pct), ("challenger_day3", pct)])
    taken = [variant_of_bucket(b, strategy.variants) for b in range(100)]
    assert taken.count("challenger_day3") == pct
    assert taken.count("champion") == 100 - pct


def test_the_command_line(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARREARS_KEYS", f.RING.to_json())  # the ring the borrowers are under
    with db.begin() as conn:
        _users(conn)
    path = BUILTIN[NAME]

    def cli(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(build(), ["--database", cli_url(db), "strategy", *args])
        assert result.exit_code == code, result.output
        return result.output

    assert "no strategy deployed" in cli("list")
    assert "pending" in cli("deploy", str(path), "--by", "lin")
    refused = cli(
        "approve", NAME, "--version", "1", "--by", "lin", "--from", "2026-03-17",
        "--share", "challenger_day3=30", code=2,
    )  # fmt: skip
    assert "may not approve it too" in refused
    out = cli(
        "approve", NAME, "--version", "1", "--by", "zhao", "--from", "2026-03-17",
        "--share", "challenger_day3=30",
    )  # fmt: skip
    assert "champion 70%, challenger_day3 30%" in out
    with db.begin() as conn:
        _borrowers(conn, "X", 1, date(2026, 3, 16))
    run_day(db, date(2026, 3, 17))
    explained = cli("explain", "--account", "AX0", "--as-of", "2026-03-17")
    assert f"strategy {NAME} v1" in explained and "compiled engine agrees" in explained
    shown = cli("show", NAME)
    assert svc.sha256_of(V1) in shown and shown.endswith(V1)
    assert "back" in cli("rollback", NAME, "--by", "lin", "--from", "2026-03-20")
    assert "rolled_back" in cli("list")
    with db.connect() as conn:
        logged = audit.entries(conn, kind=audit.AuditKind.STRATEGY.value)
    assert [(e["actor"]) for e in reversed(logged)] == ["lin", "zhao", "lin"]
