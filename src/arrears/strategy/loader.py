# ruff: noqa: E501  (messages and SQL read better unbroken)
"""Read a strategy file (YAML) into the model, reporting every problem with its line and column."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from arrears.domain.errors import DomainError
from arrears.domain.money import MINOR_UNITS
from arrears.domain.strategy import expr
from arrears.domain.strategy.check import warnings as static_warnings
from arrears.domain.strategy.fields import suggest
from arrears.domain.strategy.model import (
    EVENT_DAYS,
    Action,
    Addressees,
    Channel,
    Event,
    Segment,
    Step,
    Strategy,
    Trigger,
)
from arrears.domain.strategy.variants import Variant

HERE = Path(__file__).parent
BUILTIN = {p.stem: p for p in sorted(HERE.glob("*.yaml"))}


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    path: str
    line: int  # 1-based
    column: int  # 1-based
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.severity.value}: {self.message}"


class StrategyInvalid(DomainError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity is Severity.ERROR]
        super().__init__(
            f"{len(errors)} error(s) in the strategy; fix them and run `arrears strategy check`:\n"
            + "\n".join(str(p) for p in errors)
        )


class StrategyUnknown(DomainError):
    pass


@dataclass
class _Reader:
    path: str
    source: str
    problems: list[Problem] = field(default_factory=list)

    def at(self, node: Node, message: str, severity: Severity = Severity.ERROR) -> None:
        m = node.start_mark
        self.problems.append(Problem(self.path, m.line + 1, m.column + 1, message, severity))

    def expr_at(self, node: ScalarNode, offset: int, message: str) -> None:
        value: str = node.value
        line_in = value.count("\n", 0, offset)
        col_in = offset - (value.rfind("\n", 0, offset) + 1)
        m = node.start_mark
        lines = self.source.splitlines()
        if node.style in ("|", ">"):
            line = m.line + 1 + line_in
            first = lines[m.line + 1] if m.line + 1 < len(lines) else ""
            col = len(first) - len(first.lstrip(" ")) + col_in
        elif line_in == 0:
            col = m.column + (1 if node.style in ("'", '"') else 0) + col_in
            line = m.line
        else:
            line, col = m.line + line_in, col_in
        self.problems.append(Problem(self.path, line + 1, col + 1, message))

    # -- shapes

    def mapping(self, node: Node, what: str, keys: set[str], required: set[str]) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            self.at(node, f"{what} must be a mapping (key: value)")
            return {}
        out: dict[str, Node] = {}
        for k, v in node.value:
            key = str(k.value)
            if key not in keys:
                self.at(
                    k,
                    f"unknown key {key!r} in {what}{suggest(key, sorted(keys))}; allowed: {', '.join(sorted(keys))}",
                )
            elif key in out:
                self.at(k, f"{key!r} given twice in {what}")
            else:
                out[key] = v
        for key in sorted(required - out.keys()):
            self.at(node, f"{what} needs {key!r}")
        return out

    def seq(self, node: Node | None, what: str) -> list[Node]:
        if node is None:
            return []
        if not isinstance(node, SequenceNode):
            self.at(node, f"{what} must be a list")
            return []
        return list(node.value)

    def text(self, node: Node | None, what: str, default: str = "") -> str:
        if node is None:
            return default
        if not isinstance(node, ScalarNode):
            self.at(node, f"{what} must be text")
            return default
        return str(node.value)

    def integer(self, node: Node | None, what: str, default: int = 0) -> int:
        if node is None:
            return default
        if isinstance(node, ScalarNode) and re.fullmatch(r"-?\d+", str(node.value)):
            return int(node.value)
        self.at(node, f"{what} must be a whole number")
        return default

    def names(self, node: Node | None, what: str) -> list[tuple[str, Node]]:
        if node is None:
            return []
        if isinstance(node, ScalarNode):
            return [(str(node.value), node)]
        return [(self.text(n, what), n) for n in self.seq(node, what)]

    def condition(self, node: Node | None, currency: str) -> tuple[expr.Node, str]:
        if node is None:
            return expr.TRUE, "true"
        if not isinstance(node, ScalarNode):
            self.at(node, "a condition is text, e.g. when: dpd >= 3 and risk_score > 600")
            return expr.TRUE, "true"
        source = str(node.value)
        if node.tag.endswith(":bool"):
            source = source.lower()
        try:
            return expr.compile_condition(source, currency), " ".join(source.split())
        except expr.ExpressionInvalid as exc:
            for p in exc.problems:
                self.expr_at(node, p.offset, p.message)
            return expr.TRUE, source


TOP_KEYS = {
    "strategy",
    "version",
    "description",
    "currency",
    "salt",
    "variants",
    "segments",
    "steps",
}
SEGMENT_KEYS = {"name", "when", "queue", "description"}
STEP_KEYS = {"name", "on", "when", "segments", "variants", "action", "actions", "description"}
ACTION_KEYS = {"channel", "template", "target", "priority", "queue"}


def _enum(
    r: _Reader, node: Node | None, enum: type[StrEnum], what: str, default: StrEnum | None = None
) -> StrEnum | None:
    if node is None:
        if default is None:
            return None
        return default
    value = r.text(node, what)
    try:
        return enum(value)
    except ValueError:
        allowed = [e.value for e in enum]
        r.at(
            node,
            f"unknown {what} {value!r}{suggest(value, allowed)}; use one of {', '.join(allowed)}",
        )
        return None


def _trigger(r: _Reader, node: Node | None) -> Trigger | None:
    if node is None:
        return Trigger(Event.DAILY)
    if isinstance(node, ScalarNode):
        ev = _enum(r, node, Event, "event")
        if ev is None:
            return None
        event = Event(ev)
        if event is Event.DPD:
            r.at(node, "say which days: on: {dpd: 1} or on: {dpd: [3, 7, 15]}")
            return None
        days = (EVENT_DAYS[event],) if event in EVENT_DAYS else ()
        return Trigger(event, days)
    if isinstance(node, MappingNode) and len(node.value) == 1:
        k, v = node.value[0]
        ev = _enum(r, k, Event, "event")
        if ev is None:
            return None
        event = Event(ev)
        if event is Event.DPD:
            dpds = [
                r.integer(n, "a DPD") for n in (v.value if isinstance(v, SequenceNode) else [v])
            ]
            if not dpds or any(d < 0 for d in dpds):
                r.at(v, "DPD days are whole numbers from 0")
            return Trigger(event, tuple(sorted(set(dpds))))
        if event not in EVENT_DAYS:
            r.at(v, f"{event.value} takes no number of days; write on: {event.value}")
            return None
        return Trigger(event, (r.integer(v, "a number of days"),))
    r.at(node, "on: is an event name (case_opened, promise_broken ...) or {event: days}")
    return None


def _action(r: _Reader, node: Node) -> Action | None:
    m = r.mapping(node, "an action", ACTION_KEYS, {"channel", "template"})
    channel = _enum(r, m.get("channel"), Channel, "channel")
    target = _enum(r, m.get("target"), Addressees, "target", Addressees.BORROWER)
    template = r.text(m.get("template"), "template")
    if channel is None or target is None or not template:
        return None
    priority = r.integer(m.get("priority"), "priority", 50)
    queue = r.text(m.get("queue"), "queue") or None
    return Action(Channel(channel), template, Addressees(target), priority, queue)


def read(source: str, path: str = "<strategy>") -> tuple[Strategy | None, list[Problem]]:
    """The strategy in source and every problem found (errors and warnings)."""
    r = _Reader(path, source)
    try:
        root = yaml.compose(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, [Problem(path, line, col, f"not valid YAML: {getattr(exc, 'problem', exc)}")]
    if root is None:
        return None, [Problem(path, 1, 1, "empty strategy file")]
    top = r.mapping(root, "the strategy", TOP_KEYS, {"strategy", "steps"})
    name = r.text(top.get("strategy"), "strategy name", "unnamed")
    currency = r.text(top.get("currency"), "currency", "CNY")
    if currency not in MINOR_UNITS and "currency" in top:
        r.at(
            top["currency"],
            f"unknown currency {currency!r}; use an ISO 4217 code such as CNY or TWD",
        )
        currency = "CNY"
    salt = r.text(top.get("salt"), "salt", name)

    variants: list[Variant] = []
    for vn in r.seq(top.get("variants"), "variants"):
        vm = r.mapping(vn, "a variant", {"name", "share", "description"}, {"name", "share"})
        vname = r.text(vm.get("name"), "variant name")
        if vname in {v.name for v in variants}:
            r.at(vn, f"variant {vname!r} is defined twice")
        variants.append(Variant(vname, r.integer(vm.get("share"), "share")))
    if not variants:
        variants = [Variant("champion", 100)]
    total = sum(v.share for v in variants)
    if total != 100 or any(v.share < 0 for v in variants):
        r.at(
            top.get("variants", root), f"variant shares add up to {total}; they must add up to 100"
        )

    segments: list[Segment] = []
    for sn in r.seq(top.get("segments"), "segments"):
        sm = r.mapping(sn, "a segment", SEGMENT_KEYS, {"name"})
        sname = r.text(sm.get("name"), "segment name")
        if sname in {s.name for s in segments}:
            r.at(sn, f"segment {sname!r} is defined twice")
        when, text = r.condition(sm.get("when"), currency)
        queue = r.text(sm.get("queue"), "queue") or None
        segments.append(Segment(sname, when, text, queue, sn.start_mark.line + 1))
    if not segments:
        segments = [Segment("all", expr.TRUE, "true")]
    seg_names = [s.name for s in segments]
    var_names = [v.name for v in variants]

    steps: list[Step] = []
    for stn in r.seq(top.get("steps"), "steps"):
        sm = r.mapping(stn, "a step", STEP_KEYS, {"name"})
        sname = r.text(sm.get("name"), "step name")
        trigger = _trigger(r, sm.get("on"))
        when, text = r.condition(sm.get("when"), currency)
        on_segments = []
        for n, node in r.names(sm.get("segments"), "segment"):
            if n not in seg_names:
                r.at(
                    node,
                    f"unknown segment {n!r}{suggest(n, seg_names)}; defined: {', '.join(seg_names)}",
                )
            on_segments.append(n)
        on_variants = []
        for n, node in r.names(sm.get("variants"), "variant"):
            if n not in var_names:
                r.at(
                    node,
                    f"unknown variant {n!r}{suggest(n, var_names)}; defined: {', '.join(var_names)}",
                )
            on_variants.append(n)
        action_nodes = ([sm["action"]] if "action" in sm else []) + r.seq(
            sm.get("actions"), "actions"
        )
        if not action_nodes:
            r.at(stn, f"step {sname!r} needs an action (action: {{channel: sms, template: ...}})")
        pairs = [(_action(r, an), an) for an in action_nodes]
        actions = [a for a, _ in pairs if a is not None]
        seen: set[tuple[str, str]] = set()
        for a, an in ((a, an) for a, an in pairs if a is not None):
            if (a.channel, a.target) in seen:
                r.at(
                    an,
                    f"step {sname!r} has two {a.channel.value} actions to the {a.target.value}; a step reaches a person once per channel a day",
                )
            seen.add((a.channel, a.target))
        if trigger is None or not actions:
            continue
        line = stn.start_mark.line + 1
        if "{dpd}" in sname and trigger.event is Event.DPD:
            expanded = [
                (sname.replace("{dpd}", str(d)), Trigger(Event.DPD, (d,))) for d in trigger.days
            ]
        else:
            expanded = [(sname, trigger)]
        for concrete, trig in expanded:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", concrete):
                r.at(stn, f"step name {concrete!r} must be lower_snake_case, at most 64 characters")
            if concrete in {s.name for s in steps}:
                r.at(stn, f"step {concrete!r} is defined twice")
            steps.append(
                Step(
                    concrete,
                    trig,
                    when,
                    tuple(actions),
                    text,
                    tuple(on_segments),
                    tuple(on_variants),
                    line,
                )
            )

    version = r.integer(top.get("version"), "version", 1)
    description = r.text(top.get("description"), "description")
    strategy = Strategy(
        name, version, currency, salt, tuple(variants), tuple(segments), tuple(steps), description
    )
    if any(p.severity is Severity.ERROR for p in r.problems):
        return None, sorted(r.problems, key=lambda p: (p.line, p.column))
    for w in static_warnings(strategy):
        r.problems.append(Problem(path, w.line or 1, 1, w.message, Severity.WARNING))
    return strategy, sorted(r.problems, key=lambda p: (p.line, p.column))


def resolve(name_or_path: str | Path) -> Path:
    """A shipped strategy by name (seed, seed_challenger_day3) or a file path."""
    key = str(name_or_path)
    if key in BUILTIN:
        return BUILTIN[key]
    path = Path(key)
    if path.exists():
        return path
    raise StrategyUnknown(
        f"no strategy {key!r}: give a file path or one of {', '.join(sorted(BUILTIN))}"
    )


def load(strategy: object | None = None) -> Strategy:
    """A strategy from None (the seed), a shipped name, a path or a Strategy; errors raise."""
    if isinstance(strategy, Strategy):
        return strategy
    path = resolve("seed" if strategy is None else str(strategy))
    return _load_path(str(path), path.stat().st_mtime_ns)


_CACHE: dict[tuple[str, int], Strategy] = {}


def _load_path(path: str, mtime: int) -> Strategy:
    key = (path, mtime)
    if key not in _CACHE:
        parsed, problems = read(Path(path).read_text(encoding="utf-8"), path)
        if parsed is None:
            raise StrategyInvalid(problems)
        _CACHE[key] = parsed
    return _CACHE[key]


def loads(source: str, path: str = "<strategy>") -> Strategy:
    parsed, problems = read(source, path)
    if parsed is None:
        raise StrategyInvalid(problems)
    return parsed
