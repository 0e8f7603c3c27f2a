"""The agent workbench under load: N concurrent agent sessions on PostgreSQL with a large
portfolio, each taking the next case, opening it and recording an outcome, again and again.

    .venv/bin/python bench/api.py [--accounts 1000000] [--agents 200] [--seconds 60]
                                  [--think 2.0] [--workers 2] [--database postgresql://...]

In one run, against the same server processes and the same data:
- baseline: GET /static/app.css — the cheapest request the server answers (no database);
- workbench: POST /agent/next, GET /cases/{id}, POST /cases/{id}/outcome.

Each agent waits a random think time (exponential, mean --think seconds) between steps, as an
agent on the phone would. Prints p50/p95/p99 per endpoint and the ratio of each p95 to the
baseline's; ends with one line `RESULT key=value ...`. Target: p95 <= 100 ms per endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

D = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
HERE = Path(__file__).resolve().parent


# --- the server (run as `uvicorn --factory api:server_app` in worker processes) ---------------


def server_app():  # type: ignore[no-untyped-def]
    from arrears.bootstrap import App
    from arrears.config import Settings
    from arrears.privacy.keyring import KeyRing
    from arrears.store.db import make_engine
    from arrears.web.app import create_app

    url = os.environ["ARREARS_BENCH_URL"]
    schema = os.environ["ARREARS_BENCH_SCHEMA"]
    app = App(Settings(database_url=url))
    app.engine = make_engine(  # type: ignore[misc]
        url, connect_args={"options": f"-csearch_path={schema}"}, pool_size=20, max_overflow=20
    )
    app.keyring = KeyRing.from_json(os.environ["ARREARS_KEYS"])  # type: ignore[misc]
    return create_app(app, business_date=D, clock=lambda: NOW, otp_sender=lambda p, m: None)


# --- the data -------------------------------------------------------------------------------


def populate(engine: Engine, ring_json: str, accounts: int, agents: int) -> int:
    """accounts borrowers with one account each; 5% one instalment behind with an open case,
    two contacts and today's call to the borrower. Returns the number of open cases."""
    from arrears.privacy.keyring import KeyRing
    from arrears.services.auth import hash_password
    from arrears.services.users import add_team

    ring = KeyRing.from_json(ring_json)
    name, phone = ring.encrypt("王小明"), ring.encrypt("+8613812345678")
    id_number = ring.encrypt("110101199001011234")
    every = 20
    with engine.begin() as conn:
        p = {"name": name, "phone": phone, "idn": id_number, "n": accounts, "every": every}
        conn.execute(
            text(
                """INSERT INTO borrowers (id, name_enc, phone_enc, phone_index, id_number_enc,
                                          risk_score)
                   SELECT 'B' || g, :name, :phone, md5(g::text), :idn, (g::bigint * 7919) % 1000
                   FROM generate_series(1, CAST(:n AS INTEGER)) g"""
            ),
            p,
        )
        conn.execute(
            text(
                """INSERT INTO accounts (id, borrower_id, product, currency, principal,
                                         annual_rate_ppm, opened_on, dpd, bucket,
                                         overdue_amount, outstanding, state_as_of)
                   SELECT 'A' || g, 'B' || g, 'instalment_loan', 'CNY', 300000, 180000,
                          DATE '2025-12-01',
                          CASE WHEN g % :every = 0 THEN 1 ELSE 0 END,
                          CASE WHEN g % :every = 0 THEN 'M1' ELSE 'M0' END,
                          CASE WHEN g % :every = 0 THEN 100000 + (g % 997) * 100 ELSE 0 END,
                          200000, DATE '2026-03-02'
                   FROM generate_series(1, CAST(:n AS INTEGER)) g"""
            ),
            p,
        )
        conn.execute(
            text(
                """INSERT INTO due_items (account_id, seq, due_on, principal, interest,
                                          paid_principal, paid_interest)
                   SELECT 'A' || g, s, DATE '2026-01-01' + (s - 1) * 31, 100000, 4500,
                          CASE WHEN s = 3 AND g % :every = 0 THEN 0 ELSE
                               CASE WHEN s <= 3 THEN 100000 ELSE 0 END END,
                          CASE WHEN s = 3 AND g % :every = 0 THEN 0 ELSE
                               CASE WHEN s <= 3 THEN 4500 ELSE 0 END END
                   FROM generate_series(1, CAST(:n AS INTEGER)) g, generate_series(1, 3) s"""
            ),
            p,
        )
        conn.execute(
            text(
                """INSERT INTO cases (borrower_id, opened_on, status, currency, overdue_at_open,
                                      dpd, bucket, overdue_amount, queue)
                   SELECT 'B' || g, DATE '2026-03-02', 'open', 'CNY',
                          100000 + (g % 997) * 100, 1, 'M1', 100000 + (g % 997) * 100, 'early'
                   FROM generate_series(CAST(:every AS INTEGER), CAST(:n AS INTEGER),
                                        CAST(:every AS INTEGER)) g"""
            ),
            p,
        )
        conn.execute(
            text(
                """INSERT INTO contacts (id, borrower_id, name_enc, relationship, phone_enc,
                                         phone_index, consent)
                   SELECT 'C' || c.id || '-' || k, c.borrower_id, :name,
                          CASE WHEN k = 1 THEN 'spouse' ELSE 'sibling' END, :phone,
                          md5(c.id::text || k), true
                   FROM cases c, generate_series(1, 2) k"""
            ),
            p,
        )
        conn.execute(
            text(
                """INSERT INTO actions (case_id, business_date, step, target_type, target_id,
                                        channel, template, status, priority, scheduled_at)
                   SELECT c.id, DATE '2026-03-02', 'dpd1_call', 'borrower', c.borrower_id,
                          'call', 'call_borrower', 'planned', 10 + (c.id % 3) * 10,
                          TIMESTAMPTZ '2026-03-02 01:00:00+00'
                   FROM cases c"""
            ),
        )
        cases = int(conn.scalar(text("SELECT count(*) FROM cases")) or 0)
        add_team(conn, "bench", "Bench team", ["early", "hardship"])
        hashed = hash_password("bench-password")
        conn.execute(
            text(
                """INSERT INTO users (username, display_name, password_hash, role, team_id,
                                      language, plan_max_instalments, plan_max_waiver_minor,
                                      active, created_at)
                   SELECT 'agent' || g, 'Agent ' || g, :h, 'agent', 'bench', 'en', 2, 0, true,
                          now()
                   FROM generate_series(1, CAST(:agents AS INTEGER)) g"""
            ),
            {"h": hashed, "agents": agents},
        )
    with engine.connect() as conn:
        conn.execute(text("COMMIT"))
        for table in ("borrowers", "accounts", "due_items", "cases", "contacts", "actions"):
            conn.execute(text(f"ANALYZE {table}"))
    return cases


# --- the load -------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.codes: dict[str, int] = defaultdict(int)

    async def call(self, name: str, fn, *args, **kw):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            r = await fn(*args, **kw)
        except httpx.TransportError as exc:
            self.errors[name] += 1
            self.codes[f"{name} {type(exc).__name__}"] += 1
            return httpx.Response(599)
        self.times[name].append(time.perf_counter() - t0)
        if r.status_code >= 400:
            self.errors[name] += 1
            self.codes[f"{name} {r.status_code}"] += 1
        return r


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    return m.group(1) if m else ""


async def sign_in(c: httpx.AsyncClient, n: int, gate: asyncio.Semaphore) -> str:
    async with gate:  # argon2 is meant to be slow: sign the agents in a few at a time
        form = await c.get("/login")
        r = await c.post(
            "/login",
            data={"username": f"agent{n}", "password": "bench-password", "csrf": _csrf(form.text)},
        )
        page = await c.get(r.headers["location"])
    return _csrf(page.text)


async def agent_loop(
    c: httpx.AsyncClient, csrf: str, rec: Recorder, stop: float, think: float, rng: random.Random
) -> int:
    cycles = 0
    await asyncio.sleep(rng.uniform(0, think))
    while time.perf_counter() < stop:
        await rec.call("GET /static/app.css (baseline)", c.get, "/static/app.css")
        r = await rec.call("POST /agent/next", c.post, "/agent/next", data={"csrf": csrf})
        where = r.headers.get("location", "")
        if not where.startswith("/cases/"):
            await asyncio.sleep(think)
            continue
        await asyncio.sleep(rng.expovariate(1 / think))
        page = await rec.call("GET /cases/{id}", c.get, where)
        m = re.search(r'href="/cases/\d+/call/(\d+)" data-testid="call-(\w+)"', page.text)
        await asyncio.sleep(rng.expovariate(1 / think))
        contact = m is not None and m.group(2) == "contact"
        borrower = ["right_party", "busy", "refused"]
        choices = ["contact_reached", "no_answer"] if contact else borrower
        data = {"csrf": csrf, "outcome": rng.choice(choices)}
        if m:
            data["action_id"] = m.group(1)
        await rec.call("POST /cases/{id}/outcome", c.post, f"{where}/outcome", data=data)
        cycles += 1
        await asyncio.sleep(rng.expovariate(1 / think))
    return cycles


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def load(base: str, agents: int, seconds: float, think: float) -> tuple[Recorder, int]:
    rec = Recorder()
    rng = random.Random(7)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=120, limits=limits)
        for _ in range(agents)
    ]
    try:
        gate = asyncio.Semaphore(4)
        tokens = await asyncio.gather(*(sign_in(c, n + 1, gate) for n, c in enumerate(clients)))
        stop = time.perf_counter() + seconds
        cycles = await asyncio.gather(
            *(
                agent_loop(c, csrf, rec, stop, think, random.Random(rng.random()))
                for c, csrf in zip(clients, tokens, strict=True)
            )
        )
    finally:
        for c in clients:
            await c.aclose()
    return rec, sum(cycles)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--think", type=float, default=2.0, help="mean think time between steps (s)")
    ap.add_argument("--workers", type=int, default=2, help="server processes")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--database", default=os.environ.get("ARREARS_BENCH_POSTGRES_URL", DEFAULT_PG))
    ap.add_argument("--keep", action="store_true", help="keep the bench schema afterwards")
    ap.add_argument("--schema", help="reuse a schema kept by an earlier run (--keep)")
    args = ap.parse_args()

    from arrears.privacy.keyring import KeyRing
    from arrears.store import migrate
    from arrears.store.db import make_engine, normalise_url

    url = normalise_url(args.database)
    schema = args.schema or "bench_api_" + uuid.uuid4().hex[:8]
    admin = make_engine(url)
    if not args.schema:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    server = None
    keys = Path(tempfile.gettempdir()) / f"arrears-{schema}.keys.json"
    try:
        t0 = time.perf_counter()
        if args.schema:
            ring_json = keys.read_text()
            with engine.begin() as conn:  # back to the start of the day
                conn.execute(text("DELETE FROM interactions"))
                conn.execute(text("DELETE FROM gate_decisions"))
                conn.execute(text("UPDATE actions SET status = 'planned', completed_at = NULL"))
                conn.execute(text("UPDATE cases SET assigned_to = NULL, last_contact_on = NULL"))
                conn.execute(text("DELETE FROM sessions"))
                cases = int(conn.scalar(text("SELECT count(*) FROM cases")) or 0)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE cases"))
                conn.execute(text("VACUUM ANALYZE actions"))
        else:
            migrate.upgrade(engine)
            ring_json = KeyRing.generate().to_json()
            cases = populate(engine, ring_json, args.accounts, args.agents)
            if args.keep:
                keys.write_text(ring_json)
        print(
            f"portfolio: {args.accounts:,} accounts, {cases:,} open cases with a call due "
            f"today, {args.agents} agents ({time.perf_counter() - t0:.0f} s to load)"
        )
        env = {
            **os.environ,
            "ARREARS_BENCH_URL": url,
            "ARREARS_BENCH_SCHEMA": schema,
            "ARREARS_KEYS": ring_json,
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "api:server_app",
                "--app-dir",
                str(HERE),
                "--host",
                "127.0.0.1",
                "--port",
                str(args.port),
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
                "--backlog",
                "2048",
                "--timeout-keep-alive",
                "600",
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{args.port}"
        for _ in range(300):
            try:
                if httpx.get(base + "/static/app.css", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        rec, cycles = asyncio.run(load(base, args.agents, args.seconds, args.think))
        base_p95 = pct(rec.times["GET /static/app.css (baseline)"], 0.95)
        print(
            f"\n{'endpoint':34} {'n':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
            f"{'p95/base':>9} {'errors':>7}"
        )
        result = {}
        for name, times in sorted(rec.times.items()):
            p50, p95, p99 = pct(times, 0.5), pct(times, 0.95), pct(times, 0.99)
            print(
                f"{name:34} {len(times):>7} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f} "
                f"{p95 / base_p95:>9.1f} {rec.errors[name]:>7}"
            )
            key = {
                "POST /agent/next": "next",
                "GET /cases/{id}": "case",
                "POST /cases/{id}/outcome": "outcome",
            }.get(name, "baseline")
            result[f"{key}_p95_ms"] = f"{p95:.1f}"
            result[f"{key}_p50_ms"] = f"{p50:.1f}"
        for what, n in sorted(rec.codes.items()):
            print(f"  error: {what} × {n}")
        total = sum(len(v) for v in rec.times.values())
        print(
            f"\n{cycles} next-case → open → outcome cycles in {args.seconds:.0f} s; "
            f"{total / args.seconds:.0f} requests/s; mean think {args.think} s"
        )
        worst = max(float(result.get(f"{k}_p95_ms", "nan")) for k in ("next", "case", "outcome"))
        print(
            "RESULT "
            + " ".join(f"{k}={v}" for k, v in sorted(result.items()))
            + f" cycles={cycles} agents={args.agents} accounts={args.accounts}"
            + f" target_p95_ms=100 met={'yes' if worst <= 100 else 'no'}"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        engine.dispose()
        if not args.keep and not args.schema:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        else:
            print(f"kept schema {schema}: rerun with --schema {schema}")
        admin.dispose()


if __name__ == "__main__":
    main()
