"""The reference evaluator: one case, one date, plain Python — the meaning the compiled engine
must reproduce for every case at once. Conditions use SQL's three-valued logic (a comparison
with a missing value is unknown, and only a condition that is true selects)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from arrears.domain.money import Money
from arrears.domain.strategy.expr import (
    Arith,
    Call,
    Compare,
    FieldRef,
    In,
    Lit,
    Logic,
    Neg,
    Node,
    Not,
    Value,
    fields_used,
)
from arrears.domain.strategy.fields import Type
from arrears.domain.strategy.model import Addressees, Event, Step, Strategy
from arrears.domain.strategy.variants import bucket_of, variant_of_bucket


@dataclass(frozen=True)
class AccountFacts:
    id: str
    product: str
    dpd: int
    overdue_minor: int
    outstanding_minor: int


@dataclass(frozen=True)
class PromiseFacts:
    id: int
    made_on: date
    due_on: date
    status: str
    settled_on: date | None = None


@dataclass(frozen=True)
class InstalmentFacts:
    due_on: date
    status: str  # pending | paid | missed


@dataclass(frozen=True)
class PlanFacts:
    id: int
    proposed_on: date
    status: str
    instalments: tuple[InstalmentFacts, ...] = ()


@dataclass(frozen=True)
class ContactFacts:
    id: str
    consent: bool
    status: str

    @property
    def reachable(self) -> bool:
        return self.consent and self.status == "active"


@dataclass(frozen=True)
class CaseSnapshot:
    """What the strategy may know of one open case on the date."""

    case_id: int
    borrower_id: str
    currency: str
    opened_on: date
    dpd: int
    bucket: str
    overdue_minor: int
    language: str = "zh-CN"
    phone_status: str = "ok"
    risk_score: int | None = None
    region: str | None = None
    hardship: str | None = None
    unreachable_on: date | None = None
    last_contact_on: date | None = None
    accounts: tuple[AccountFacts, ...] = ()
    promises: tuple[PromiseFacts, ...] = ()
    plans: tuple[PlanFacts, ...] = ()
    contacts: tuple[ContactFacts, ...] = ()
    assigned_variant: str | None = None  # stored for this strategy, if any
    p_pay_30: Decimal | None = None  # the case's scores of the date (None: not scored)
    p_self_cure: Decimal | None = None


@dataclass(frozen=True)
class PlannedAction:
    case_id: int
    step: str
    target_type: str  # borrower | contact
    target_id: str
    channel: str
    template: str
    priority: int

    def key(self) -> tuple[int, str, str, str, str]:
        return (self.case_id, self.step, self.target_type, self.target_id, self.channel)


@dataclass(frozen=True)
class StepTrace:
    step: str
    fired: bool
    reason: str


@dataclass(frozen=True)
class Decision:
    case_id: int
    segment: str | None
    variant: str
    facts: dict[str, Value]
    steps: tuple[StepTrace, ...] = ()
    actions: tuple[PlannedAction, ...] = field(default=())
    segment_reason: str = ""


# ---------------------------------------------------------------- facts


def _days(later: date, earlier: date) -> int:
    return (later - earlier).days


def latest_status(items: list[tuple[date, int, str]], current: str) -> str:
    """`current` if any item has it, else the latest item's status, else 'none'."""
    if any(s == current for _, _, s in items):
        return current
    if not items:
        return "none"
    return max(items)[2]


def facts_of(snap: CaseSnapshot, as_of: date, strategy: Strategy) -> dict[str, Value]:
    accounts = snap.accounts
    worst = min(accounts, key=lambda a: (-a.dpd, -a.overdue_minor, a.id)) if accounts else None
    cur = snap.currency
    variant = snap.assigned_variant or variant_of_bucket(
        bucket_of(snap.case_id, strategy.salt), strategy.variants
    )
    return {
        "dpd": snap.dpd,
        "bucket": snap.bucket,
        "overdue_amount": Money.from_minor(snap.overdue_minor, cur),
        "balance": Money.from_minor(sum(a.outstanding_minor for a in accounts), cur),
        "product": worst.product if worst else None,
        "accounts": len(accounts),
        "delinquent_accounts": sum(1 for a in accounts if a.dpd > 0),
        "risk_score": snap.risk_score,
        "language": snap.language,
        "region": snap.region,
        "phone_status": snap.phone_status,
        "days_since_last_contact": (
            None if snap.last_contact_on is None else _days(as_of, snap.last_contact_on)
        ),
        "days_open": _days(as_of, snap.opened_on),
        "contacts_reachable": sum(1 for c in snap.contacts if c.reachable),
        "ptp_status": latest_status([(p.made_on, p.id, p.status) for p in snap.promises], "open"),
        "plan_status": latest_status(
            [(p.proposed_on, p.id, p.status) for p in snap.plans], "active"
        ),
        "hardship": snap.hardship,
        "unreachable": snap.unreachable_on == as_of,
        "variant": variant,
        "p_pay_30": snap.p_pay_30,
        "p_self_cure": snap.p_self_cure,
    }


# ---------------------------------------------------------------- conditions


def _kleene_and(values: list[Value]) -> bool | None:
    if any(v is False for v in values):
        return False
    if any(v is None for v in values):
        return None
    return True


def _kleene_or(values: list[Value]) -> bool | None:
    if any(v is True for v in values):
        return True
    if any(v is None for v in values):
        return None
    return False


_COMPARE: dict[str, Callable[[object, object], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,  # type: ignore[operator]
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
    ">": lambda a, b: a > b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
}


def _int(v: Value) -> int:
    assert isinstance(v, int), v
    return v


def _arith(op: str, a: Value, b: Value) -> Value:
    if a is None or b is None:
        return None
    if isinstance(a, Money) and isinstance(b, Money):
        return a + b if op == "+" else a - b
    if isinstance(a, Money):
        return a * _int(b)
    if isinstance(b, Money):
        return b * _int(a)
    x, y = _int(a), _int(b)
    return x + y if op == "+" else x - y if op == "-" else x * y


def _case_currency(facts: dict[str, Value], default: str) -> str:
    """The case's currency: that of its money fields (default when the facts have none)."""
    amount = facts.get("overdue_amount")
    return amount.currency if isinstance(amount, Money) else default


def evaluate_expr(node: Node, facts: dict[str, Value]) -> Value:
    """The value of a checked expression for one case; None is SQL's unknown / null."""
    if isinstance(node, Lit):
        v = node.value
        assert not isinstance(v, Decimal) or node.type is Type.PROBABILITY, (
            "number literals are typed by the checker"
        )
        if isinstance(v, Money) and v.currency != _case_currency(facts, v.currency):
            return None  # an amount in the strategy's currency says nothing of another's
        return v
    if isinstance(node, FieldRef):
        return facts[node.name]
    if isinstance(node, Neg):
        inner = evaluate_expr(node.operand, facts)
        if isinstance(inner, Money):
            return -inner
        return None if inner is None else -_int(inner)
    if isinstance(node, Arith):
        return _arith(node.op, evaluate_expr(node.left, facts), evaluate_expr(node.right, facts))
    if isinstance(node, Compare):
        a, b = evaluate_expr(node.left, facts), evaluate_expr(node.right, facts)
        if a is None or b is None:
            return None
        return _COMPARE[node.op](a, b)
    if isinstance(node, In):
        x = evaluate_expr(node.operand, facts)
        if x is None:
            return None
        items = [evaluate_expr(item, facts) for item in node.items]
        if any(x == v for v in items if v is not None):
            return not node.negated
        if any(v is None for v in items):
            return None  # SQL: not found among the known items, and an unknown one
        return node.negated
    if isinstance(node, Logic):
        values = [evaluate_expr(o, facts) for o in node.operands]
        return _kleene_and(values) if node.op == "and" else _kleene_or(values)
    if isinstance(node, Not):
        inner = evaluate_expr(node.operand, facts)
        return None if inner is None else not inner
    if isinstance(node, Call):
        args = [evaluate_expr(a, facts) for a in node.args]
        if node.name == "is_set":
            return args[0] is not None
        if node.name == "coalesce":
            return args[0] if args[0] is not None else args[1]
        if any(a is None for a in args):
            return None
        if node.name == "abs":
            x = args[0]
            if isinstance(x, Money):
                return x.max(-x)
            if isinstance(x, Decimal):
                return abs(x)
            return abs(x) if isinstance(x, int) else None
        a, b = args
        if node.name == "min":
            return a if a <= b else b  # type: ignore[operator]
        return a if a >= b else b  # type: ignore[operator]
    raise AssertionError(node)


def holds(node: Node, facts: dict[str, Value]) -> bool:
    return evaluate_expr(node, facts) is True


def show(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def values_of(node: Node, facts: dict[str, Value]) -> str:
    names = sorted(fields_used(node))
    return ", ".join(f"{n} = {show(facts[n])}" for n in names) or "no fields"


# ---------------------------------------------------------------- triggers


def triggered(step: Step, snap: CaseSnapshot, as_of: date, facts: dict[str, Value]) -> bool:
    t = step.trigger
    ev = t.event
    n = t.days[0] if t.days else 0
    if ev is Event.DPD:
        return facts["dpd"] in t.days
    if ev is Event.DAILY:
        return True
    if ev is Event.CASE_OPENED:
        return snap.opened_on == as_of
    if ev is Event.BORROWER_UNREACHABLE:
        return snap.unreachable_on == as_of
    if ev is Event.PROMISE_DUE:
        return any(
            p.status == "open" and p.due_on == as_of + timedelta(days=n) for p in snap.promises
        )
    if ev is Event.PROMISE_BROKEN:
        return any(p.status == "broken" and p.settled_on == as_of for p in snap.promises)
    if ev is Event.PLAN_INSTALMENT_DUE:
        return any(
            i.status == "pending" and i.due_on == as_of + timedelta(days=n)
            for p in snap.plans
            if p.status == "active"
            for i in p.instalments
        )
    if ev is Event.PLAN_INSTALMENT_MISSED:
        return any(
            i.status != "paid" and i.due_on == as_of - timedelta(days=n)
            for p in snap.plans
            if p.status == "active"
            for i in p.instalments
        )
    raise AssertionError(ev)


def _trigger_state(step: Step, facts: dict[str, Value]) -> str:
    if step.trigger.event is Event.DPD:
        return f"dpd is {facts['dpd']}, the step runs at {step.trigger.describe()}"
    return f"no {step.trigger.describe()} today"


# ---------------------------------------------------------------- the decision


def segment_of(strategy: Strategy, facts: dict[str, Value]) -> tuple[str | None, str]:
    """The first segment whose condition holds, and why."""
    skipped: list[str] = []
    for seg in strategy.segments:
        if holds(seg.when, facts):
            why = f"`{seg.source}` holds ({values_of(seg.when, facts)})"
            if skipped:
                why += "; before it " + "; ".join(skipped)
            return seg.name, why
        skipped.append(f"{seg.name}: `{seg.source}` is {show(evaluate_expr(seg.when, facts))}")
    return None, "no segment matches: " + "; ".join(skipped)


def evaluate(strategy: Strategy, snap: CaseSnapshot, as_of: date) -> Decision:
    """Which segment, variant and steps apply to one open case on as_of, and the actions."""
    facts = facts_of(snap, as_of, strategy)
    variant = str(facts["variant"])
    segment, seg_reason = segment_of(strategy, facts)
    traces: list[StepTrace] = []
    actions: list[PlannedAction] = []
    for step in strategy.steps:
        if segment is None or (step.segments and segment not in step.segments):
            traces.append(StepTrace(step.name, False, f"only for segments {list(step.segments)}"))
            continue
        if step.variants and variant not in step.variants:
            traces.append(StepTrace(step.name, False, f"only for variants {list(step.variants)}"))
            continue
        if not triggered(step, snap, as_of, facts):
            traces.append(StepTrace(step.name, False, _trigger_state(step, facts)))
            continue
        value = evaluate_expr(step.when, facts)
        if value is not True:
            why = f"`{step.source}` is {show(value)} ({values_of(step.when, facts)})"
            traces.append(StepTrace(step.name, False, why))
            continue
        made = _actions(step, snap)
        why = f"{step.trigger.describe()} and `{step.source}` holds"
        if not made:
            why += ", but there is no one to reach (no consenting active contact)"
        traces.append(StepTrace(step.name, bool(made), why))
        actions.extend(made)
    return Decision(
        snap.case_id, segment, variant, facts, tuple(traces), tuple(actions), seg_reason
    )


def _actions(step: Step, snap: CaseSnapshot) -> list[PlannedAction]:
    made: list[PlannedAction] = []
    for a in step.actions:
        if a.target is Addressees.BORROWER:
            targets = [("borrower", snap.borrower_id)]
        else:
            targets = [("contact", c.id) for c in snap.contacts if c.reachable]
        for kind, ident in targets:
            made.append(
                PlannedAction(
                    snap.case_id, step.name, kind, ident, a.channel.value, a.template, a.priority
                )
            )
    return made
