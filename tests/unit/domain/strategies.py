"""Hypothesis strategies shared by the domain tests: due items of one account."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import strategies as st

from arrears.domain.money import Money
from arrears.domain.products import Component, DueItem

START = date(2024, 1, 10)


def cents(max_value: int = 50_000) -> st.SearchStrategy[Money]:
    return st.integers(min_value=0, max_value=max_value).map(lambda n: Money.from_minor(n, "CNY"))


@st.composite
def due_item(draw: st.DrawFn, seq: int, due_on: date) -> DueItem:
    principal, interest, fee, penalty = (draw(cents()) for _ in range(4))
    # pay a random part of each component
    paid = [
        Money.from_minor(draw(st.integers(0, c.to_minor())), "CNY")
        for c in (principal, interest, fee, penalty)
    ]
    item = DueItem(
        seq=seq,
        due_on=due_on,
        principal=principal,
        interest=interest,
        fee=fee,
        penalty=penalty,
        paid_principal=paid[0],
        paid_interest=paid[1],
        paid_fee=paid[2],
        paid_penalty=paid[3],
    )
    # sometimes a plan has forgiven the rest of the penalty and/or the interest
    for component in (Component.penalty, Component.interest):
        if draw(st.integers(0, 4)) == 0:
            item = item.with_waived(component)
    return item


@st.composite
def account_items(draw: st.DrawFn, max_items: int = 8) -> list[DueItem]:
    """Items in seq order with increasing due dates (gaps of 1 to 45 days)."""
    count = draw(st.integers(min_value=1, max_value=max_items))
    items = []
    due_on = START
    for seq in range(1, count + 1):
        items.append(draw(due_item(seq, due_on)))
        due_on = due_on + timedelta(days=draw(st.integers(min_value=1, max_value=45)))
    return items


def as_of_dates() -> st.SearchStrategy[date]:
    return st.integers(min_value=-5, max_value=400).map(lambda n: START + timedelta(days=n))
