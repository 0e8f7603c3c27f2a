"""Posting by waterfall, told in figures: which component of which item each cent pays."""

from datetime import date

import pytest
from sqlalchemy import Engine, select, update

from arrears.engine.run_day import run_day
from arrears.store import tables as t
from tests import factories as f

D1, D2, D3 = date(2026, 1, 10), date(2026, 2, 10), date(2026, 3, 10)


def _setup(db: Engine, waterfall: str, payment: int) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B")
        # two instalments of 100.00 principal + 10.00 interest; the first carries 2.00 penalty
        f.account(conn, "A", "B", [(D1, 10000, 1000), (D2, 10000, 1000)])
        conn.execute(update(t.accounts).values(waterfall=waterfall))
        conn.execute(update(t.due_items).where(t.due_items.c.seq == 1).values(penalty=200))
        f.payment(conn, "P", "A", payment, D3)


def _paid(db: Engine) -> list[tuple[int, int, int, int]]:
    i = t.due_items.c
    with db.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(i.paid_penalty, i.paid_fee, i.paid_interest, i.paid_principal).order_by(
                    i.seq
                )
            )
        ]


@pytest.mark.parametrize(
    ("waterfall", "payment", "expected"),
    [
        # penalty → fee → interest → principal, oldest item first
        ("oldest_first_penalty_fee_interest_principal", 500, [(200, 0, 300, 0), (0, 0, 0, 0)]),
        (
            "oldest_first_penalty_fee_interest_principal",
            12000,
            [(200, 0, 1000, 10000), (0, 0, 800, 0)],
        ),
        # interest → principal → penalty → fee
        ("interest_principal_penalty_fee", 500, [(0, 0, 500, 0), (0, 0, 0, 0)]),
        ("interest_principal_penalty_fee", 11100, [(100, 0, 1000, 10000), (0, 0, 0, 0)]),
    ],
)
def test_waterfall_orders_components(
    db: Engine, waterfall: str, payment: int, expected: list
) -> None:
    _setup(db, waterfall, payment)
    run_day(db, D3)
    assert _paid(db) == expected


def test_overpayment_pays_future_items_then_credit(db: Engine) -> None:
    _setup(db, "oldest_first_penalty_fee_interest_principal", 30000)
    run_day(db, D3)
    assert _paid(db) == [(200, 0, 1000, 10000), (0, 0, 1000, 10000)]
    with db.connect() as conn:
        account = conn.execute(select(t.accounts)).one()
        lines = conn.execute(select(t.allocations.c.amount)).scalars().all()
    assert account.credit_balance == 30000 - 22200
    assert sum(lines) == 30000  # every cent of the payment is accounted for


def test_a_payment_is_posted_once(db: Engine) -> None:
    _setup(db, "oldest_first_penalty_fee_interest_principal", 500)
    run_day(db, D3)
    run_day(db, D3)
    assert _paid(db)[0] == (200, 0, 300, 0)
