"""The daily run follows what changed: re-running a date changes nothing, the next date without
payments changes only the accounts in arrears or falling due, and after every run each
account's figures are those a full assessment (`arrears.domain.delinquency.assess`) gives."""

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from arrears.domain.delinquency import assess
from arrears.domain.money import Money
from arrears.domain.penalty import accrue_penalty_minor
from arrears.domain.products import DueItem
from arrears.engine import delinquency
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from tests import factories as f

D0 = date(2026, 2, 16)
JAN, FEB, MAR = date(2026, 1, 15), date(2026, 2, 15), date(2026, 3, 15)
RATE = 100_000


@pytest.fixture(params=["candidates", "all"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test once looking up the accounts that can change, once assessing every account."""
    share = 2.0 if request.param == "candidates" else 0.0
    monkeypatch.setattr(delinquency, "ASSESS_ALL_SHARE", share)
    return str(request.param)


def _portfolio(db: Engine) -> None:
    with db.begin() as conn:
        for bid in ("B1", "B2", "B3", "B4", "B5"):
            f.borrower(conn, bid)
        items = [(JAN, 10_000, 500), (FEB, 10_000, 500), (MAR, 10_000, 500)]
        f.account(conn, "A1", "B1", items, penalty_rate_ppm=RATE)  # in arrears since January
        f.account(conn, "A2", "B2", items, penalty_rate_ppm=RATE)  # paid up, March to come
        f.payment(conn, "P2", "A2", 21_000, date(2026, 2, 10))
        f.account(conn, "A3", "B3", [(D0, 10_000, 500), (MAR, 10_000, 500)])  # due today
        f.account(conn, "A4", "B4", [items[0], items[2]])  # 0.50 left on January: tolerated
        f.payment(conn, "P4", "A4", 10_450, date(2026, 1, 10))
        f.account(conn, "A5", "B5", items[:2])  # in arrears, pays everything on D0 + 2


def _tables(db: Engine) -> dict[str, list[Any]]:
    with db.connect() as conn:
        return {
            tab.name: sorted(conn.execute(select(tab)).all(), key=repr)
            for tab in (
                t.accounts,
                t.due_items,
                t.payments,
                t.allocations,
                t.delinquency_history,
                t.cases,
                t.actions,
                t.outbox,
            )
        }


def _rows(snapshot: dict[str, list[Any]], table: str, key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for row in snapshot[table]:
        out.setdefault(getattr(row, key), []).append(row)
    return out


def _assert_full_assessment(db: Engine, as_of: date) -> None:
    """Every account's stored figures are what assessing all its items afresh gives."""
    with db.connect() as conn:
        items: dict[str, list[DueItem]] = {}
        for r in conn.execute(select(t.due_items).order_by(t.due_items.c.seq)):
            m = lambda v: Money.from_minor(v, "CNY")  # noqa: E731
            items.setdefault(r.account_id, []).append(
                DueItem(
                    r.seq, r.due_on, m(r.principal), m(r.interest), m(r.fee), m(r.penalty),
                    m(r.paid_principal), m(r.paid_interest), m(r.paid_fee), m(r.paid_penalty),
                )
            )  # fmt: skip
        accounts = conn.execute(select(t.accounts)).all()
    for a in accounts:
        want = assess(items[a.id], as_of)
        status = "paid_off" if want.outstanding.to_minor() <= 0 else "active"
        assert (a.dpd, a.bucket, a.overdue_amount, a.outstanding, a.status) == (
            want.dpd,
            want.bucket,
            want.overdue.to_minor(),
            want.outstanding.to_minor(),
            status,
        ), (a.id, as_of)


def test_rerun_and_next_day_change_only_what_they_should(db: Engine, mode: str) -> None:
    _portfolio(db)
    first = run_day(db, D0)
    # A3 has nothing due before D0: its figures came with its items, the night leaves it
    assert first.accounts_changed == (5 if mode == "all" else 4)
    _assert_full_assessment(db, D0)
    day0 = _tables(db)

    again = run_day(db, D0)
    assert (again.accounts_changed, again.penalty_items, again.payments_posted) == (0, 0, 0)
    assert _tables(db) == day0

    d1 = D0 + timedelta(days=1)
    report = run_day(db, d1)
    _assert_full_assessment(db, d1)
    day1 = _tables(db)
    before, after = _rows(day0, "accounts", "id"), _rows(day1, "accounts", "id")
    # paid up: not rewritten, not even its date; within the tolerance: only the penalty marker
    # moves (principal is overdue, at no penalty rate)
    assert after["A2"] == before["A2"]
    a4_before, a4_after = before["A4"][0]._asdict(), after["A4"][0]._asdict()
    assert a4_after.pop("penalty_accrued_through") == d1
    a4_before.pop("penalty_accrued_through")
    assert a4_after == a4_before and a4_after["overdue_amount"] == 50
    for key in ("A2", "A3", "A4", "A5"):  # no penalty rate or nothing overdue: items unchanged
        assert (
            _rows(day1, "due_items", "account_id")[key]
            == _rows(day0, "due_items", "account_id")[key]
        )
    # one more day in arrears, one more day of penalty on each overdue instalment
    a1 = after["A1"][0]
    daily = 2 * accrue_penalty_minor(10_000, RATE, 1)
    assert (a1.dpd, a1.overdue_amount - before["A1"][0].overdue_amount) == (33, daily)
    assert (after["A3"][0].dpd, after["A3"][0].bucket) == (1, "M1")  # fell due yesterday
    assert after["A5"][0].dpd == before["A5"][0].dpd + 1
    assert report.accounts_changed == 3  # A1, A3, A5
    assert report.payments_posted == 0
    for table in ("payments", "allocations"):
        assert day1[table] == day0[table]
    history = _rows(day1, "delinquency_history", "as_of")
    assert sorted(r.account_id for r in history[d1]) == ["A1", "A3", "A5"]
    assert history[D0] == _rows(day0, "delinquency_history", "as_of")[D0]
    cases = {c.borrower_id: c for c in _rows(day1, "cases", "status")["open"]}
    assert sorted(cases) == ["B1", "B3", "B5"] and cases["B1"].dpd == 33

    # A5 pays everything: paid off, case closed; A2 pays part of March ahead
    with db.begin() as conn:
        f.payment(conn, "P5", "A5", 21_000, D0 + timedelta(days=2))
        f.payment(conn, "P2b", "A2", 5_000, D0 + timedelta(days=2))  # pays ahead
    d2 = D0 + timedelta(days=2)
    run_day(db, d2)
    _assert_full_assessment(db, d2)
    day2 = _tables(db)
    a5 = _rows(day2, "accounts", "id")["A5"][0]
    assert (a5.dpd, a5.overdue_amount, a5.outstanding, a5.status) == (0, 0, 0, "paid_off")
    closed = [c for c in day2["cases"] if c.borrower_id == "B5"]
    assert [(c.status, c.closed_on) for c in closed] == [("paid_off", d2)]
    a2 = _rows(day2, "accounts", "id")["A2"][0]
    assert (a2.dpd, a2.outstanding, a2.state_as_of) == (0, 10_500 - 5_000, d2)


def test_accounts_added_or_marked_for_assessment_are_assessed(db: Engine, mode: str) -> None:
    _portfolio(db)
    run_day(db, D0)
    with db.begin() as conn:
        f.borrower(conn, "B6")  # a new account, nothing due yet: its outstanding is known
        f.account(conn, "A6", "B6", [(MAR, 10_000, 500)])
        # the host changed a paid-up account's coming instalment and marked it for assessment
        conn.execute(
            update(t.due_items)
            .where(t.due_items.c.account_id == "A2", t.due_items.c.due_on == MAR)
            .values(principal=20_000)
        )
        conn.execute(update(t.accounts).where(t.accounts.c.id == "A2").values(state_as_of=None))
    d1 = D0 + timedelta(days=1)
    run_day(db, d1)
    _assert_full_assessment(db, d1)
    with db.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(t.accounts))}
    # A6's outstanding came with its item; only a run assessing every account writes it
    assert (rows["A6"].outstanding, rows["A6"].status) == (10_500, "active")
    assert rows["A6"].state_as_of == (d1 if mode == "all" else None)
    assert (rows["A2"].outstanding, rows["A2"].state_as_of) == (20_500, d1)
