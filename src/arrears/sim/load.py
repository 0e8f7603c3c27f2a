"""Load a synthetic portfolio through the host-extract import (the path a lender's files take)."""

from __future__ import annotations

from sqlalchemy import Engine, bindparam, update

from arrears.engine.delinquency import reassess
from arrears.privacy.keyring import KeyRing
from arrears.services.importing import import_rows
from arrears.sim.portfolio import Portfolio
from arrears.store import tables as t


def load_portfolio(engine: Engine, keyring: KeyRing, portfolio: Portfolio) -> None:
    import_rows(
        engine,
        keyring,
        {
            "borrowers.csv": portfolio.borrowers,
            "contacts.csv": portfolio.contacts,
            "accounts.csv": portfolio.accounts,
            "due_items.csv": portfolio.due_items,
            "payments.csv": portfolio.payments,
        },
    )
    # History before the window: those instalments were paid in full on time.
    with engine.begin() as conn:
        conn.execute(
            update(t.due_items)
            .where(
                t.due_items.c.account_id == bindparam("aid"),
                t.due_items.c.seq == bindparam("s"),
            )
            .values(
                paid_principal=t.due_items.c.principal,
                paid_interest=t.due_items.c.interest,
                paid_fee=t.due_items.c.fee,
            ),
            [{"aid": aid, "s": seq} for aid, seq in portfolio.paid_before_start],
        )
        # items changed past the import: their accounts are assessed from them again
        reassess(conn, {aid for aid, _ in portfolio.paid_before_start})
