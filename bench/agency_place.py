"""Agency placement on a day that places many cases: `arrears agency place` (the rules' query,
one placement, call-off and audit entry per case, the CSV and XLSX files) against a bare
INSERT … SELECT of the same placements (no audit, no file) in the same run, on the same data.

    .venv/bin/python bench/agency_place.py [--cases 5000] [--database sqlite:///… | postgresql://…]

Ends with one line `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, text

from arrears.privacy.keyring import KeyRing
from arrears.services import agencies as ag
from arrears.services.placement_file import place_and_file
from arrears.store import migrate
from arrears.store import tables as t
from arrears.store.db import make_engine

AS_OF = date(2026, 10, 30)
AT = datetime(2026, 10, 30, 2, 0, tzinfo=UTC)


def build(engine: Engine, ring: KeyRing, n: int) -> None:
    borrowers, accounts, cases = [], [], []
    for i in range(n):
        bid, phone = f"B{i:07d}", f"+86138{i:08d}"
        borrowers.append(
            {"id": bid, "name_enc": ring.encrypt(f"王{i}"), "phone_enc": ring.encrypt(phone)}
        )
        accounts.append(
            {
                "id": f"A{i:07d}",
                "borrower_id": bid,
                "product": "instalment_loan",
                "currency": "CNY",
                "principal": 500_000,
                "opened_on": date(2026, 1, 1),
                "dpd": 95,
                "overdue_amount": 200_000,
                "outstanding": 500_000,
            }
        )
        cases.append(
            {
                "borrower_id": bid,
                "opened_on": date(2026, 7, 27),
                "currency": "CNY",
                "dpd": 95,
                "overdue_amount": 200_000,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(t.borrowers), borrowers)
        conn.execute(insert(t.accounts), accounts)
        conn.execute(insert(t.cases), cases)
        ag.add_agency(conn, "north", "North", ag.parse_tiers("0:15"), by="b", at=AT, ring=ring)
        ag.add_rule(conn, "north", min_dpd=90, by="b", at=AT, ring=ring)


BARE = """INSERT INTO placements (case_id, agency_id, rule_id, placed_on, dpd_at_placement,
            currency, overdue_at_placement, status, placed_by)
          SELECT c.id, 'north', 1, :d, c.dpd, c.currency, c.overdue_amount, 'placed', 'bench'
          FROM cases c
          WHERE c.status = 'open' AND c.dpd >= 90
            AND NOT EXISTS (SELECT 1 FROM placements p WHERE p.case_id = c.id)"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        schema = None
        if url.startswith("postgresql"):
            schema = "bench_" + uuid.uuid4().hex[:8]
            with make_engine(url).begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
        else:
            engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            ring = KeyRing.generate()
            build(engine, ring, args.cases)
            started = time.perf_counter()
            with engine.connect() as conn, conn.begin() as tx:
                bare_rows = conn.execute(text(BARE), {"d": AS_OF}).rowcount
                tx.rollback()
            bare = time.perf_counter() - started
            started = time.perf_counter()
            with engine.begin() as conn:
                done = place_and_file(conn, ring, AS_OF, Path(tmp) / "files", by="b", at=AT)
            placed = time.perf_counter() - started
        finally:
            engine.dispose()
            if schema is not None:
                with make_engine(url).begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    n = done["north"][0]
    assert n == bare_rows == args.cases, (n, bare_rows)
    print(
        f"RESULT db={url.split(':')[0]} cases={n} bare_insert_s={bare:.3f} "
        f"place_and_file_s={placed:.3f} per_case_ms={placed / n * 1000:.2f} "
        f"ratio={placed / bare:.1f}"
    )


if __name__ == "__main__":
    main()
