"""The portfolio dashboards never add amounts of different currencies, and read each in its
own minor units (yen has none: 1200 stored is ¥1,200, not ¥12.00)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Engine, insert, literal, select

from arrears.domain.money import Money
from arrears.services import dashboards as dash
from arrears.store import tables as t
from arrears.store.tables_strategy import strategy_assignments

DAY = date(2026, 3, 2)


def _portfolio(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(insert(t.borrowers), [{"id": "B-CN"}, {"id": "B-JP"}])
        conn.execute(
            insert(t.accounts),
            [
                {
                    "id": "A-CN",
                    "borrower_id": "B-CN",
                    "product": "instalment_loan",
                    "currency": "CNY",
                    "principal": 1_000_000,
                    "opened_on": date(2025, 1, 1),
                },
                {
                    "id": "A-JP",
                    "borrower_id": "B-JP",
                    "product": "instalment_loan",
                    "currency": "JPY",
                    "principal": 100_000,
                    "opened_on": date(2025, 1, 1),
                },
            ],
        )
        conn.execute(
            insert(t.delinquency_history),
            [
                # ¥1,234.50 overdue in yuan, ¥1,200 in yen: never one bar of 1,246.50
                {
                    "account_id": "A-CN",
                    "as_of": DAY,
                    "dpd": 5,
                    "bucket": "M1",
                    "overdue_amount": 123450,
                },
                {
                    "account_id": "A-JP",
                    "as_of": DAY,
                    "dpd": 5,
                    "bucket": "M1",
                    "overdue_amount": 1200,
                },
            ],
        )
        conn.execute(
            insert(t.cases),
            [
                {
                    "borrower_id": "B-CN",
                    "opened_on": date(2026, 2, 25),
                    "currency": "CNY",
                    "overdue_at_open": 123450,
                    "overdue_amount": 123450,
                },
                {
                    "borrower_id": "B-JP",
                    "opened_on": date(2026, 2, 25),
                    "currency": "JPY",
                    "overdue_at_open": 1200,
                    "overdue_amount": 1200,
                },
            ],
        )
        conn.execute(
            insert(t.payments),
            [
                {
                    "id": "P-CN",
                    "account_id": "A-CN",
                    "amount": 50000,
                    "currency": "CNY",
                    "received_on": date(2026, 3, 1),
                },
                {
                    "id": "P-JP",
                    "account_id": "A-JP",
                    "amount": 600,
                    "currency": "JPY",
                    "received_on": date(2026, 3, 1),
                },
            ],
        )


def test_overdue_by_bucket_is_kept_apart_per_currency_in_its_own_units(db: Engine) -> None:
    _portfolio(db)
    with db.connect() as conn:
        dates, series = dash.buckets_over_time(conn, DAY)
    assert dates == [DAY]
    assert series == {"CNY": {"M1": [Decimal("1234.50")]}, "JPY": {"M1": [Decimal("1200")]}}


def test_recovery_is_kept_apart_per_currency_in_its_own_units(db: Engine) -> None:
    _portfolio(db)
    with db.connect() as conn:
        recovery = dash.recovery_by_week(conn, DAY)
    assert {c: [m for _, m in weeks] for c, weeks in recovery.items()} == {
        "CNY": [Money.of("500.00", "CNY")],
        "JPY": [Money.of("600", "JPY")],
    }


def test_a_variant_recovers_in_its_cases_currency(db: Engine) -> None:
    _portfolio(db)
    with db.begin() as conn:  # each case given its variant the day it opened: the cohort
        conn.execute(
            insert(strategy_assignments).from_select(
                ["case_id", "strategy", "salt", "bucket", "variant", "assigned_on"],
                select(
                    t.cases.c.id,
                    literal("seed"),
                    literal("s"),
                    literal(0),
                    literal("champion"),
                    t.cases.c.opened_on,
                ),
            )
        )
    with db.connect() as conn:
        results = dash.variant_results(conn, DAY)
    by_currency = {r.currency: r for r in results}
    assert set(by_currency) == {"CNY", "JPY"}
    # 500.00 of 1,234.50 yuan; 600 of 1,200 yen — not (50000 + 600) / (123450 + 1200)
    assert abs(by_currency["CNY"].recovery_rate - 50000 / 123450) < 1e-9
    assert by_currency["JPY"].recovery_rate == 0.5
