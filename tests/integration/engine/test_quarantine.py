"""One account whose rows the daily run cannot compute is set aside and reported; the rest of
the portfolio runs as usual, and the account comes back once its rows are corrected."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, delete, select, update

from arrears.engine.run_day import run_day
from arrears.store import tables as t
from tests import factories as f

DUE = [date(2026, 1, 15), date(2026, 2, 15)]
HUGE = 99_999_999_999_999_999  # 999,999,999,999,999.99 CNY, stored before amounts were bounded


def _portfolio(db: Engine) -> None:
    with db.begin() as conn:
        for n in (1, 2, 3):
            f.borrower(conn, f"B{n}", phone=f"+861380000000{n}")
            f.account(
                conn, f"A{n}", f"B{n}", [(d, 10000, 500) for d in DUE], penalty_rate_ppm=50000
            )
        # A2: a payment and a due item far beyond any bound
        f.payment(conn, "P-HUGE", "A2", HUGE, date(2026, 1, 10))
        f.payment(conn, "P-HUGE2", "A2", HUGE, date(2026, 1, 11))
        conn.execute(
            update(t.due_items)
            .where(t.due_items.c.account_id == "A2", t.due_items.c.seq == 2)
            .values(principal=HUGE * 90)
        )
        # A3: 1,000,000,000,000.00 overdue: its penalty product passes 64 bits
        conn.execute(
            update(t.due_items)
            .where(t.due_items.c.account_id == "A3", t.due_items.c.seq == 1)
            .values(principal=10**14)
        )
        # A4: behind, no payment, no penalty rate: its items together pass 64 bits (each alone
        # fits), found by the assessment as it sums them
        f.borrower(conn, "B4", phone="+8613800000004")
        f.account(conn, "A4", "B4", [(d, 10000, 500) for d in DUE], penalty_rate_ppm=0)
        conn.execute(
            update(t.due_items).where(t.due_items.c.account_id == "A4").values(principal=5 * 10**18)
        )
        f.payment(conn, "P1", "A1", 5000, date(2026, 1, 20))
        # accounts with nothing due yet: the first night touches every account (each one's
        # sums made in one pass), the next nights only a few (each one's looked up)
        for n in range(10, 30):
            f.borrower(conn, f"B{n}", phone=f"+86138000000{n}")
            f.account(conn, f"A{n}", f"B{n}", [(date(2027, 1, 15), 10000, 500)])


def test_a_bad_account_is_set_aside_and_reported_not_the_night(db: Engine) -> None:
    _portfolio(db)
    report = run_day(db, date(2026, 2, 1))
    assert sorted(report.quarantined) == ["A2", "A3", "A4"]
    assert "due items total" in report.quarantined["A2"]
    assert "penalty" in report.quarantined["A3"]
    assert "due items total" in report.quarantined["A4"]
    assert report.payments_posted == 1  # A1's; A2's wait unposted
    with db.connect() as conn:
        a1 = conn.execute(select(t.accounts).where(t.accounts.c.id == "A1")).one()
        assert (a1.dpd, a1.overdue_amount) > (0, 0)  # the rest of the portfolio ran
        unposted = conn.execute(
            select(t.payments.c.id).where(t.payments.c.posted_on.is_(None))
        ).scalars()
        assert sorted(unposted) == ["P-HUGE", "P-HUGE2"]
        penalties = conn.execute(
            select(t.due_items.c.penalty).where(t.due_items.c.account_id == "A3")
        ).scalars()
        assert all(isinstance(p, int) and p == 0 for p in penalties)
        held = conn.execute(select(t.quarantined_accounts.c.account_id)).scalars()
        assert sorted(held) == ["A2", "A3", "A4"]
        a4 = conn.execute(select(t.accounts).where(t.accounts.c.id == "A4")).one()
        assert (a4.dpd, a4.state_as_of, a4.outstanding) == (0, None, 21000)  # as loaded

    # the next night too: reported again, still not the whole run
    again = run_day(db, date(2026, 2, 2))
    assert sorted(again.quarantined) == ["A2", "A3", "A4"]
    assert "since 2026-02-01" in again.quarantined["A2"]

    # rows corrected: the account comes back and is assessed and posted as any other
    with db.begin() as conn:
        conn.execute(delete(t.payments).where(t.payments.c.account_id == "A2"))
        conn.execute(
            update(t.due_items).where(t.due_items.c.account_id == "A2").values(principal=10000)
        )
    released = run_day(db, date(2026, 2, 3))
    assert sorted(released.quarantined) == ["A3", "A4"]
    with db.connect() as conn:
        a2 = conn.execute(select(t.accounts).where(t.accounts.c.id == "A2")).one()
        assert a2.state_as_of == date(2026, 2, 3)
        assert a2.dpd == (date(2026, 2, 3) - DUE[0]).days
        held = conn.execute(select(t.quarantined_accounts.c.account_id)).scalars()
        assert sorted(held) == ["A3", "A4"]
