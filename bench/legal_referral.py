"""The daily run's legal referral over N accounts, against a per-case loop, on PostgreSQL and
SQLite.

    python bench/legal_referral.py --accounts 200000

One account in twenty is at DPD 120 on the date (one in forty of those owes less than the
rule's minimum balance); one in twenty more is at DPD 90; their borrowers have open cases. The
rule: DPD ≥ 120, a balance of at least ¥1,000.00, no active plan. Times
`arrears.engine.legal_referral.refer_to_legal` (one INSERT … SELECT per rule, then one statement
each for the status moves, the queue and the outreach called off) and, in the same run on the
same book, the baseline it replaces: select the matching cases, then per case insert its legal
case and its first move, set its queue and cancel its planned actions. Each in its own
transaction, rolled back, so both see the same book. Ends with one line `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from charge_off import databases, timed

from arrears.engine.legal_referral import refer_to_legal
from arrears.store import migrate

AS_OF = date(2026, 6, 30)
AT = datetime(2026, 6, 30, 20, tzinfo=UTC)


def _series(conn: Connection, n: int) -> str:
    if conn.dialect.name == "sqlite":
        return f"""(WITH RECURSIVE s(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM s
                    WHERE id < {n}) SELECT id FROM s)"""
    return f"(SELECT generate_series(1, {n}) AS id)"


def load(engine: Engine, n: int) -> int:
    dpd = "CASE WHEN id % 20 = 0 THEN 120 WHEN id % 20 = 1 THEN 90 ELSE 0 END"
    owed = "CASE WHEN id % 800 = 0 THEN 50000 ELSE 640000 END"
    with engine.begin() as conn:
        s = _series(conn, n)
        conn.execute(text(f"INSERT INTO borrowers (id) SELECT 'B' || id FROM {s} AS g"))
        conn.execute(
            text(
                f"""INSERT INTO accounts (id, borrower_id, product, currency, principal,
                        opened_on, status, dpd, bucket, overdue_amount, outstanding, state_as_of)
                    SELECT 'A' || id, 'B' || id, 'instalment_loan', 'CNY', 960000,
                           '2025-01-01', 'active', {dpd},
                           CASE WHEN {dpd} > 0 THEN 'M4' ELSE 'M0' END,
                           CASE WHEN {dpd} > 0 THEN 320000 ELSE 0 END, {owed}, '2026-06-29'
                    FROM {s} AS g"""
            )
        )
        conn.execute(
            text(
                f"""INSERT INTO cases (borrower_id, opened_on, status, currency, dpd, bucket,
                                       queue)
                    SELECT 'B' || id, '2026-01-01', 'open', 'CNY', {dpd}, 'M4', 'late'
                    FROM {s} AS g WHERE {dpd} > 0"""
            )
        )
        conn.execute(
            text(
                """INSERT INTO legal_rules (min_dpd, currency, min_balance, no_active_plan,
                                            priority, active, created_by, created_at)
                   VALUES (120, 'CNY', 100000, :t, 100, :t, 'bench', :at)"""
            ),
            {"t": True, "at": AT},
        )
        if conn.dialect.name == "postgresql":
            for table in ("accounts", "cases", "borrowers"):
                conn.execute(text(f"ANALYZE {table}"))
        return int(
            conn.execute(
                text("SELECT COUNT(*) FROM accounts WHERE dpd >= 120 AND outstanding >= 100000")
            ).scalar_one()
        )


def per_case_loop(conn: Connection) -> int:
    """The baseline: the matching cases found once, then each referred by its own statements."""
    rows = conn.execute(
        text(
            """SELECT c.id, c.dpd, c.currency, c.queue,
                      (SELECT COALESCE(SUM(a.outstanding), 0) FROM accounts a
                       WHERE a.borrower_id = c.borrower_id AND a.currency = c.currency
                         AND a.status <> 'sold') AS balance
               FROM cases c
               WHERE c.status = 'open' AND c.dpd >= 120 AND c.currency = 'CNY'
                 AND NOT EXISTS (SELECT 1 FROM legal_cases l WHERE l.case_id = c.id)
                 AND NOT EXISTS (SELECT 1 FROM plans p WHERE p.case_id = c.id
                                 AND p.status = 'active')"""
        )
    ).all()
    referred = 0
    for r in rows:
        if r.balance < 100000:
            continue
        legal_id = conn.execute(
            text(
                """INSERT INTO legal_cases (case_id, status, rule_id, referred_on, referred_by,
                        dpd_at_referral, currency, balance_at_referral, queue_before)
                   VALUES (:c, 'referred', 1, :d, 'nightly', :p, :cur, :b, :q) RETURNING id"""
            ),
            {"c": r.id, "d": AS_OF, "p": r.dpd, "cur": r.currency, "b": r.balance, "q": r.queue},
        ).scalar_one()
        conn.execute(
            text(
                """INSERT INTO legal_events (legal_case_id, to_status, business_date, by, at)
                   VALUES (:l, 'referred', :d, 'nightly', :at)"""
            ),
            {"l": legal_id, "d": AS_OF, "at": AT},
        )
        conn.execute(text("UPDATE cases SET queue = 'legal' WHERE id = :c"), {"c": r.id})
        conn.execute(
            text(
                """UPDATE actions SET status = 'cancelled', reason = 'in legal'
                   WHERE case_id = :c AND status IN ('planned', 'deferred', 'queued')"""
            ),
            {"c": r.id},
        )
        referred += 1
    return referred


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args(argv)
    which = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results: dict[str, str] = {"accounts": str(args.accounts)}
    with databases(which) as engines:
        for name, engine in engines:
            migrate.upgrade(engine)
            matching = load(engine, args.accounts)
            set_s, referred = timed(engine, lambda c: refer_to_legal(c, AS_OF, at=AT))
            loop_s, looped = timed(engine, per_case_loop)
            assert referred == looped == matching, (referred, looped, matching)
            print(
                f"{name}: {referred} of {args.accounts} accounts' cases referred: set-based "
                f"{set_s:.3f} s, per-case loop {loop_s:.3f} s ({loop_s / set_s:.1f}x)"
            )
            results |= {
                f"{name}_referred": str(referred),
                f"{name}_set_based_s": f"{set_s:.3f}",
                f"{name}_loop_s": f"{loop_s:.3f}",
                f"{name}_speedup": f"{loop_s / set_s:.1f}",
            }
    print("RESULT " + " ".join(f"{k}={v}" for k, v in results.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
