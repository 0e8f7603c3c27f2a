"""Condition expressions: tokenizer, parser and type checker.

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum | ["not"] "in" list)?
    sum     := product (("+" | "-") product)*
    product := unary ("*" unary)*
    unary   := "-" unary | atom
    atom    := NUMBER [CURRENCY] | STRING | "true" | "false" | FIELD | NAME "(" args ")"
             | "(" expr ")"
    list    := "[" literal ("," literal)* "]"

Every node keeps the offset of its first character, so an error points at a line and column.
The checker returns a typed tree: number literals compared with money become money (in the
strategy's currency; `70 USD` names its own), text compared with a field of known values must
be one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal

from arrears.domain.errors import DomainError
from arrears.domain.money import MINOR_UNITS, Money, minor_units
from arrears.domain.strategy.fields import FIELDS, Field, Type, suggest


@dataclass(frozen=True)
class ExpressionProblem:
    offset: int
    message: str


class ExpressionInvalid(DomainError):
    def __init__(self, problems: list[ExpressionProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"at {p.offset}: {p.message}" for p in problems))


Value = int | str | bool | Money | Decimal | None


# ---------------------------------------------------------------- nodes


@dataclass(frozen=True)
class Node:
    pos: int
    type: Type | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class Lit(Node):
    value: int | str | bool | Money | Decimal


@dataclass(frozen=True)
class FieldRef(Node):
    name: str
    nullable: bool = field(default=True, kw_only=True)


@dataclass(frozen=True)
class Neg(Node):
    operand: Node


@dataclass(frozen=True)
class Arith(Node):
    op: str  # + - *
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare(Node):
    op: str  # == != < <= > >=
    left: Node
    right: Node


@dataclass(frozen=True)
class In(Node):
    operand: Node
    items: tuple[Lit, ...]
    negated: bool


@dataclass(frozen=True)
class Logic(Node):
    op: str  # and | or
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]


FUNCTIONS: dict[str, str] = {
    "is_set": "is_set(x): true when x has a value (never null)",
    "coalesce": "coalesce(x, y): x, or y when x is null",
    "min": "min(a, b): the smaller (null if either is null)",
    "max": "max(a, b): the larger (null if either is null)",
    "abs": "abs(x): the absolute value",
}

# ---------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      |(?P<num>\d+(?:\.\d+)?)
      |(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
      |(?P<op>==|!=|<=|>=|<|>|\+|-|\*|\(|\)|\[|\]|,|=)""",
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "not", "in", "true", "false"}


@dataclass(frozen=True)
class Token:
    kind: str  # num str name op kw end
    text: str
    pos: int


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:
            raise ExpressionInvalid(
                [ExpressionProblem(pos, f"unexpected character {source[pos]!r}")]
            )
        kind = m.lastgroup or "ws"
        text = m.group()
        if kind == "op" and text == "=":
            raise ExpressionInvalid([ExpressionProblem(pos, "use '==' to compare, not '='")])
        if kind == "name" and text in KEYWORDS:
            kind = "kw"
        if kind != "ws":
            tokens.append(Token(kind, text, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


# ---------------------------------------------------------------- parser


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, message: str, tok: Token | None = None) -> ExpressionInvalid:
        t = tok or self.tok
        return ExpressionInvalid([ExpressionProblem(t.pos, message)])

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        t = self.tok
        if t.kind == kind and (text is None or t.text == text):
            self.i += 1
            return t
        return None

    def expect(self, kind: str, text: str, what: str) -> Token:
        t = self.accept(kind, text)
        if t is None:
            found = self.tok.text or "end of expression"
            raise self.fail(f"expected {what}, found {found!r}")
        return t

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self.fail("empty expression; write a condition such as dpd >= 1")
        node = self.or_()
        if self.tok.kind != "end":
            raise self.fail(f"unexpected {self.tok.text!r}; join conditions with 'and' / 'or'")
        return node

    def or_(self) -> Node:
        first = self.and_()
        items = [first]
        while self.accept("kw", "or"):
            items.append(self.and_())
        return first if len(items) == 1 else Logic(first.pos, "or", tuple(items))

    def and_(self) -> Node:
        first = self.not_()
        items = [first]
        while self.accept("kw", "and"):
            items.append(self.not_())
        return first if len(items) == 1 else Logic(first.pos, "and", tuple(items))

    def not_(self) -> Node:
        t = self.accept("kw", "not")
        if t is not None:
            return Not(t.pos, self.not_())
        return self.compare()

    def compare(self) -> Node:
        left = self.sum_()
        t = self.tok
        if t.kind == "op" and t.text in ("==", "!=", "<", "<=", ">", ">="):
            self.i += 1
            return Compare(t.pos, t.text, left, self.sum_())
        negated = False
        if t.kind == "kw" and t.text == "not" and self.tokens[self.i + 1].text == "in":
            self.i += 1
            negated = True
        if self.accept("kw", "in"):
            return In(left.pos, left, self.list_(), negated)
        return left

    def list_(self) -> tuple[Lit, ...]:
        self.expect("op", "[", "'[' to start a list")
        items: list[Lit] = []
        while True:
            atom = self.unary()
            if not isinstance(atom, Lit):
                raise self.fail("a list holds literals only (numbers, 'text', true, false)")
            items.append(atom)
            if self.accept("op", "]"):
                return tuple(items)
            self.expect("op", ",", "',' or ']'")

    def sum_(self) -> Node:
        left = self.product()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op = self.tok.text
            self.i += 1
            left = Arith(left.pos, op, left, self.product())
        return left

    def product(self) -> Node:
        left = self.unary()
        while self.accept("op", "*"):
            left = Arith(left.pos, "*", left, self.unary())
        return left

    def unary(self) -> Node:
        t = self.accept("op", "-")
        if t is not None:
            operand = self.unary()
            if isinstance(operand, Lit) and isinstance(operand.value, int | Decimal | Money):
                return Lit(t.pos, -operand.value)
            return Neg(t.pos, operand)
        return self.atom()

    def atom(self) -> Node:
        t = self.tok
        if self.accept("num"):
            value: int | Decimal = Decimal(t.text) if "." in t.text else int(t.text)
            code = self.tok
            if code.kind == "name" and re.fullmatch(r"[A-Z]{3}", code.text):
                if code.text not in MINOR_UNITS:
                    raise self.fail(
                        f"unknown currency {code.text!r}; use an ISO 4217 code such as CNY", code
                    )
                self.i += 1  # an amount in a named currency: 70 USD
                return Lit(t.pos, Money(Decimal(value), code.text))
            return Lit(t.pos, value)
        if self.accept("str"):
            body = t.text[1:-1]
            return Lit(t.pos, re.sub(r"\\(.)", r"\1", body))
        if self.accept("kw", "true") or self.accept("kw", "false"):
            return Lit(t.pos, t.text == "true")
        if self.accept("name"):
            if self.accept("op", "("):
                args: list[Node] = []
                if not self.accept("op", ")"):
                    while True:
                        args.append(self.or_())
                        if self.accept("op", ")"):
                            break
                        self.expect("op", ",", "',' or ')'")
                return Call(t.pos, t.text, tuple(args))
            return FieldRef(t.pos, t.text)
        if self.accept("op", "("):
            inner = self.or_()
            self.expect("op", ")", "')'")
            return inner
        found = t.text or "end of expression"
        raise self.fail(f"expected a value, a field or '(', found {found!r}")


def parse(source: str) -> Node:
    """The syntax tree of source; ExpressionInvalid (with the offset) when it is not valid."""
    return _Parser(source).parse()


# ---------------------------------------------------------------- checker


class _Checker:
    def __init__(self, currency: str, fields: dict[str, Field]) -> None:
        self.currency = currency
        self.fields = fields
        self.problems: list[ExpressionProblem] = []

    def error(self, node: Node, message: str) -> None:
        self.problems.append(ExpressionProblem(node.pos, message))

    def literal_as(self, lit: Lit, want: Type) -> Lit | None:
        """A number literal as an integer or money; None (and an error) when it cannot be."""
        v = lit.value
        if want is Type.MONEY and isinstance(v, int | Decimal) and not isinstance(v, bool):
            q = Decimal(1).scaleb(-minor_units(self.currency))
            d = Decimal(v)
            if d != d.quantize(q):
                self.error(lit, f"{v} has more decimals than {self.currency} allows")
                return None
            return Lit(lit.pos, Money(d.quantize(q), self.currency), type=Type.MONEY)
        if want is Type.PROBABILITY and isinstance(v, int | Decimal) and not isinstance(v, bool):
            if not 0 <= v <= 1:
                self.error(lit, f"{v} is not a probability; write one from 0 to 1, e.g. 0.6")
                return None
            return Lit(lit.pos, Decimal(v), type=Type.PROBABILITY)
        if want is Type.INT and isinstance(v, int) and not isinstance(v, bool):
            return Lit(lit.pos, v, type=Type.INT)
        if want is Type.INT and isinstance(v, Decimal):
            self.error(lit, f"{v} is not a whole number; this side is an integer")
            return None
        return None

    def settle(self, node: Node) -> Node:
        """Give a lone number literal its natural type (integer)."""
        if node.type is Type.NUMBER and isinstance(node, Lit):
            return self.literal_as(node, Type.INT) or replace(node, type=Type.INT)
        return node

    def unify(self, a: Node, b: Node, what: str, at: Node) -> tuple[Node, Node, Type | None]:
        ta, tb = a.type, b.type
        if ta is None or tb is None:
            return a, b, None
        if ta is Type.NUMBER and tb is Type.NUMBER:
            a, b = self.settle(a), self.settle(b)
            return a, b, Type.INT
        if ta is Type.NUMBER and isinstance(a, Lit) and tb in _NUMERIC:
            la = self.literal_as(a, tb)
            return (la or a), b, (tb if la else None)
        if tb is Type.NUMBER and isinstance(b, Lit) and ta in _NUMERIC:
            lb = self.literal_as(b, ta)
            return a, (lb or b), (ta if lb else None)
        if ta is tb:
            return a, b, ta
        self.error(at, f"cannot {what} {_a(ta)} and {_a(tb)}")
        return a, b, None

    def check(self, node: Node) -> Node:
        if isinstance(node, Lit):
            v = node.value
            if isinstance(v, bool):
                return replace(node, type=Type.BOOL)
            if isinstance(v, str):
                return replace(node, type=Type.STRING)
            if isinstance(v, Money):  # an amount with its currency: 70 USD
                q = Decimal(1).scaleb(-minor_units(v.currency))
                if v.amount != v.amount.quantize(q):
                    self.error(node, f"{v.amount} has more decimals than {v.currency} allows")
                return replace(node, value=Money(v.amount.quantize(q), v.currency), type=Type.MONEY)
            return replace(node, type=Type.NUMBER)
        if isinstance(node, FieldRef):
            f = self.fields.get(node.name)
            if f is None:
                if node.name in FUNCTIONS:
                    self.error(node, f"{node.name} is a function; call it as {node.name}(...)")
                else:
                    hint = suggest(node.name, list(self.fields))
                    self.error(node, f"unknown field {node.name!r}{hint}")
                return node
            return replace(node, type=f.type, nullable=f.nullable)
        if isinstance(node, Neg):
            inner = self.settle(self.check(node.operand))
            if inner.type not in (Type.INT, Type.MONEY, None):
                self.error(node, f"cannot negate {_a(inner.type)}")
                return replace(node, operand=inner)
            return replace(node, operand=inner, type=inner.type)
        if isinstance(node, Arith):
            left, right = self.check(node.left), self.check(node.right)
            if node.op == "*":
                return self.check_product(node, left, right)
            left, right, t = self.unify(left, right, "add or subtract", node)
            if t not in (Type.INT, Type.MONEY, None):
                self.error(node, f"cannot add or subtract {_a(t)}")
                t = None
            return replace(node, left=left, right=right, type=t)
        if isinstance(node, Compare):
            left, right = self.check(node.left), self.check(node.right)
            left, right, t = self.unify(left, right, "compare", node)
            if t is Type.STRING:
                self.check_values(left, right)
                self.check_values(right, left)
            if node.op not in ("==", "!=") and t in (Type.STRING, Type.BOOL):
                self.error(node, f"{node.op} orders numbers and money, not {_a(t)}; use == or !=")
            return replace(node, left=left, right=right, type=Type.BOOL)
        if isinstance(node, In):
            operand = self.settle(self.check(node.operand))
            items: list[Lit] = []
            for item in node.items:
                checked = self.check(item)
                assert isinstance(checked, Lit)
                if checked.type is Type.NUMBER and operand.type in _NUMERIC:
                    checked = self.literal_as(checked, operand.type) or checked
                elif checked.type is Type.NUMBER:
                    settled = self.settle(checked)
                    assert isinstance(settled, Lit)
                    checked = settled
                if operand.type is not None and checked.type is not operand.type:
                    self.error(
                        checked, f"list item is {_a(checked.type)}, {_a(operand.type)} expected"
                    )
                elif operand.type is Type.STRING:
                    self.check_values(operand, checked)
                assert isinstance(checked, Lit)
                items.append(checked)
            return replace(node, operand=operand, items=tuple(items), type=Type.BOOL)
        if isinstance(node, Logic):
            operands = tuple(self.want_bool(self.check(o), node.op) for o in node.operands)
            return replace(node, operands=operands, type=Type.BOOL)
        if isinstance(node, Not):
            return replace(
                node, operand=self.want_bool(self.check(node.operand), "not"), type=Type.BOOL
            )
        if isinstance(node, Call):
            return self.check_call(node)
        raise AssertionError(node)

    def check_product(self, node: Arith, left: Node, right: Node) -> Node:
        left, right = self.settle(left), self.settle(right)
        types = {left.type, right.type}
        if None in types:
            return replace(node, left=left, right=right)
        if types == {Type.INT}:
            t: Type | None = Type.INT
        elif types == {Type.INT, Type.MONEY}:
            t = Type.MONEY
        else:
            self.error(node, f"cannot multiply {_a(left.type)} by {_a(right.type)}")
            t = None
        return replace(node, left=left, right=right, type=t)

    def check_values(self, maybe_field: Node, maybe_lit: Node) -> None:
        if isinstance(maybe_field, FieldRef) and isinstance(maybe_lit, Lit):
            f = self.fields.get(maybe_field.name)
            value = maybe_lit.value
            if f is not None and isinstance(value, str) and not f.accepts(value):
                self.error(maybe_lit, f"{value!r} is not a value of {f.name}; use {f.allowed()}")

    def want_bool(self, node: Node, op: str) -> Node:
        if node.type is not None and node.type is not Type.BOOL:
            self.error(node, f"'{op}' needs a condition, found {_a(node.type)}")
        return node

    def check_call(self, node: Call) -> Node:
        if node.name not in FUNCTIONS:
            hint = suggest(node.name, list(FUNCTIONS))
            self.error(node, f"unknown function {node.name!r}{hint}; known: {', '.join(FUNCTIONS)}")
            return node
        arity = 1 if node.name in ("is_set", "abs") else 2
        if len(node.args) != arity:
            self.error(
                node, f"{FUNCTIONS[node.name]} takes {arity} argument(s), got {len(node.args)}"
            )
            return node
        args = [self.check(a) for a in node.args]
        if node.name == "is_set":
            return replace(node, args=(self.settle(args[0]),), type=Type.BOOL)
        if node.name == "abs":
            a = self.settle(args[0])
            if a.type not in (Type.INT, Type.MONEY, None):
                self.error(node, f"abs needs an integer or money, found {_a(a.type)}")
            return replace(node, args=(a,), type=a.type)
        a, b, t = self.unify(args[0], args[1], f"pass to {node.name}", node)
        if t is Type.NUMBER:
            t = Type.INT
        if node.name in ("min", "max") and t not in (*_NUMERIC, None):
            self.error(node, f"{node.name} needs integers, money or probabilities, found {_a(t)}")
        return replace(node, args=(a, b), type=t)


_NUMERIC = (Type.INT, Type.MONEY, Type.PROBABILITY)  # a number literal can become one of them


def _a(t: Type | None) -> str:
    if t is None:
        return "an unknown type"
    return f"an {t.value}" if t.value[0] in "aeiou" else f"a {t.value}"


def check(node: Node, currency: str, *, want_bool: bool = True) -> Node:
    """The typed tree of node; ExpressionInvalid listing every problem found."""
    checker = _Checker(currency, FIELDS)
    typed = checker.check(node)
    if want_bool and typed.type is not None and typed.type is not Type.BOOL:
        checker.error(typed, f"a condition must be true or false, this is {_a(typed.type)}")
    if checker.problems:
        raise ExpressionInvalid(sorted(checker.problems, key=lambda p: p.offset))
    return typed


def compile_condition(source: str, currency: str) -> Node:
    """Parse and check a condition in one go."""
    return check(parse(source), currency)


def fields_used(node: Node) -> set[str]:
    """The names of the fields node reads."""
    if isinstance(node, FieldRef):
        return {node.name}
    found: set[str] = set()
    for child in _children(node):
        found |= fields_used(child)
    return found


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Neg | Not):
        return (node.operand,)
    if isinstance(node, Arith | Compare):
        return (node.left, node.right)
    if isinstance(node, In):
        return (node.operand, *node.items)
    if isinstance(node, Logic):
        return node.operands
    if isinstance(node, Call):
        return node.args
    return ()


TRUE = Lit(0, True, type=Type.BOOL)
