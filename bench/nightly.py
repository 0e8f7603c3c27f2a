# ruff: noqa: E501  (SQL reads better unbroken)
"""Nightly run at scale: delinquency + cases + strategy for one date over N accounts, on DuckDB.

    python bench/nightly.py --accounts 1000000

Generates (vectorised, in DuckDB) a portfolio of N accounts with 12 due items each, 3% of the
accounts delinquent, 1-2 designated contacts per borrower, earlier cases with promises and
plans; then times, in the same run:

- engine: DPD/bucket/overdue of every account (tolerance and running sum as the domain's
  `assess`), open/refresh cases, assign variants, plan the seed strategy's actions
  (the compiled query of `arrears.strategy.compile`, dialect duckdb);
- floor: a bare scan and group-by over the same due items with the same library;
- naive: the scalar reference per account (`arrears.domain.delinquency.assess` on due items,
  then `arrears.domain.strategy.evaluate.evaluate` for a delinquent one) on a random sample,
  extrapolated to N.

Ends with one line `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from datetime import date, timedelta

import duckdb

from arrears.domain.delinquency import assess, default_tolerance
from arrears.domain.money import Money
from arrears.domain.products import DueItem
from arrears.domain.strategy.evaluate import (
    AccountFacts,
    CaseSnapshot,
    ContactFacts,
    PromiseFacts,
    evaluate,
)
from arrears.strategy import duck, loader

AS_OF = date(2025, 6, 30)
# the portfolio is all CNY: one major unit of it (1.00, 100 fen), as the run's and the domain's
TOLERANCE = default_tolerance("CNY").to_minor()
BUCKETS = "CASE WHEN {d} <= 0 THEN 'M0' WHEN {d} <= 30 THEN 'M1' WHEN {d} <= 60 THEN 'M2' WHEN {d} <= 90 THEN 'M3' WHEN {d} <= 120 THEN 'M4' WHEN {d} <= 150 THEN 'M5' WHEN {d} <= 180 THEN 'M6' ELSE 'M7+' END"


def d(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def generate(con: duckdb.DuckDBPyConnection, n: int) -> None:
    """The portfolio as it stands the morning of AS_OF (yesterday's cases already open)."""
    a = d(AS_OF)
    # per account: h drives everything; 10% of borrowers hold two accounts (ids 10k and 10k+1)
    con.execute(
        f"""CREATE TABLE acct_static AS
        SELECT id::INTEGER AS id,
               (CASE WHEN id % 10 = 1 THEN id - 1 ELSE id END)::INTEGER AS borrower_id,
               (['loan', 'card', 'bnpl'])[1 + (h % 3)::INTEGER] AS product,
               'CNY' AS currency,
               ({a} - 15 - ((h >> 4) % 330)::INTEGER) AS first_due,
               ((h >> 20) % 100 < 3) AS late,
               ((h >> 28) % 3)::INTEGER AS k,
               ((h >> 32) % 50 = 0) AS residue
        FROM (SELECT range AS id, hash(range) AS h FROM range({n}))"""
    )
    con.execute(
        f"""CREATE TABLE due_items AS
        SELECT s.id AS account_id, q.seq::UTINYINT AS seq,
               (s.first_due + (30 * q.seq)::INTEGER) AS due_on,
               (80000 + (s.id % 7) * 1000)::INTEGER AS amount,
               (CASE
                  WHEN s.first_due + (30 * q.seq)::INTEGER >= {a} THEN 0
                  WHEN s.late AND q.seq >= (({a} - s.first_due) + 29) // 30 - 1 - s.k THEN 0
                  WHEN s.residue AND q.seq = 0 THEN 80000 + (s.id % 7) * 1000 - 50
                  ELSE 80000 + (s.id % 7) * 1000 END)::INTEGER AS paid
        FROM acct_static s CROSS JOIN range(12) q(seq)"""
    )
    con.execute(
        """CREATE TABLE borrowers AS
        SELECT id AS id, (CASE WHEN id % 7 = 0 THEN 'en' ELSE 'zh-CN' END) AS language,
               (['north', 'south', 'east', 'west'])[1 + (id % 4)] AS region,
               (CASE WHEN id % 11 = 0 THEN NULL ELSE 300 + (id * 7) % 600 END)::INTEGER AS risk_score,
               (CASE WHEN id % 97 = 0 THEN 'wrong' ELSE 'ok' END) AS phone_status
        FROM acct_static WHERE id = borrower_id"""
    )
    con.execute(
        """CREATE TABLE contacts AS
        SELECT (b.id * 2 + c.n)::BIGINT AS id, b.id AS borrower_id,
               ((b.id + c.n) % 5 <> 0) AS consent,
               (CASE WHEN (b.id + c.n) % 23 = 0 THEN 'refused' ELSE 'active' END) AS status
        FROM borrowers b CROSS JOIN range(2) c(n) WHERE c.n = 0 OR b.id % 2 = 0"""
    )
    # yesterday's open cases: every borrower whose oldest unpaid item was due before yesterday
    con.execute(
        f"""CREATE TABLE cases AS
        SELECT (row_number() OVER (ORDER BY borrower_id))::INTEGER AS id, borrower_id,
               ({a} - (MAX(dpd) - 1)::INTEGER) AS opened_on, NULL::DATE AS closed_on, 'open' AS status,
               'CNY' AS currency, 0::BIGINT AS overdue_at_open, MAX(dpd)::INTEGER - 1 AS dpd,
               'M1' AS bucket, 0::BIGINT AS overdue_amount, 'seed' AS strategy,
               'champion' AS variant,
               (CASE WHEN borrower_id % 37 = 0 THEN 'illness' END) AS hardship,
               (CASE WHEN borrower_id % 19 = 0 THEN {a} END) AS unreachable_on,
               ({a} - 1 - (borrower_id % 5)::INTEGER) AS last_contact_on, 'early' AS queue
        FROM (SELECT borrower_id,
                     {a} - (first_due + (30 * ((({a} - first_due) + 29) // 30 - 1 - k))::INTEGER) AS dpd
              FROM acct_static WHERE late)
        WHERE dpd > 1 GROUP BY borrower_id"""
    )
    con.execute(
        f"""CREATE TABLE promises AS
        SELECT id::INTEGER AS id, id AS case_id, {a} - 3 AS made_on,
               ({a} + ((borrower_id % 4) - 1)::INTEGER) AS due_on, 50000::BIGINT AS amount,
               (CASE WHEN borrower_id % 4 = 0 THEN 'broken' ELSE 'open' END) AS status,
               (CASE WHEN borrower_id % 4 = 0 THEN {a} END) AS settled_on
        FROM cases WHERE id % 3 = 0"""
    )
    con.execute(
        f"""CREATE TABLE plans AS
        SELECT id::INTEGER AS id, id AS case_id, 'active' AS status, {a} - 20 AS proposed_on,
               3 AS grace_days
        FROM cases WHERE id % 10 = 1"""
    )
    con.execute(
        f"""CREATE TABLE plan_instalments AS
        SELECT p.id AS plan_id, q.seq::INTEGER AS seq, ({a} + (30 * q.seq + p.id % 4 - 27)::INTEGER) AS due_on,
               (CASE WHEN q.seq = 0 THEN 'paid' ELSE 'pending' END) AS status
        FROM plans p CROSS JOIN range(3) q(seq)"""
    )
    con.execute(
        """CREATE TABLE strategy_assignments (case_id INTEGER, strategy VARCHAR, salt VARCHAR,
           bucket INTEGER, variant VARCHAR, assigned_on DATE)"""
    )


def run_engine(con: duckdb.DuckDBPyConnection, strategy: object) -> dict[str, float]:
    """The timed nightly steps; returns seconds per step."""
    a = d(AS_OF)
    seed = loader.load(strategy)
    steps: dict[str, float] = {}
    t = time.perf_counter()
    # one scan: overdue, outstanding, the oldest unpaid overdue item and the oldest one above
    # the tolerance; when they fall on the same date that date is where the running sum
    # (oldest first) passes the tolerance, so the DPD needs no window
    con.execute(
        f"""CREATE OR REPLACE TABLE acct_state AS
        SELECT account_id,
               SUM(amount - paid) FILTER (WHERE due_on < {a}) AS overdue,
               SUM(amount - paid) AS outstanding,
               MIN(due_on) FILTER (WHERE due_on < {a} AND amount > paid) AS oldest_unpaid,
               MIN(due_on) FILTER (WHERE due_on < {a} AND amount - paid > {TOLERANCE}) AS oldest_big
        FROM due_items GROUP BY account_id"""
    )
    # the rest (an old residue within the tolerance, then a younger miss): running sum
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE residue_dpd AS
        SELECT account_id, MIN(due_on) AS since FROM (
          SELECT i.account_id, i.due_on,
                 SUM(i.amount - i.paid) OVER (PARTITION BY i.account_id
                     ORDER BY i.due_on, i.seq ROWS UNBOUNDED PRECEDING) AS running
          FROM due_items i SEMI JOIN (
              SELECT account_id FROM acct_state
              WHERE overdue > {TOLERANCE} AND oldest_big IS DISTINCT FROM oldest_unpaid) g
            ON g.account_id = i.account_id
          WHERE i.due_on < {a}) x
        WHERE running > {TOLERANCE} GROUP BY account_id"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE late AS
        SELECT s.account_id, {a} - COALESCE(r.since, s.oldest_unpaid) AS dpd
        FROM acct_state s LEFT JOIN residue_dpd r ON r.account_id = s.account_id
        WHERE s.overdue > {TOLERANCE}"""
    )
    # accounts = static columns + tonight's state
    con.execute(
        f"""CREATE OR REPLACE TABLE accounts AS
        SELECT s.id, s.borrower_id, s.product, s.currency,
               COALESCE(l.dpd, 0)::INTEGER AS dpd,
               {BUCKETS.format(d="COALESCE(l.dpd, 0)")} AS bucket,
               COALESCE(g.overdue, 0)::BIGINT AS overdue_amount,
               g.outstanding::BIGINT AS outstanding
        FROM acct_static s JOIN acct_state g ON g.account_id = s.id
        LEFT JOIN late l ON l.account_id = s.id"""
    )
    steps["delinquency"] = time.perf_counter() - t
    t = time.perf_counter()
    con.execute(
        """CREATE OR REPLACE TEMP TABLE by_borrower AS
        SELECT s.borrower_id, MAX(l.dpd) AS dpd, SUM(g.overdue) AS overdue
        FROM late l JOIN acct_static s ON s.id = l.account_id
        JOIN acct_state g ON g.account_id = l.account_id
        GROUP BY s.borrower_id"""
    )
    con.execute(
        f"""INSERT INTO cases
        SELECT (SELECT COALESCE(MAX(id), 0) FROM cases) + row_number() OVER (ORDER BY b.borrower_id),
               b.borrower_id, {a}, NULL, 'open', 'CNY', b.overdue, b.dpd,
               {BUCKETS.format(d="b.dpd")}, b.overdue, {duck.quote(seed.name)}, 'champion', NULL,
               NULL, NULL, 'early'
        FROM by_borrower b ANTI JOIN (SELECT borrower_id FROM cases WHERE status = 'open') c
             ON c.borrower_id = b.borrower_id"""
    )
    con.execute(
        f"""UPDATE cases SET dpd = b.dpd, bucket = {BUCKETS.format(d="b.dpd")},
                             overdue_amount = b.overdue
        FROM by_borrower b WHERE cases.borrower_id = b.borrower_id AND cases.status = 'open'"""
    )
    steps["cases"] = time.perf_counter() - t
    t = time.perf_counter()
    duck.assign_variants(con, seed, AS_OF)
    planned = duck.plan(con, seed, AS_OF, into="planned")
    steps["strategy"] = time.perf_counter() - t
    steps["planned"] = planned
    return steps


def floor(con: duckdb.DuckDBPyConnection) -> float:
    t = time.perf_counter()
    con.execute(
        """CREATE OR REPLACE TEMP TABLE floor AS
        SELECT account_id, SUM(amount - paid) AS outstanding, MIN(due_on) AS first_due
        FROM due_items GROUP BY account_id"""
    )
    return time.perf_counter() - t


def naive(con: duckdb.DuckDBPyConnection, n: int, sample: int, strategy: object) -> float:
    """Seconds per account of the scalar way (due items -> assess -> evaluate), on a sample."""
    rng = random.Random(7)
    ids = sorted(rng.sample(range(n), min(sample, n)))
    con.execute("CREATE OR REPLACE TEMP TABLE sample_ids (id INTEGER)")
    con.executemany("INSERT INTO sample_ids VALUES (?)", [(i,) for i in ids])
    items: dict[int, list[tuple[int, date, int, int]]] = {i: [] for i in ids}
    for acc, seq, due_on, amount, paid in con.execute(
        "SELECT account_id, seq, due_on, amount, paid FROM due_items "
        "WHERE account_id IN (SELECT id FROM sample_ids) ORDER BY account_id, seq"
    ).fetchall():
        items[acc].append((seq, due_on, amount, paid))
    meta = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT s.id, s.borrower_id, s.product, b.language, b.region, b.risk_score, "
            "b.phone_status FROM acct_static s JOIN borrowers b ON b.id = s.borrower_id "
            "WHERE s.id IN (SELECT id FROM sample_ids)"
        ).fetchall()
    }
    contacts: dict[int, list[ContactFacts]] = {}
    for cid, bid, consent, status in con.execute(
        "SELECT id, borrower_id, consent, status FROM contacts WHERE borrower_id IN "
        "(SELECT borrower_id FROM acct_static WHERE id IN (SELECT id FROM sample_ids))"
    ).fetchall():
        contacts.setdefault(bid, []).append(ContactFacts(str(cid), consent, status))
    seed = loader.load(strategy)
    cny = "CNY"
    tol = Money.from_minor(TOLERANCE, cny)
    t = time.perf_counter()
    for i in ids:
        due = [
            DueItem(
                seq=seq,
                due_on=due_on,
                principal=Money.from_minor(amount, cny),
                paid_principal=Money.from_minor(paid, cny),
            )
            for seq, due_on, amount, paid in items[i]
        ]
        state = assess(due, AS_OF, tol)
        if state.dpd > 0:
            bid, product, language, region, risk, phone = meta[i]
            snap = CaseSnapshot(
                case_id=i,
                borrower_id=str(bid),
                currency=cny,
                opened_on=AS_OF - timedelta(days=state.dpd - 1),
                dpd=state.dpd,
                bucket=state.bucket,
                overdue_minor=state.overdue.to_minor(),
                language=language,
                region=region,
                risk_score=risk,
                phone_status=phone,
                accounts=(
                    AccountFacts(
                        str(i),
                        product,
                        state.dpd,
                        state.overdue.to_minor(),
                        state.outstanding.to_minor(),
                    ),
                ),
                promises=(PromiseFacts(1, AS_OF - timedelta(3), AS_OF, "open"),),
                contacts=tuple(contacts.get(bid, ())),
            )
            evaluate(seed, snap, AS_OF)
    return (time.perf_counter() - t) / len(ids)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--accounts", type=int, default=1_000_000)
    p.add_argument("--sample", type=int, default=20_000, help="accounts for the naive way")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--memory-limit", default="6GB")
    p.add_argument("--strategy", default="seed")
    args = p.parse_args(argv)
    n = args.accounts
    con = duckdb.connect()
    con.execute(f"SET threads={args.threads}")
    con.execute(f"SET memory_limit='{args.memory_limit}'")
    con.execute("SET preserve_insertion_order=false")
    t = time.perf_counter()
    generate(con, n)
    gen_s = time.perf_counter() - t
    items = con.execute("SELECT COUNT(*) FROM due_items").fetchone()[0]
    late = con.execute("SELECT COUNT(*) FROM acct_static WHERE late").fetchone()[0]
    print(
        f"portfolio: {n:,} accounts, {items:,} due items, {late:,} delinquent "
        f"({late / n:.1%}); generated in {gen_s:.1f} s"
    )
    floor_s = floor(con)
    t = time.perf_counter()
    steps = run_engine(con, args.strategy)
    engine_s = time.perf_counter() - t
    planned = int(steps.pop("planned"))
    cases = con.execute("SELECT COUNT(*) FROM cases WHERE status = 'open'").fetchone()[0]
    per_step = ", ".join(f"{k} {v:.2f} s" for k, v in steps.items())
    print(
        f"engine: {engine_s:.2f} s ({per_step}); {n / engine_s:,.0f} accounts/s; "
        f"{cases:,} open cases, {planned:,} actions planned"
    )
    print(
        f"floor (scan + group-by of the due items): {floor_s:.2f} s; engine / floor = "
        f"{engine_s / floor_s:.2f}x"
    )
    per_account = naive(con, n, args.sample, args.strategy)
    naive_s = per_account * n
    print(
        f"naive (scalar reference per account, {min(args.sample, n):,} sampled): "
        f"{per_account * 1e6:.1f} us/account -> {naive_s:,.0f} s for {n:,}; engine is "
        f"{naive_s / engine_s:,.0f}x faster"
    )
    peak = rss_gb()
    print(f"peak memory: {peak:.2f} GB")
    ok = engine_s <= 60 * n / 10_000_000 or n < 10_000_000
    print(
        f"RESULT accounts={n} due_items={items} engine_s={engine_s:.2f} "
        f"accounts_per_s={n / engine_s:.0f} floor_s={floor_s:.2f} "
        f"vs_floor={engine_s / floor_s:.2f} naive_s={naive_s:.0f} "
        f"vs_naive={naive_s / engine_s:.0f} planned={planned} peak_rss_gb={peak:.2f} "
        f"generate_s={gen_s:.1f}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
