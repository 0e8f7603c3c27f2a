"""The collections floor, simulated: agents work the day's call tasks through the real services,
borrowers and contacts answer as their behaviour says, and payments follow what was agreed.

This is a model of people, so it loops over the day's tasks; the engine it drives does not.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, insert, literal, select

from arrears.bootstrap import App
from arrears.domain.money import Money
from arrears.domain.outcomes import HardshipKind, Outcome
from arrears.domain.plans import PlanTerms
from arrears.services.outcomes import record_outcome
from arrears.services.plans import approve_plan, propose_plan
from arrears.services.promises import record_promise
from arrears.sim.behaviour import BEHAVIOURS, CONTACT_PASSES_MESSAGE, CONTACT_REFUSES, Profile
from arrears.sim.portfolio import Portfolio
from arrears.store import tables as t

AGENT = "agent.sim"
TEAM_LEAD = "lead.sim"
CALLS_PER_DAY = 2500  # forty agents, about sixty calls each


@dataclass
class Script:
    """Forced answers for a named borrower (the seed's case study)."""

    borrower_answers: bool = False
    contact_passes_message: bool = True
    hardship: HardshipKind = HardshipKind.ILLNESS
    note: str = "Fell ill and lost her income; looking for a new job; will repay when employed."
    plan_instalments: int = 3
    plan_interval_days: int = 14


@dataclass
class Floor:
    app: App
    portfolio: Portfolio
    rng: random.Random
    scripts: dict[str, Script] = field(default_factory=dict)
    _paying_until: dict[int, date] = field(default_factory=dict)
    _payment_seq: int = 0

    def work_day(self, d: date) -> None:
        with self.app.engine.begin() as conn:
            self._answer_reminders(conn, d)
            self._work_tasks(conn, d)

    # --- borrowers reading their messages -------------------------------------------------
    def _answer_reminders(self, conn: Connection, d: date) -> None:
        a, c = t.actions, t.cases
        rows = conn.execute(
            select(a.c.case_id, c.c.borrower_id)
            .join(c, c.c.id == a.c.case_id)
            .where(
                a.c.business_date == d,
                a.c.channel == "sms",
                a.c.target_type == "borrower",
                a.c.template.in_(["reminder_day1", "reminder"]),
                a.c.status.in_(["queued", "sent", "delivered"]),
            )
            .order_by(a.c.id)  # the draws below follow this order: the same on every database
        ).all()
        for case_id, borrower_id in rows:
            if borrower_id in self.scripts or self._busy(case_id, d):
                continue
            behaviour = BEHAVIOURS[self.portfolio.people[borrower_id].profile]
            if self.rng.random() < behaviour.pays_after_reminder:
                self._pay_overdue(conn, case_id, borrower_id, d + timedelta(self.rng.randint(0, 2)))

    # --- agents working the queue ----------------------------------------------------------
    def _work_tasks(self, conn: Connection, d: date) -> None:
        worked: set[int] = set()
        budget = CALLS_PER_DAY
        while budget > 0:
            tasks = self._open_tasks(conn, d, worked)
            if not tasks:
                return
            for task in tasks[:budget]:
                worked.add(task.id)
                budget -= 1
                self._work(conn, d, task)

    def _open_tasks(self, conn: Connection, d: date, worked: set[int]) -> list:  # type: ignore[type-arg]
        a, c = t.actions, t.cases
        rows = conn.execute(
            select(a, c.c.borrower_id)
            .join(c, c.c.id == a.c.case_id)
            .where(
                a.c.business_date == d,
                a.c.channel.in_(["call", "task"]),
                a.c.status == "planned",
                c.c.status == "open",
            )
            .order_by(a.c.priority, a.c.id)
        ).all()
        return [r for r in rows if r.id not in worked]

    def _work(self, conn: Connection, d: date, task) -> None:  # type: ignore[no-untyped-def]
        if task.channel == "task":
            self._agree_plan(conn, d, task)
        elif task.target_type == "contact":
            self._call_contact(conn, d, task)
        else:
            self._call_borrower(conn, d, task)

    def _call_borrower(self, conn: Connection, d: date, task) -> None:  # type: ignore[no-untyped-def]
        person = self.portfolio.people[task.borrower_id]
        behaviour = BEHAVIOURS[person.profile]
        script = self.scripts.get(task.borrower_id)
        answers = script.borrower_answers if script else self.rng.random() < behaviour.answers
        if not answers:
            self._record(conn, d, task, Outcome.NO_ANSWER)
            return
        if person.profile is Profile.HARDSHIP:
            kind = self.rng.choice([HardshipKind.ILLNESS, HardshipKind.JOB_LOSS])
            self._record(conn, d, task, Outcome.HARDSHIP, hardship=kind)
            return
        if self._busy(task.case_id, d):
            self._record(conn, d, task, Outcome.RIGHT_PARTY, note="payment already on its way")
            return
        self._record(conn, d, task, Outcome.PROMISE)
        self._promise(conn, d, task.case_id, task.borrower_id, behaviour.keeps_promise)

    def _call_contact(self, conn: Connection, d: date, task) -> None:  # type: ignore[no-untyped-def]
        person = self.portfolio.people[task.borrower_id]
        script = self.scripts.get(task.borrower_id)
        roll = self.rng.random()
        if script and script.contact_passes_message:
            roll = 0.0
        if roll < CONTACT_PASSES_MESSAGE:
            hardship = note = None
            if person.profile is Profile.HARDSHIP:
                hardship = script.hardship if script else HardshipKind.ILLNESS
                note = script.note if script else "Contact says the borrower is unwell."
            self._record(conn, d, task, Outcome.CONTACT_REACHED, hardship=hardship, note=note)
            behaviour = BEHAVIOURS[person.profile]
            passes_on = self.rng.random() < behaviour.pays_after_reminder
            if hardship is None and not self._busy(task.case_id, d) and passes_on:
                self._pay_overdue(conn, task.case_id, task.borrower_id, d + timedelta(2))
        elif roll < CONTACT_PASSES_MESSAGE + CONTACT_REFUSES:
            self._record(conn, d, task, Outcome.CONTACT_REFUSED)
        else:
            self._record(conn, d, task, Outcome.NO_ANSWER)

    def _agree_plan(self, conn: Connection, d: date, task) -> None:  # type: ignore[no-untyped-def]
        script = self.scripts.get(task.borrower_id) or Script()
        terms = PlanTerms(
            instalments=script.plan_instalments,
            first_due_on=d + timedelta(days=7),
            interval_days=script.plan_interval_days,
            waive_penalty=True,
        )
        proposed = propose_plan(conn, case_id=task.case_id, terms=terms, proposed_on=d, by=AGENT)
        if proposed.approval_reasons:
            approve_plan(conn, proposed.plan_id, by=TEAM_LEAD, on=d)
        conn.execute(
            t.actions.update()
            .where(t.actions.c.id == task.id)
            .values(status="done", completed_at=_at(d, 11))
        )
        behaviour = BEHAVIOURS[self.portfolio.people[task.borrower_id].profile]
        keeps = 1.0 if task.borrower_id in self.scripts else behaviour.keeps_plan
        # each instalment is paid into the accounts whose arrears the plan covers, in turn
        covered = self._arrears(conn, task.borrower_id, d)
        pi = t.plan_instalments.c
        for seq, due_on, amount in conn.execute(
            select(pi.seq, pi.due_on, pi.amount)
            .where(pi.plan_id == proposed.plan_id)
            .order_by(pi.seq)
        ):
            if self.rng.random() >= keeps and seq > 1:
                break
            on = due_on - timedelta(days=1)
            for aid in list(covered):
                part = amount if aid == next(reversed(covered)) else min(amount, covered[aid])
                if part > 0:
                    self._pay(conn, aid, part, on)
                    amount -= part
                    covered[aid] -= part
        self._paying_until[task.case_id] = d + timedelta(days=60)

    # --- helpers ---------------------------------------------------------------------------
    def _record(self, conn: Connection, d: date, task, outcome: Outcome, **kw: object) -> None:  # type: ignore[no-untyped-def]
        record_outcome(
            conn,
            case_id=task.case_id,
            target_type=task.target_type,
            target_id=task.target_id,
            channel="call",
            outcome=outcome,
            at=_at(d, 10),
            business_date=d,
            agent=AGENT,
            action_id=task.id,
            gate=self.app.gate,
            rule_pack=self.app.settings.rule_pack,
            **kw,  # type: ignore[arg-type]
        )

    def _promise(
        self, conn: Connection, d: date, case_id: int, borrower_id: str, keeps: float
    ) -> None:
        overdue = self._overdue(conn, borrower_id)
        if not overdue:
            return
        total = sum(overdue.values())
        due_on = d + timedelta(days=2)
        record_promise(
            conn,
            case_id=case_id,
            amount=Money.from_minor(total, "CNY"),
            due_on=due_on,
            made_on=d,
            agent=AGENT,
        )
        roll = self.rng.random()
        if roll < keeps:
            early = timedelta(days=self.rng.randint(0, 2))
            self._pay_overdue(conn, case_id, borrower_id, due_on - early)
        elif roll < keeps + (1 - keeps) / 3:
            self._pay_across(conn, borrower_id, total // 2, due_on)
        self._paying_until[case_id] = due_on

    def _busy(self, case_id: int, d: date) -> bool:
        return self._paying_until.get(case_id, date.min) >= d

    def _overdue(self, conn: Connection, borrower_id: str) -> dict[str, int]:
        rows = conn.execute(
            select(t.accounts.c.id, t.accounts.c.overdue_amount)
            .where(t.accounts.c.borrower_id == borrower_id, t.accounts.c.overdue_amount > 0)
            .order_by(t.accounts.c.id)
        ).all()
        return {aid: amount for aid, amount in rows}

    def _arrears(self, conn: Connection, borrower_id: str, before: date) -> dict[str, int]:
        """What is left to pay on the items due before the date, by account (after waivers)."""
        i, a = t.due_items.c, t.accounts.c
        left = sum(
            (i[c] - i[f"paid_{c}"] for c in ("principal", "interest", "fee", "penalty")),
            start=literal(0),
        )
        rows = conn.execute(
            select(i.account_id, func.sum(left))
            .join(t.accounts, a.id == i.account_id)
            .where(a.borrower_id == borrower_id, i.due_on < before)
            .group_by(i.account_id)
            .order_by(i.account_id)
        ).all()
        return {aid: int(n) for aid, n in rows if n and n > 0}

    def _pay_overdue(self, conn: Connection, case_id: int, borrower_id: str, on: date) -> None:
        for aid, amount in self._overdue(conn, borrower_id).items():
            self._pay(conn, aid, amount + 200, on)  # a little over, for penalty accrued meanwhile
        self._paying_until[case_id] = on

    def _pay_across(self, conn: Connection, borrower_id: str, amount: int, on: date) -> None:
        overdue = self._overdue(conn, borrower_id)
        for aid, owed in overdue.items():
            part = min(amount, owed) if len(overdue) > 1 else amount
            if part > 0:
                self._pay(conn, aid, part, on)
                amount -= part

    def _pay(self, conn: Connection, account_id: str, amount: int, on: date) -> None:
        self._payment_seq += 1
        conn.execute(
            insert(t.payments).values(
                id=f"S{self._payment_seq:07d}",
                account_id=account_id,
                amount=amount,
                currency="CNY",
                received_on=on,
                source="sim",
            )
        )


def _at(d: date, hour: int) -> datetime:
    """The floor's working hour on a day, on the lender's clock (Shanghai): a call made at ten
    is at ten where the agents sit, not at ten in Greenwich. Given in UTC, as stored (SQLite
    keeps no offset)."""
    return datetime.combine(d, time(hour), tzinfo=_FLOOR_TZ).astimezone(UTC)


_FLOOR_TZ = ZoneInfo("Asia/Shanghai")
