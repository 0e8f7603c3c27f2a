"""While a borrower is in a breathing space no penalty interest accrues: day by day, and when
the run catches up over several days at once (overlapping flags counted once, a lifted flag
no longer in force from the day it is lifted)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, insert, select

from arrears.domain.penalty import accrue_penalty_minor
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from arrears.store.tables_compliance import borrower_flags
from tests import factories as f

START = date(2026, 3, 1)  # the item falls due; penalty accrues from the next day
PRINCIPAL = 1_000_000
RATE = 100_000  # 10% a year
DAILY = accrue_penalty_minor(PRINCIPAL, RATE, 1)


def day(n: int) -> date:
    return START + timedelta(days=n)


def _portfolio(db: Engine, flags: list[tuple[str, int, int | None, int | None]]) -> None:
    """Borrower B (flagged as given: flag, since day, until day, lifted day) and borrower C."""
    with db.begin() as conn:
        for bid in ("B", "C"):
            f.borrower(conn, bid)
            f.account(
                conn, f"A{bid}", bid, [(START, PRINCIPAL, 0), (day(60), PRINCIPAL, 0)],
                penalty_rate_ppm=RATE,
            )  # fmt: skip
        for flag, since, until, lifted in flags:
            conn.execute(
                insert(borrower_flags).values(
                    borrower_id="B",
                    flag=flag,
                    since=day(since),
                    until=None if until is None else day(until),
                    lifted_on=None if lifted is None else day(lifted),
                    set_by="test",
                    set_at=datetime(2026, 3, 1, tzinfo=UTC),
                )
            )


def _penalty(db: Engine, account_id: str) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                select(func.sum(t.due_items.c.penalty)).where(
                    t.due_items.c.account_id == account_id
                )
            ).scalar_one()
        )


def test_no_penalty_accrues_on_the_days_of_a_breathing_space(db: Engine) -> None:
    _portfolio(db, [("breathing_space", 5, 20, None), ("dispute", 1, None, None)])
    accrued: dict[int, tuple[int, int]] = {}
    before = (0, 0)
    for n in range(1, 31):
        run_day(db, day(n))
        now = (_penalty(db, "AB"), _penalty(db, "AC"))
        accrued[n] = (now[0] - before[0], now[1] - before[1])
        before = now
    for n in range(1, 31):
        flagged, other = accrued[n]
        assert other == DAILY, n  # the borrower without a breathing space accrues every day
        assert flagged == (0 if 5 <= n <= 20 else DAILY), n


def test_a_breathing_space_flag_holds_only_for_its_days(db: Engine) -> None:
    """A flag from tomorrow or one that ended yesterday does not stop today's accrual."""
    _portfolio(db, [("breathing_space", 11, 20, None), ("breathing_space", 1, 9, None)])
    run_day(db, day(9))
    first = _penalty(db, "AB")
    run_day(db, day(10))
    assert _penalty(db, "AB") - first == DAILY
    run_day(db, day(11))
    assert _penalty(db, "AB") - first == DAILY


@pytest.mark.parametrize(
    ("flags", "spared_first", "spared_later"),
    [
        ([("breathing_space", 5, 20, None)], 0, 16),
        # overlapping and adjoining flags: each day counted once
        ([("breathing_space", 5, 15, None), ("breathing_space", 10, 20, None)], 0, 16),
        ([("breathing_space", 5, 12, None), ("breathing_space", 13, 20, None)], 0, 16),
        ([("breathing_space", 5, 20, None), ("breathing_space", 8, 9, None)], 0, 16),
        # lifted on day 12: in force on days 5 to 11
        ([("breathing_space", 5, 20, 12)], 0, 7),
        # open-ended: in force on every day from day 5
        ([("breathing_space", 5, None, None)], 0, 21),
        # from day 1 to day 8: days 1 to 3 in the first run, 4 to 8 in the second
        ([("breathing_space", 1, 8, None)], 3, 5),
        ([("dispute", 5, 20, None)], 0, 0),
    ],
)
def test_a_run_over_several_days_spares_the_breathing_space_days(
    db: Engine,
    flags: list[tuple[str, int, int | None, int | None]],
    spared_first: int,
    spared_later: int,
) -> None:
    _portfolio(db, flags)
    run_day(db, day(3))  # days 1 to 3 in one run
    first = _penalty(db, "AB"), _penalty(db, "AC")
    assert first == (
        accrue_penalty_minor(PRINCIPAL, RATE, 3 - spared_first),
        accrue_penalty_minor(PRINCIPAL, RATE, 3),
    )
    run_day(db, day(25))  # the runs of days 4 to 24 did not happen: one run catches up
    assert _penalty(db, "AB") - first[0] == accrue_penalty_minor(PRINCIPAL, RATE, 22 - spared_later)
    assert _penalty(db, "AC") - first[1] == accrue_penalty_minor(PRINCIPAL, RATE, 22)
    with db.connect() as conn:
        marker = conn.execute(
            select(t.accounts.c.penalty_accrued_through).where(t.accounts.c.id == "AB")
        ).scalar_one()
    assert marker == day(25)  # the spared days are not owed later either
    run_day(db, day(26))
    assert _penalty(db, "AB") - first[0] == accrue_penalty_minor(
        PRINCIPAL, RATE, 22 - spared_later
    ) + (0 if flags[0][2] is None and flags[0][0] == "breathing_space" else DAILY)
