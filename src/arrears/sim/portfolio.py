"""A seeded synthetic portfolio: borrowers, designated contacts, accounts and due items.

Instalments before the simulation starts are already paid; each borrower's profile decides
which instalments inside the window are missed. Rows are plain dicts in the host-extract shape
(amounts as decimal strings), so they go in through the same import as a lender's files.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from arrears.domain.money import Money
from arrears.domain.products import DueItem
from arrears.domain.schedule import add_months, annuity_schedule, equal_principal_schedule
from arrears.sim.behaviour import BEHAVIOURS, Profile

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
]
RELATIONSHIPS = ["spouse", "parent", "sibling", "friend", "colleague"]
CURRENCY = "CNY"


@dataclass
class SimBorrower:
    borrower_id: str
    profile: Profile
    account_ids: list[str] = field(default_factory=list)
    contact_ids: list[str] = field(default_factory=list)


@dataclass
class Portfolio:
    start: date
    borrowers: list[dict[str, str]] = field(default_factory=list)
    contacts: list[dict[str, str]] = field(default_factory=list)
    accounts: list[dict[str, str]] = field(default_factory=list)
    due_items: list[dict[str, str]] = field(default_factory=list)
    payments: list[dict[str, str]] = field(default_factory=list)
    paid_before_start: list[tuple[str, int]] = field(default_factory=list)
    people: dict[str, SimBorrower] = field(default_factory=dict)


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def _profile(rng: random.Random) -> Profile:
    roll, acc = rng.random(), 0.0
    for profile, behaviour in BEHAVIOURS.items():
        acc += behaviour.share
        if roll < acc:
            return profile
    return Profile.ON_TIME


def _schedule(rng: random.Random, start: date, window_days: int) -> tuple[str, str, list[DueItem]]:
    product = rng.choices(
        ["instalment_loan", "credit_card", "instalment_purchase"], weights=[5, 3, 2]
    )[0]
    first_due = start - timedelta(days=rng.randrange(0, 150)) + timedelta(days=rng.randrange(1, 29))
    if product == "instalment_loan":
        principal = Money.of(rng.randrange(30, 300) * 100, CURRENCY)
        rate = Decimal(rng.choice(["0.108", "0.12", "0.15", "0.18"]))
        items = annuity_schedule(principal, rate, 12, first_due)
        return product, str(rate), items
    if product == "instalment_purchase":
        principal = Money.of(rng.randrange(20, 120) * 100, CURRENCY)
        fee = Money.of(rng.randrange(5, 30), CURRENCY)
        items = equal_principal_schedule(principal, Decimal(0), 6, first_due, fee)
        return product, "0", items
    # credit card: one statement a month, the minimum due is what falls due
    items = [
        DueItem(
            seq=i + 1,
            due_on=add_months(first_due, i),
            principal=Money.of(rng.randrange(200, 1500), CURRENCY),
            interest=Money.of(rng.randrange(0, 80), CURRENCY),
        )
        for i in range(8)
    ]
    return product, "0.18", items


def generate(seed: int, borrowers: int, start: date, window_days: int = 60) -> Portfolio:
    rng = random.Random(seed)
    out = Portfolio(start=start)
    end = start + timedelta(days=window_days)
    for n in range(1, borrowers + 1):
        bid = f"B{n:06d}"
        person = SimBorrower(bid, _profile(rng))
        out.people[bid] = person
        out.borrowers.append(
            {
                "borrower_id": bid,
                "name": _name(rng),
                "phone": _phone(rng),
                "email": f"user{n}@example.cn",
                "timezone": rng.choice(["Asia/Shanghai"] * 9 + ["Asia/Urumqi"]),
                "language": rng.choice(["zh-CN"] * 9 + ["en"]),
            }
        )
        if rng.random() < 0.85:
            for k in range(rng.choice([1, 1, 2])):
                cid = f"{bid}-C{k + 1}"
                person.contact_ids.append(cid)
                out.contacts.append(
                    {
                        "contact_id": cid,
                        "borrower_id": bid,
                        "name": _name(rng),
                        "relationship": rng.choice(RELATIONSHIPS),
                        "phone": _phone(rng),
                        "consent": "true" if rng.random() < 0.95 else "false",
                    }
                )
        for k in range(rng.choice([1, 1, 1, 2])):
            _add_account(rng, out, person, f"{bid}-A{k + 1}", start, end, window_days)
    return out


def _add_account(
    rng: random.Random,
    out: Portfolio,
    person: SimBorrower,
    aid: str,
    start: date,
    end: date,
    window_days: int,
) -> None:
    product, rate, items = _schedule(rng, start, window_days)
    person.account_ids.append(aid)
    behaviour = BEHAVIOURS[person.profile]
    out.accounts.append(
        {
            "account_id": aid,
            "borrower_id": person.borrower_id,
            "product": product,
            "currency": CURRENCY,
            "principal": str(sum((i.principal.amount for i in items), Decimal(0))),
            "annual_rate": rate,
            "penalty_rate": "0.05",
            "opened_on": (items[0].due_on - timedelta(days=30)).isoformat(),
        }
    )
    for item in items:
        out.due_items.append(
            {
                "account_id": aid,
                "seq": str(item.seq),
                "due_on": item.due_on.isoformat(),
                "principal": str(item.principal.amount),
                "interest": str(item.interest.amount),
                "fee": str(item.fee.amount),
            }
        )
        if item.due_on < start:
            out.paid_before_start.append((aid, item.seq))
        elif item.due_on < end and rng.random() >= behaviour.misses:
            out.payments.append(
                {
                    "payment_id": f"P-{aid}-{item.seq}",
                    "account_id": aid,
                    "amount": str(item.outstanding().amount),
                    "currency": CURRENCY,
                    "received_on": item.due_on.isoformat(),
                }
            )
