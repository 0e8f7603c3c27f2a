"""The nightly compliance gate over many planned actions, against the no-rules scheduler run on
the same data in the same process; then the send-time check on the gated day: `check_action`
one action at a time against `check_actions` over a dispatcher batch (the same decisions).

    .venv/bin/python bench/compliance_gate.py --actions 300000 [--database URL] [--batch 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, text

from arrears.compliance.batch import gate_planned_actions
from arrears.compliance.send import check_action, check_actions
from arrears.engine.gate import schedule_without_rules
from arrears.privacy.keyring import KeyRing
from arrears.store import migrate
from arrears.store import tables as t
from arrears.store.db import make_engine
from arrears.store.tables_compliance import borrower_flags

D = date(2026, 9, 8)


def populate(engine: Engine, n_actions: int) -> None:
    ring = KeyRing.generate()
    n_cases = n_actions // 2
    zones = ["Asia/Shanghai"] * 9 + ["Asia/Urumqi"]
    with engine.begin() as conn:
        conn.execute(
            insert(t.borrowers),
            [
                {
                    "id": f"B{i}",
                    "phone_index": ring.blind_index(f"+86138{i:08d}"),
                    "timezone": zones[i % 10],
                }
                for i in range(n_cases)
            ],
        )
        conn.execute(
            insert(t.cases),
            [
                {
                    "id": i + 1,
                    "borrower_id": f"B{i}",
                    "opened_on": D,
                    "currency": "CNY",
                    "unreachable_on": D if i % 3 == 0 else None,
                }
                for i in range(n_cases)
            ],
        )
        conn.execute(
            insert(t.interactions),
            [
                {
                    "case_id": i + 1,
                    "occurred_at": datetime(2026, 9, 8, 1, tzinfo=UTC),
                    "business_date": D,
                    "channel": "call",
                    "target_type": "borrower",
                    "target_id": f"B{i}",
                    "outcome": "no_answer",
                }
                for i in range(0, n_cases, 4)
            ],
        )
        conn.execute(
            insert(borrower_flags),
            [
                {
                    "borrower_id": f"B{i}",
                    "flag": "dispute",
                    "since": D,
                    "set_by": "bench",
                    "set_at": datetime(2026, 9, 1, tzinfo=UTC),
                }
                for i in range(0, n_cases, 50)
            ],
        )


def plan(engine: Engine, n_actions: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM gate_decisions"))
        conn.execute(text("DELETE FROM actions"))
        conn.execute(
            insert(t.actions),
            [
                {
                    "case_id": i // 2 + 1,
                    "business_date": D,
                    "step": "dpd_reminder_7" if i % 2 else "dpd_call_7",
                    "target_type": "borrower",
                    "target_id": f"B{i // 2}",
                    "channel": "sms" if i % 2 else "call",
                    "template": "reminder" if i % 2 else "call_borrower",
                }
                for i in range(n_actions)
            ],
        )


def timed(engine: Engine, fn: object) -> float:
    began = time.perf_counter()
    with engine.begin() as conn:
        fn(conn, D, "cn")  # type: ignore[operator]
    return time.perf_counter() - began


def send_time(engine: Engine, batch: int, singles: int) -> tuple[float, float]:
    """Seconds per action: `check_action` on `singles` allowed actions one by one, and
    `check_actions` over `batch` of them at once (rolled back: nothing recorded)."""
    at = datetime(2026, 9, 8, 2, tzinfo=UTC)  # 10:00 in Shanghai
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                text("SELECT id FROM actions WHERE status = 'planned' ORDER BY id LIMIT :n"),
                {"n": max(batch, singles)},
            ).scalars()
        )
        conn.rollback()
        began = time.perf_counter()
        for action_id in ids[:singles]:
            check_action(conn, action_id, at, rule_pack="cn")
        one = (time.perf_counter() - began) / max(1, min(singles, len(ids)))
        began = time.perf_counter()
        check_actions(conn, ids[:batch], at, rule_pack="cn")
        many = (time.perf_counter() - began) / max(1, min(batch, len(ids)))
        conn.rollback()
    return one, many


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--actions", type=int, default=100_000)
    ap.add_argument("--database", default=None)
    ap.add_argument("--batch", type=int, default=500, help="send-time batch (the dispatcher's)")
    ap.add_argument("--singles", type=int, default=20, help="actions checked one by one")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        schema = None
        if url.startswith("postgresql"):  # a schema of its own, dropped afterwards
            schema = f"bench_gate_{uuid.uuid4().hex[:8]}"
            with make_engine(url).begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
        else:
            engine = make_engine(url)
        migrate.upgrade(engine)
        populate(engine, args.actions)
        plan(engine, args.actions)
        baseline = timed(engine, schedule_without_rules)
        plan(engine, args.actions)
        gated = timed(engine, gate_planned_actions)
        with engine.connect() as conn:
            counts = dict(
                conn.execute(text("SELECT status, COUNT(*) FROM actions GROUP BY status")).all()
            )
        one, many = send_time(engine, args.batch, args.singles)
        engine.dispose()
        if schema is not None:
            with make_engine(url).begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    per_second = args.actions / gated
    print(f"{args.actions} planned actions on {engine.dialect.name}")
    print(f"  no-rules scheduler (baseline) {baseline:8.2f} s")
    print(f"  cn rule pack gate             {gated:8.2f} s  ({per_second:,.0f} actions/s)")
    print(f"  gate / baseline               {gated / baseline:8.1f} x")
    print(f"  outcome {counts}")
    print(f"  send time, check_action one by one     {one * 1000:8.2f} ms per action")
    print(f"  send time, check_actions batch of {args.batch:<4} {many * 1000:8.2f} ms per action")
    print(
        f"RESULT actions={args.actions} db={engine.dialect.name} gate_s={gated:.2f} "
        f"baseline_s={baseline:.3f} ratio={gated / baseline:.1f} actions_per_s={per_second:.0f} "
        f"check_action_ms={one * 1000:.2f} check_actions_ms={many * 1000:.3f} batch={args.batch}"
    )


if __name__ == "__main__":
    main()
