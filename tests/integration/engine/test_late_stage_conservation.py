"""Money is conserved through charge-off and settlement (SQLite and PostgreSQL, the real daily
run): for any accounts' due items, payments, settlement offers and charge-offs, per currency to
the minor unit,

    everything charged (items and penalty) = paid to the items
                                            + written off by charge-off, not recovered
                                            + forgiven by settlements
                                            + outstanding on the accounts still on the books

Each term comes from its own record: payments and credit balances, the charge-off and
settlement entries of `write_offs`, the recoveries report, the accounts' outstanding.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, func, select

from arrears.engine.config import RunConfig
from arrears.engine.run_day import run_day
from arrears.privacy.masking import Role
from arrears.services import settlements as svc
from arrears.services.recoveries import recoveries
from arrears.services.users import add_user, find_user
from arrears.store import tables as t
from arrears.store.tables_late import write_offs
from tests import factories as f

START = date(2026, 1, 1)
CURRENCIES = ("CNY", "JPY", "BHD")
CONFIG = RunConfig(charge_off_dpd=40, charge_off_dpd_by_product={"credit_card": 25})
_runs = itertools.count()


@dataclass(frozen=True)
class Account:
    currency: str
    product: str
    items: list[tuple[int, int, int]]  # (day, principal, interest)
    penalty_ppm: int


@dataclass(frozen=True)
class Story:
    accounts: list[Account]
    payments: list[tuple[int, int, int]]  # (account, day, amount)
    offers: list[tuple[int, int, int, bool]]  # (account, day, percent to pay, paid at once)
    days: list[int]


@st.composite
def stories(draw: st.DrawFn) -> Story:
    accounts = [
        Account(
            currency=draw(st.sampled_from(CURRENCIES)),
            product=draw(st.sampled_from(["instalment_loan", "credit_card"])),
            items=draw(
                st.lists(
                    st.tuples(
                        st.integers(0, 60), st.integers(1, 2_000_000), st.integers(0, 50_000)
                    ),
                    min_size=1,
                    max_size=3,
                )
            ),
            penalty_ppm=draw(st.sampled_from([0, 50_000, 180_000])),
        )
        for _ in range(draw(st.integers(1, 3)))
    ]
    n = len(accounts)
    payments = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(1, 120), st.integers(1, 1_500_000)),
            max_size=6,
        )
    )
    offers = draw(
        st.lists(
            st.tuples(
                st.integers(0, n - 1),
                st.integers(2, 110),
                st.integers(50, 100),
                st.sampled_from([True, True, False]),
            ),
            min_size=1,
            max_size=3,
        )
    )
    extra = draw(st.lists(st.integers(1, 130), max_size=4))
    days = sorted({1, 130, *extra, *(d for _, d, _ in payments), *(d for _, d, _, _ in offers)})
    return Story(accounts, payments, offers, days)


def _day(n: int) -> date:
    return START + timedelta(days=n)


def _build(conn: Connection, story: Story, run: int) -> list[str]:
    if find_user(conn, "manager") is None:
        add_user(conn, "manager", "a-long-password", Role.MANAGER, at=datetime.now(UTC))
    ids = []
    for n, acc in enumerate(story.accounts):
        bid, aid = f"R{run}B{n}", f"R{run}A{n}"
        f.borrower(conn, bid)
        items = sorted((_day(d), p, i) for d, p, i in acc.items)
        f.account(
            conn, aid, bid, items, currency=acc.currency, product=acc.product,
            penalty_rate_ppm=acc.penalty_ppm, opened_on=START - timedelta(days=30),
        )  # fmt: skip
        ids.append(aid)
    return ids


def _offer(conn: Connection, borrower: str, day: date, pct: int) -> svc.OfferRecord | None:
    case = conn.execute(
        select(func.max(t.cases.c.id)).where(
            t.cases.c.borrower_id == borrower, t.cases.c.status.in_(["open", "charged_off"])
        )
    ).scalar()
    if case is None:
        return None
    try:
        return svc.offer_settlement(
            conn, case_id=case, pay_pct=Decimal(pct), due_on=day + timedelta(days=10),
            on=day, by="manager",
        )  # fmt: skip
    except (svc.SettlementOfferExists, ValueError):
        return None  # a live offer already, or nothing left to settle


def _play(db: Engine, story: Story, run: int, ids: list[str]) -> None:
    for day in story.days:
        on = _day(day)
        with db.begin() as conn:
            for k, (acc, d, amount) in enumerate(story.payments):
                if d == day:
                    cur = story.accounts[acc].currency
                    f.payment(conn, f"R{run}P{k}", ids[acc], amount, on, currency=cur)
            for k, (acc, d, pct, pay) in enumerate(story.offers):
                offer = _offer(conn, f"R{run}B{acc}", on, pct) if d == day else None
                if offer is not None and pay:
                    amount, cur = offer.amount.to_minor(), offer.currency
                    f.payment(conn, f"R{run}S{k}", ids[acc], amount, on, currency=cur)
        run_day(db, on, config=CONFIG)


def _terms(conn: Connection, ids: list[str], last: date) -> dict[str, dict[str, int]]:
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    i, a, p, w = t.due_items.c, t.accounts.c, t.payments.c, write_offs.c
    for cur, charged in conn.execute(
        select(a.currency, func.sum(i.principal + i.interest + i.fee + i.penalty))
        .select_from(t.due_items.join(t.accounts, t.accounts.c.id == i.account_id))
        .where(a.id.in_(ids))
        .group_by(a.currency)
    ):
        per[cur]["charged"] += int(charged)
    for cur, amount in conn.execute(
        select(p.currency, p.amount).where(p.account_id.in_(ids), p.posted_on.is_not(None))
    ):
        per[cur]["paid"] += int(amount)
    charged_off: set[str] = set()
    for aid, reason, cur, amount in conn.execute(
        select(w.account_id, w.reason, w.currency, w.amount).where(w.account_id.in_(ids))
    ):
        per[cur][reason] += int(amount)
        if reason == "charge_off":
            charged_off.add(aid)
    for aid, cur, amount in conn.execute(
        select(w.account_id, w.currency, w.amount).where(
            w.account_id.in_(ids), w.reason == "settlement"
        )
    ):
        if aid in charged_off:  # forgiven out of a balance already written off
            per[cur]["settled_after_charge_off"] += int(amount)
    for cur, status, outstanding, credit in conn.execute(
        select(a.currency, a.status, a.outstanding, a.credit_balance).where(a.id.in_(ids))
    ):
        per[cur]["paid"] -= int(credit)  # paid beyond the balance: the borrower's credit
        if status != "charged_off":
            per[cur]["outstanding"] += int(outstanding)
    for r in recoveries(conn, START, last):
        if r.account_id in ids:
            per[r.currency]["recovered"] += r.applied
    return per


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(story=stories())
def test_money_is_conserved_through_charge_off_and_settlement(db: Engine, story: Story) -> None:
    run = next(_runs)
    with db.begin() as conn:
        ids = _build(conn, story, run)
    _play(db, story, run, ids)
    with db.connect() as conn:
        per = _terms(conn, ids, _day(story.days[-1]))
    for cur, x in per.items():
        event("charged off" if x["charge_off"] else "none charged off")
        event("settled" if x["settlement"] else "none settled")
        event("recovered" if x["recovered"] else "nothing recovered")
        written_off = x["charge_off"] - x["recovered"] - x["settled_after_charge_off"]
        assert written_off >= 0, (cur, dict(x))
        assert x["charged"] == (x["paid"] + written_off + x["settlement"] + x["outstanding"]), (
            cur,
            dict(x),
        )
