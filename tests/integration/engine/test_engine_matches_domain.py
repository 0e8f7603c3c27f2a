"""The set-based engine agrees with the scalar domain on random portfolios, day by day:
the same allocations by waterfall, the same penalty, the same DPD, bucket and amounts. The
accounts are in currencies of 2, 0 and 3 decimals, each with the tolerance of its own."""

import random
from datetime import date, timedelta

from sqlalchemy import Engine, select, update

from arrears.domain.allocation import Waterfall, allocate
from arrears.domain.delinquency import assess
from arrears.domain.money import Money
from arrears.domain.penalty import accrue_penalty_minor
from arrears.domain.products import DueItem
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from tests import factories as f

START = date(2026, 1, 1)
DAYS = 45
CURRENCIES = ("CNY", "JPY", "KRW", "KWD")  # KWD: three decimals, booked for this test
# left unpaid on the first item by a payment on its due date: around each currency's tolerance
RESIDUES = (1, 2, 50, 99, 100, 101, 500, 999, 1000, 1001)


def _portfolio(rng: random.Random) -> tuple[dict, dict]:
    accounts, payments = {}, {}
    for n in range(32):
        due = START + timedelta(days=rng.randrange(0, 20))
        items = []
        for _ in range(rng.randrange(1, 5)):
            items.append((due, rng.randrange(1, 500) * 100, rng.randrange(0, 3000)))
            due += timedelta(days=rng.choice([10, 30]))
        waterfall, rate = rng.choice(list(Waterfall)), rng.choice([0, 50000, 240000])
        accounts[f"A{n}"] = (items, waterfall, rate, CURRENCIES[n // 2 % len(CURRENCIES)])
        paid = [
            (START + timedelta(days=rng.randrange(0, DAYS)), f"P{n}-{k}", rng.randrange(1, 60000))
            for k in range(rng.randrange(0, 4))
        ]
        if n % 2:  # the first item paid on its due date all but a residue
            first_due, principal, interest = items[0]
            residue = min(rng.choice(RESIDUES), principal + interest - 1)
            paid = [(first_due, f"P{n}-r", principal + interest - residue)]
        payments[f"A{n}"] = sorted(paid)
    return accounts, payments


def _reference(items, waterfall, rate_ppm, currency, payments, as_of):
    """Replay the engine's day order with the domain: post, accrue penalty, assess."""
    due = [
        DueItem(
            seq=i + 1,
            due_on=d,
            principal=Money.from_minor(p, currency),
            interest=Money.from_minor(r, currency),
        )
        for i, (d, p, r) in enumerate(items)
    ]
    credit = 0
    day = START
    while day <= as_of:
        for received, _, amount in payments:
            if received == day:
                result = allocate(due, Money.from_minor(amount, currency), waterfall, day)
                due, credit = list(result.items), credit + result.credit.to_minor()
        for k, item in enumerate(due):
            unpaid = (item.principal - item.paid_principal).to_minor()
            if item.due_on < day and unpaid > 0 and rate_ppm:
                extra = accrue_penalty_minor(unpaid, rate_ppm, 1)
                due[k] = _with_penalty(item, extra)
        day += timedelta(days=1)
    return assess(due, as_of), credit, due


def _with_penalty(item: DueItem, extra: int) -> DueItem:
    from dataclasses import replace

    return replace(item, penalty=item.penalty + Money.from_minor(extra, item.currency))


def test_engine_agrees_with_domain(db: Engine) -> None:
    rng = random.Random(20261128)
    accounts, payments = _portfolio(rng)
    with db.begin() as conn:
        f.borrower(conn, "B")
        for aid, (items, waterfall, rate, currency) in accounts.items():
            f.account(conn, aid, "B", items, penalty_rate_ppm=rate, currency=currency)
            conn.execute(
                update(t.accounts).where(t.accounts.c.id == aid).values(waterfall=waterfall)
            )
            for received, pid, amount in payments[aid]:
                f.payment(conn, pid, aid, amount, received, currency=currency)
    checkpoints = {START + timedelta(days=n) for n in (0, 9, 17, 30, DAYS - 1)}
    for n in range(DAYS):
        as_of = START + timedelta(days=n)
        run_day(db, as_of)
        if as_of not in checkpoints:
            continue
        with db.connect() as conn:
            rows = {r.id: r for r in conn.execute(select(t.accounts))}
            paid = {
                (r.account_id, r.seq): (
                    r.paid_principal,
                    r.paid_interest,
                    r.paid_penalty,
                    r.penalty,
                )
                for r in conn.execute(select(t.due_items))
            }
        for aid, (items, waterfall, rate, currency) in accounts.items():
            expected, credit, due = _reference(
                items, waterfall, rate, currency, payments[aid], as_of
            )
            for item in due:
                assert paid[aid, item.seq] == (
                    item.paid_principal.to_minor(),
                    item.paid_interest.to_minor(),
                    item.paid_penalty.to_minor(),
                    item.penalty.to_minor(),
                ), (aid, item.seq, as_of)
            got = rows[aid]
            assert (got.dpd, got.bucket) == (expected.dpd, expected.bucket), (aid, as_of)
            assert got.overdue_amount == expected.overdue.to_minor(), (aid, as_of)
            assert got.outstanding == expected.outstanding.to_minor(), (aid, as_of)
            assert got.credit_balance == credit, (aid, as_of)
