# ruff: noqa: E501  (messages and SQL read better unbroken)
"""Warnings about a well-formed strategy: segments or steps that can never apply, and steps
that may plan the same channel to the same person on the same day."""

from __future__ import annotations

from dataclasses import dataclass

from arrears.domain.strategy.expr import Compare, FieldRef, In, Lit, Logic, Node
from arrears.domain.strategy.model import Event, Step, Strategy

INF = 10**9
Range = tuple[int, int]  # inclusive DPD bounds
ANY: Range = (-INF, INF)


@dataclass(frozen=True)
class Warning_:
    line: int
    message: str


def _flip(op: str) -> str:
    return {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)


def dpd_range(node: Node) -> Range:
    """DPD values a condition allows, as far as its comparisons of dpd with numbers tell."""
    if isinstance(node, Lit) and node.value is False:
        return (1, 0)
    if isinstance(node, Logic):
        ranges = [dpd_range(o) for o in node.operands]
        if node.op == "and":
            return max(r[0] for r in ranges), min(r[1] for r in ranges)
        live = [r for r in ranges if r[0] <= r[1]]
        if not live:
            return (1, 0)
        return min(r[0] for r in live), max(r[1] for r in live)
    if (
        isinstance(node, In)
        and not node.negated
        and isinstance(node.operand, FieldRef)
        and node.operand.name == "dpd"
    ):
        values = [int(i.value) for i in node.items if isinstance(i.value, int)]
        return (min(values), max(values)) if values else (1, 0)
    if isinstance(node, Compare):
        field, lit, op = node.left, node.right, node.op
        if isinstance(field, Lit):
            field, lit, op = node.right, node.left, _flip(op)
        if (
            isinstance(field, FieldRef)
            and field.name == "dpd"
            and isinstance(lit, Lit)
            and isinstance(lit.value, int)
            and not isinstance(lit.value, bool)
        ):
            v = lit.value
            return {
                "==": (v, v),
                "<": (-INF, v - 1),
                "<=": (-INF, v),
                ">": (v + 1, INF),
                ">=": (v, INF),
            }.get(op, ANY)
    return ANY


def _meet(a: Range, b: Range) -> Range:
    return max(a[0], b[0]), min(a[1], b[1])


def _always(node: Node) -> bool:
    return isinstance(node, Lit) and node.value is True


def step_days(strategy: Strategy, step: Step) -> set[int] | None:
    """The DPD values on which a DPD step can fire (None: not a DPD step)."""
    if step.trigger.event is not Event.DPD:
        return None
    segs = [s for s in strategy.segments if not step.segments or s.name in step.segments]
    allowed: list[Range] = [_meet(dpd_range(s.when), dpd_range(step.when)) for s in segs]
    return {d for d in step.trigger.days if any(lo <= d <= hi for lo, hi in allowed)}


def warnings(strategy: Strategy) -> list[Warning_]:
    found: list[Warning_] = []
    catch_all: str | None = None
    for seg in strategy.segments:
        if catch_all is not None:
            found.append(
                Warning_(
                    seg.line,
                    f"segment {seg.name!r} is unreachable: segment {catch_all!r} before it takes every case",
                )
            )
        lo, hi = dpd_range(seg.when)
        if lo > hi:
            found.append(
                Warning_(
                    seg.line, f"segment {seg.name!r} is unreachable: its condition allows no DPD"
                )
            )
        if _always(seg.when) and catch_all is None:
            catch_all = seg.name
    shares = {v.name: v.share for v in strategy.variants}
    for step in strategy.steps:
        if step.variants and all(shares.get(v, 0) == 0 for v in step.variants):
            found.append(
                Warning_(
                    step.line,
                    f"step {step.name!r} is unreachable: its variants {list(step.variants)} have no share",
                )
            )
        days = step_days(strategy, step)
        if days is not None and not days:
            found.append(
                Warning_(
                    step.line,
                    f"step {step.name!r} is unreachable: no segment or condition allows dpd in {list(step.trigger.days)}",
                )
            )
        elif days is None and dpd_range(step.when)[0] > dpd_range(step.when)[1]:
            found.append(
                Warning_(
                    step.line, f"step {step.name!r} is unreachable: its condition allows no DPD"
                )
            )
    found.extend(_overlaps(strategy))
    return found


def _overlaps(strategy: Strategy) -> list[Warning_]:
    found: list[Warning_] = []
    steps = strategy.steps
    for i, a in enumerate(steps):
        for b in steps[i + 1 :]:
            if a.trigger.event is not b.trigger.event:
                continue
            if a.trigger.event is Event.DPD:
                da, db = step_days(strategy, a) or set(), step_days(strategy, b) or set()
                if not da & db:
                    continue
                when = f"at dpd {sorted(da & db)}"
            elif a.trigger.days != b.trigger.days:
                continue
            else:
                when = f"on {a.trigger.describe()}"
                ra, rb = dpd_range(a.when), dpd_range(b.when)
                lo, hi = _meet(ra, rb)
                if lo > hi:
                    continue
            if a.segments and b.segments and not set(a.segments) & set(b.segments):
                continue
            if a.variants and b.variants and not set(a.variants) & set(b.variants):
                continue
            same = {(x.channel, x.target) for x in a.actions} & {
                (y.channel, y.target) for y in b.actions
            }
            for channel, target in sorted(same):
                found.append(
                    Warning_(
                        b.line,
                        f"steps {a.name!r} and {b.name!r} overlap: both may send {channel.value} to the {target.value} {when}",
                    )
                )
    return found
