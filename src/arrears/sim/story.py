"""The seed's case study as a named borrower, and the timeline the demo prints for it."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, select

from arrears.domain.money import Money
from arrears.sim.behaviour import Profile
from arrears.sim.floor import Script
from arrears.sim.portfolio import Portfolio, SimBorrower
from arrears.store import tables as t

STORY_BORROWER = "B-STORY"


def add_case_study(portfolio: Portfolio) -> Script:
    """陈静 fell ill and lost her income; her last instalment falls due on day 4 of the window."""
    start = portfolio.start
    bid, aid, cid = STORY_BORROWER, f"{STORY_BORROWER}-A1", f"{STORY_BORROWER}-C1"
    portfolio.people[bid] = SimBorrower(bid, Profile.HARDSHIP, [aid], [cid])
    portfolio.borrowers.append(
        {
            "borrower_id": bid,
            "name": "陈静",
            "phone": "13812345678",
            "email": "chen.jing@example.cn",
            "timezone": "Asia/Shanghai",
            "language": "zh-CN",
        }
    )
    portfolio.contacts.append(
        {
            "contact_id": cid,
            "borrower_id": bid,
            "name": "陈明",
            "relationship": "sibling",
            "phone": "13987654321",
            "consent": "true",
        }
    )
    portfolio.accounts.append(
        {
            "account_id": aid,
            "borrower_id": bid,
            "product": "instalment_loan",
            "currency": "CNY",
            "principal": "2000.00",
            "annual_rate": "0.12",
            "penalty_rate": "0.05",
            "opened_on": (start - timedelta(days=60)).isoformat(),
        }
    )
    # the last two instalments of the loan: the first paid, the second missed
    for seq, due_on in enumerate([start - timedelta(days=26), start + timedelta(days=4)], 1):
        portfolio.due_items.append(
            {
                "account_id": aid,
                "seq": str(seq),
                "due_on": due_on.isoformat(),
                "principal": "1000.00",
                "interest": "30.00",
                "fee": "0",
            }
        )
    portfolio.paid_before_start.append((aid, 1))
    return Script()


def timeline(conn: Connection, start: date) -> list[str]:
    """What happened to the case-study borrower, day by day, in the product's words."""
    case = conn.execute(
        select(t.cases).where(t.cases.c.borrower_id == STORY_BORROWER).order_by(t.cases.c.id)
    ).first()
    if case is None:
        return ["the case-study borrower never fell behind"]
    events: list[tuple[date, tuple[int, ...], str]] = [(case.opened_on, (0,), "case opened, DPD 1")]
    for a in conn.execute(
        select(t.actions).where(t.actions.c.case_id == case.id).order_by(t.actions.c.id)
    ):
        who = "borrower" if a.target_type == "borrower" else f"contact {a.target_id}"
        rule = f" ({a.rule_id}: {a.reason})" if a.rule_id else ""
        events.append(
            (a.business_date, (1, a.id, 0), f"{a.channel} {a.template} to {who}: {a.status}{rule}")
        )
    for i in conn.execute(
        select(t.interactions)
        .where(t.interactions.c.case_id == case.id, t.interactions.c.channel == "call")
        .order_by(t.interactions.c.id)
    ):
        who = "borrower" if i.target_type == "borrower" else f"contact {i.target_id}"
        extra = f", hardship: {i.hardship}" if i.hardship else ""
        disclosed = ""
        if i.target_type == "contact":
            disclosed = " — script discloses nothing about the debt"
        events.append(
            (
                i.business_date,
                (1, i.action_id or 10**9, 1),
                f"{who} call outcome: {i.outcome}{extra}{disclosed}",
            )
        )
    for p in conn.execute(select(t.plans).where(t.plans.c.case_id == case.id)):
        events.append(
            (
                p.proposed_on,
                (2,),
                f"plan of {p.instalments} instalments, "
                f"{Money.from_minor(p.total, p.currency)}, now {p.status}",
            )
        )
        if p.ended_on:
            events.append((p.ended_on, (4,), f"plan {p.status}"))
    for p in conn.execute(
        select(t.payments)
        .where(
            t.payments.c.account_id.like(f"{STORY_BORROWER}-%"),
            t.payments.c.received_on >= start,
        )
        .order_by(t.payments.c.received_on)
    ):
        paid = Money.from_minor(p.amount, p.currency)
        events.append((p.received_on, (3,), f"payment received {paid}"))
    if case.closed_on:
        events.append((case.closed_on, (5,), f"case closed: {case.status}"))
    events.sort(key=lambda e: (e[0], e[1]))
    return [
        f"day {(d - case.opened_on).days + 1:>3} {d.isoformat()}  {text}" for d, _, text in events
    ]
