"""The agent's Call button, measured: `services.calls.place_call` through the baresip adapter
against sipp on loopback, on a migrated database with one open case per call.

    .venv/bin/python bench/dialler.py [--calls 60] [--database postgresql://...]

In one run, on the same cases:
- baseline: the compliance port's `check_dial(record=False)` alone — the rule pack's part of a
  call, which any dialler pays;
- call start: `place_call` until it returns with the phone ringing (rule pack + number decrypted
  + call row + the softphone's `dial` over ctrl_tcp);
- call to outcome: from the click to the outcome recorded, for a line that answers busy (486)
  — the shortest call there is: the adapter's and the recording service's overhead.

Prints p50/p95 of each; ends with one line `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.telephony_fixtures import SipExchange  # noqa: E402

from arrears.compliance.port import check_dial  # noqa: E402
from arrears.privacy.keyring import KeyRing  # noqa: E402
from arrears.services import calls  # noqa: E402
from arrears.store import migrate  # noqa: E402
from arrears.store import tables as t  # noqa: E402
from arrears.store.db import make_engine  # noqa: E402

D = date(2026, 1, 16)
NOON = datetime(2026, 1, 16, 4, tzinfo=UTC)  # 12:00 in Shanghai


def _seed(engine: Engine, ring: KeyRing, n: int) -> None:
    with engine.begin() as conn:
        for i in range(1, n + 1):
            phone = f"+86130{i:08d}"
            conn.execute(
                insert(t.borrowers).values(
                    id=f"B{i}",
                    name_enc=ring.encrypt("王芳"),
                    phone_enc=ring.encrypt(phone),
                    phone_index=ring.blind_index(phone),
                    timezone="Asia/Shanghai",
                )
            )
            conn.execute(
                insert(t.cases).values(
                    id=i, borrower_id=f"B{i}", opened_on=D, currency="CNY", status="open"
                )
            )
        conn.execute(
            insert(t.run_log).values(business_date=D, step="run_day", finished_at=NOON, rows=n)
        )


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return statistics.median(ordered) * 1000, p95 * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--database", default=None, help="default: a SQLite file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arrears-bench-dialler-"))
    url = args.database or f"sqlite:///{work / 'bench.db'}"
    engine = make_engine(url)
    if args.database:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS bench_dialler CASCADE"))
            conn.execute(text("CREATE SCHEMA bench_dialler"))
        engine.dispose()
        engine = make_engine(url, connect_args={"options": "-csearch_path=bench_dialler"})
    migrate.upgrade(engine)
    ring = KeyRing.generate()
    _seed(engine, ring, args.calls)
    exchange = SipExchange(work / "sip")
    exchange.route("+86130", "busy")
    baseline: list[float] = []
    start: list[float] = []
    outcome: list[float] = []
    try:
        # the softphone starts on the first call of the line: not part of a click
        calls.place_call(
            engine, exchange.dialer, ring=ring, case_id=1, target="borrower", contact_id=None,
            agent_user_id="agent1", at=NOON, wait=True, wait_timeout=10,
        )  # fmt: skip
        for case_id in range(2, args.calls + 1):
            t0 = time.perf_counter()
            with engine.begin() as conn:
                check_dial(
                    conn, case_id=case_id, target="borrower", contact_id=None, at=NOON,
                    record=False,
                )  # fmt: skip
            baseline.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            attempt = calls.place_call(
                engine, exchange.dialer, ring=ring, case_id=case_id, target="borrower",
                contact_id=None, agent_user_id="agent1", at=NOON,
            )  # fmt: skip
            start.append(time.perf_counter() - t0)
            assert attempt.call_id is not None, attempt.verdict
            while not calls.call_status(engine, attempt.call_id).done:
                time.sleep(0.002)
            outcome.append(time.perf_counter() - t0)
            status = calls.call_status(engine, attempt.call_id)
            assert status.outcome == "busy", status
    finally:
        exchange.close()
        engine.dispose()
        shutil.rmtree(work, ignore_errors=True)
        if args.database:
            admin = make_engine(url)
            with admin.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS bench_dialler CASCADE"))
            admin.dispose()
    b50, b95 = _ms(baseline)
    s50, s95 = _ms(start)
    o50, o95 = _ms(outcome)
    print(f"check_dial (baseline)   p50 {b50:7.1f} ms  p95 {b95:7.1f} ms")
    print(f"call start              p50 {s50:7.1f} ms  p95 {s95:7.1f} ms")
    print(f"call to outcome (busy)  p50 {o50:7.1f} ms  p95 {o95:7.1f} ms")
    db = "postgresql" if args.database else "sqlite"
    print(
        f"RESULT db={db} calls={len(start)} check_dial_p95_ms={b95:.1f} "
        f"call_start_p50_ms={s50:.1f} call_start_p95_ms={s95:.1f} "
        f"call_to_outcome_p95_ms={o95:.1f} start_over_baseline_p95={s95 / b95:.2f}"
    )


if __name__ == "__main__":
    main()
