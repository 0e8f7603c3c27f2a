"""A residue within the tolerance does not age a later miss: the engine's DPD agrees with
`arrears.domain.delinquency.assess` (tolerance consumed oldest first, running sum)."""

from datetime import date, timedelta

from sqlalchemy import Engine, select

from arrears.domain.delinquency import assess
from arrears.domain.money import Money
from arrears.domain.products import DueItem
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from tests import factories as f


def test_old_residue_within_tolerance_then_a_miss_is_one_day_past_due(db: Engine) -> None:
    first, second = date(2026, 1, 10), date(2026, 2, 10)
    with db.begin() as conn:
        f.borrower(conn, "B")
        f.account(conn, "A", "B", [(first, 10_000, 0), (second, 10_000, 0)])
        f.payment(conn, "P1", "A", 9_950, date(2026, 1, 8))  # leaves 0.50 on the first item
    seen = {}
    day = date(2026, 1, 8)
    while day <= date(2026, 2, 12):
        run_day(db, day)
        with db.connect() as conn:
            seen[day] = conn.execute(
                select(t.accounts.c.dpd).where(t.accounts.c.id == "A")
            ).scalar()
        day += timedelta(days=1)
    assert seen[date(2026, 1, 11)] == 0  # 0.50 overdue: within the tolerance
    assert seen[date(2026, 2, 10)] == 0
    assert seen[date(2026, 2, 11)] == 1  # not 32: the residue does not age the new miss
    assert seen[date(2026, 2, 12)] == 2
    items = [
        DueItem(1, first, Money.of(100, "CNY"), paid_principal=Money.of("99.50", "CNY")),
        DueItem(2, second, Money.of(100, "CNY")),
    ]
    assert assess(items, date(2026, 2, 12)).dpd == seen[date(2026, 2, 12)]
