"""The daily run's tolerance is one major unit of each account's currency, as the domain's:
1.00 CNY (100 fen), 1 JPY, 1.000 in a currency of three decimals; per currency when set."""

from datetime import date, timedelta

from sqlalchemy import Engine, select

from arrears.domain.delinquency import assess
from arrears.domain.money import Money
from arrears.domain.products import DueItem
from arrears.engine.config import RunConfig
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from tests import factories as f

DUE = date(2026, 1, 10)
PAID_ON = date(2026, 1, 8)

# account: (currency, principal, left unpaid), in minor units
ACCOUNTS = {
    "CNY-50": ("CNY", 10_000, 50),  # 0.50 yuan: within
    "CNY-100": ("CNY", 10_000, 100),  # 1.00 yuan: within, the bound itself
    "CNY-101": ("CNY", 10_000, 101),  # 1.01 yuan: past due
    "JPY-1": ("JPY", 10_000, 1),  # 1 yen: within, the bound itself
    "JPY-2": ("JPY", 10_000, 2),  # 2 yen: past due
    "JPY-50": ("JPY", 10_000, 50),  # 50 yen: past due (100 minor units would have hidden it)
    "KRW-99": ("KRW", 100_000, 99),
    "KWD-500": ("KWD", 100_000, 500),  # 0.500 dinar: within (not 5 times the tolerance)
    "KWD-1000": ("KWD", 100_000, 1_000),
    "KWD-1001": ("KWD", 100_000, 1_001),
}


def _portfolio(db: Engine, accounts: dict[str, tuple[str, int, int]]) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B")
        for aid, (currency, principal, unpaid) in accounts.items():
            f.account(conn, aid, "B", [(DUE, principal, 0)], currency=currency)
            f.payment(conn, f"P-{aid}", aid, principal - unpaid, PAID_ON, currency=currency)


def _dpd(db: Engine) -> dict[str, int]:
    with db.connect() as conn:
        return {r.id: r.dpd for r in conn.execute(select(t.accounts.c.id, t.accounts.c.dpd))}


def _run(db: Engine, days: int, config: RunConfig | None = None) -> dict[date, dict[str, int]]:
    """Run each day from PAID_ON: the first day assesses every account, later ones the
    candidates; the DPD of every account after each day."""
    seen = {}
    for n in range(days):
        day = PAID_ON + timedelta(days=n)
        run_day(db, day, config=config)
        seen[day] = _dpd(db)
    return seen


def test_the_tolerance_is_one_major_unit_of_the_account_currency(db: Engine) -> None:
    _portfolio(db, ACCOUNTS)
    seen = _run(db, 6)
    as_of = PAID_ON + timedelta(days=5)  # three days after the due date
    assert seen[as_of] == {
        "CNY-50": 0,
        "CNY-100": 0,
        "CNY-101": 3,
        "JPY-1": 0,
        "JPY-2": 3,
        "JPY-50": 3,
        "KRW-99": 3,
        "KWD-500": 0,
        "KWD-1000": 0,
        "KWD-1001": 3,
    }
    assert all(dpd == 0 for dpd in seen[DUE].values())  # nothing is late on its due date
    for aid, (currency, principal, unpaid) in ACCOUNTS.items():
        item = DueItem(
            1,
            DUE,
            Money.from_minor(principal, currency),
            paid_principal=Money.from_minor(principal - unpaid, currency),
        )
        assert assess([item], as_of).dpd == seen[as_of][aid], aid


def test_a_yen_residue_ages_a_later_miss_where_a_fen_residue_does_not(db: Engine) -> None:
    """The running sum passes 1 JPY at the residue's date, 1.00 CNY only at the new miss."""
    first, second = date(2026, 1, 10), date(2026, 2, 10)
    with db.begin() as conn:
        f.borrower(conn, "B")
        f.account(conn, "CNY", "B", [(first, 10_000, 0), (second, 10_000, 0)])
        f.account(conn, "JPY", "B", [(first, 10_000, 0), (second, 10_000, 0)], currency="JPY")
        f.payment(conn, "P1", "CNY", 9_950, PAID_ON)  # leaves 0.50 yuan on the first item
        f.payment(conn, "P2", "JPY", 9_950, PAID_ON, currency="JPY")  # leaves 50 yen
    for day in (PAID_ON, date(2026, 1, 11), date(2026, 2, 12)):
        run_day(db, day)
    assert _dpd(db) == {"CNY": 2, "JPY": 33}


def test_the_tolerance_can_be_set_per_currency(db: Engine) -> None:
    accounts = {aid: spec for aid, spec in ACCOUNTS.items() if spec[0] in ("CNY", "JPY")}
    _portfolio(db, accounts)
    config = RunConfig(tolerance={"JPY": 100, "CNY": 0})
    seen = _run(db, 6, config)[PAID_ON + timedelta(days=5)]
    assert seen == {
        "CNY-50": 3,  # no tolerance: every fen counts
        "CNY-100": 3,
        "CNY-101": 3,
        "JPY-1": 0,
        "JPY-2": 0,
        "JPY-50": 0,  # within 100 yen
    }


def test_a_currency_without_a_tolerance_counts_every_minor_unit(db: Engine) -> None:
    _portfolio(db, {"XYZ-1": ("XYZ", 10_000, 1), "CNY-1": ("CNY", 10_000, 1)})
    seen = _run(db, 4)
    assert seen[PAID_ON + timedelta(days=3)] == {"XYZ-1": 1, "CNY-1": 0}
