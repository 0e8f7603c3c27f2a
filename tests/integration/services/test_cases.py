"""The case reads the command line and the API use, on both databases."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, insert

from arrears.services import cases
from arrears.store import tables as t


def _books(db: Engine) -> tuple[int, int]:
    with db.begin() as conn:
        conn.execute(insert(t.borrowers), [{"id": "B1"}, {"id": "B2"}])
        conn.execute(
            insert(t.accounts),
            [
                {
                    "id": acc,
                    "borrower_id": b,
                    "product": "instalment_loan",
                    "currency": "CNY",
                    "principal": 100000,
                    "opened_on": date(2025, 1, 1),
                }
                for acc, b in (("A2", "B1"), ("A1", "B1"), ("A3", "B2"))
            ],
        )
        open_id = conn.execute(
            insert(t.cases)
            .values(borrower_id="B1", opened_on=date(2026, 3, 1), currency="CNY", strategy="seed")
            .returning(t.cases.c.id)
        ).scalar_one()
        cured_id = conn.execute(
            insert(t.cases)
            .values(
                borrower_id="B2",
                opened_on=date(2026, 2, 1),
                currency="CNY",
                status="cured",
                closed_on=date(2026, 2, 20),
            )
            .returning(t.cases.c.id)
        ).scalar_one()
    return open_id, cured_id


def test_an_accounts_open_case_is_found_through_its_borrower(db: Engine) -> None:
    open_id, _ = _books(db)
    with db.connect() as conn:
        assert cases.borrower_of_account(conn, "A1") == "B1"
        assert cases.borrower_of_account(conn, "nope") is None
        case = cases.open_case_of(conn, "B1")
        assert (case.id, case.strategy) == (open_id, "seed")
        assert cases.open_case_of(conn, "B2") is None  # cured, not open


def test_each_cases_accounts_in_account_order(db: Engine) -> None:
    open_id, cured_id = _books(db)
    with db.connect() as conn:
        assert cases.accounts_of_cases(conn, [open_id, cured_id]) == {
            open_id: ["A1", "A2"],
            cured_id: ["A3"],
        }
        assert cases.accounts_of_cases(conn, []) == {}


def test_a_page_of_cases_starts_after_the_last_id_seen(db: Engine) -> None:
    open_id, cured_id = _books(db)
    with db.connect() as conn:
        first = cases.cases_page(conn, None, 0, 1)
        assert [c.id for c in first] == [min(open_id, cured_id)]
        rest = cases.cases_page(conn, None, first[0].id, 10)
        assert [c.id for c in rest] == [max(open_id, cured_id)]
        assert [c.id for c in cases.cases_page(conn, "open", 0, 10)] == [open_id]
