"""The strategy language: parsing, type checking with positions, three-valued evaluation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from arrears.domain.money import Money
from arrears.domain.strategy.evaluate import evaluate_expr
from arrears.domain.strategy.expr import ExpressionInvalid, compile_condition
from arrears.domain.strategy.fields import FIELDS
from arrears.strategy.compile import expression

FACTS = {name: None for name in FIELDS} | {
    "dpd": 5,
    "overdue_amount": Money(Decimal("1234.56"), "CNY"),
    "balance": Money(Decimal("5000.00"), "CNY"),
    "bucket": "M1",
    "ptp_status": "open",
    "unreachable": False,
    "contacts_reachable": 2,
}


def problems(source: str) -> list[tuple[int, str]]:
    with pytest.raises(ExpressionInvalid) as err:
        compile_condition(source, "CNY")
    return [(p.offset, p.message) for p in err.value.problems]


def value(source: str) -> object:
    return evaluate_expr(compile_condition(source, "CNY"), FACTS)


def test_unknown_field_points_at_it_and_suggests() -> None:
    [(offset, message)] = problems("dpd > 3 and risk_scor > 600")
    assert offset == 12
    assert "unknown field 'risk_scor'" in message and "risk_score" in message


def test_unknown_function_and_wrong_arity() -> None:
    [(offset, message)] = problems("dpd > 1 and days_between(dpd) > 2")
    assert offset == 12 and "unknown function 'days_between'" in message
    [(_, message)] = problems("min(dpd) > 1")
    assert "takes 2 argument" in message


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("dpd > 'M1'", "cannot compare an integer and a text"),
        ("bucket > 'M1'", "orders numbers and money"),
        ("overdue_amount > dpd", "cannot compare a money and an integer"),
        ("dpd + 1", "must be true or false"),
        ("dpd and unreachable", "'and' needs a condition"),
        ("ptp_status == 'kep'", "'kep' is not a value of ptp_status"),
        ("dpd > 2.5", "not a whole number"),
        ("overdue_amount > 10.005", "more decimals than CNY"),
        ("overdue_amount * balance > 1", "cannot multiply"),
        ("dpd in ['a']", "list item is a text"),
        ("dpd = 3", "use '=='"),
        ("dpd >", "expected a value"),
        ("(dpd > 3", "expected ')'"),
    ],
)
def test_type_and_syntax_errors(source: str, fragment: str) -> None:
    assert any(fragment in m for _, m in problems(source)), problems(source)


def test_number_literals_become_money_in_the_strategy_currency() -> None:
    assert value("overdue_amount > 1234.55") is True
    assert value("overdue_amount > 1234.56") is False
    assert value("balance - overdue_amount == 3765.44") is True
    assert value("overdue_amount * 2 >= 2469.12") is True
    assert expression(compile_condition("overdue_amount > 1234.55", "CNY")) == (
        "(f.overdue_amount > (CASE WHEN f.currency = 'CNY' THEN 123455 END))"
    )
    # JPY has no minor unit: 500 yen is 500 in storage
    assert expression(compile_condition("overdue_amount > 500", "JPY")) == (
        "(f.overdue_amount > (CASE WHEN f.currency = 'JPY' THEN 500 END))"
    )


def test_an_amount_in_the_strategy_currency_is_unknown_for_a_case_in_another() -> None:
    usd = FACTS | {
        "overdue_amount": Money(Decimal("1234.56"), "USD"),
        "balance": Money(Decimal("5000.00"), "USD"),
    }

    def in_usd(source: str) -> object:
        return evaluate_expr(compile_condition(source, "CNY"), usd)

    assert in_usd("overdue_amount > 10") is None
    assert in_usd("not (overdue_amount > 10)") is None
    assert in_usd("overdue_amount > 10 or dpd == 5") is True
    assert in_usd("balance - overdue_amount > overdue_amount") is True  # no literal: known
    assert in_usd("overdue_amount in [1234.56, 1.00]") is None
    assert in_usd("overdue_amount not in [1234.56]") is None
    assert value("overdue_amount in [1234.56, 1.00]") is True
    assert value("overdue_amount not in [1.00]") is True


def test_an_amount_may_name_its_currency() -> None:
    usd = FACTS | {"overdue_amount": Money(Decimal("80.00"), "USD")}
    either = "overdue_amount > 500 or overdue_amount > 70 USD"
    assert evaluate_expr(compile_condition(either, "CNY"), usd) is True
    assert value(either) is True  # 1,234.56 CNY > 500 CNY; 70 USD is unknown for it
    assert value("overdue_amount > 2000 or overdue_amount > 70 USD") is None
    assert evaluate_expr(compile_condition("overdue_amount > 90 USD", "CNY"), usd) is False
    assert evaluate_expr(compile_condition("overdue_amount in [80 USD, -1 USD]", "CNY"), usd)
    assert expression(compile_condition("overdue_amount >= 70.5 USD", "CNY")) == (
        "(f.overdue_amount >= (CASE WHEN f.currency = 'USD' THEN 7050 END))"
    )
    assert any("more decimals than JPY" in m for _, m in problems("overdue_amount > 1.5 JPY"))
    assert any("unknown currency 'XYZ'" in m for _, m in problems("overdue_amount > 1 XYZ"))
    assert any("cannot compare" in m for _, m in problems("dpd > 5 USD"))


def test_missing_values_follow_sql_three_valued_logic() -> None:
    assert value("risk_score > 600") is None
    assert value("not (risk_score > 600)") is None
    assert value("risk_score > 600 or dpd == 5") is True
    assert value("risk_score > 600 and dpd == 5") is None
    assert value("risk_score > 600 and dpd == 6") is False
    assert value("region in ['north']") is None
    assert value("is_set(risk_score)") is False
    assert value("coalesce(risk_score, 0) < 500") is True
    assert value("max(risk_score, 500) > 1") is None


def test_operators_and_functions() -> None:
    assert value("dpd in [1, 5] and ptp_status not in ['broken', 'kept']") is True
    assert value("abs(dpd - 30) == 25 and -dpd == -5 and dpd + 2 * 3 == 11") is True
    assert value("min(overdue_amount, balance) == 1234.56") is True
    assert value("not unreachable and contacts_reachable >= 2") is True
    assert value("bucket == \"M1\" and bucket != 'M2'") is True


def test_compiled_sql_keeps_precedence() -> None:
    sql = expression(compile_condition("dpd > 1 or dpd < 0 and not unreachable", "CNY"))
    assert sql == "((f.dpd > 1) OR ((f.dpd < 0) AND (NOT f.unreachable)))"
