"""The collections floor under load: N agents work cases over HTTP against `arrears serve` (the
real app under uvicorn, real sign-in) on PostgreSQL with a large book.

    .venv/bin/python bench/floor.py [--accounts 1000000] [--agents 50] [--seconds 60]
                                    [--think 3.0] [--servers 2] [--reuse]
                                    [--database postgresql://…/arrears_floor_bench]

The book is built the quick way `bench/run_day.py` builds it (DuckDB, COPY; 3% delinquent), the
borrowers of the delinquent accounts are given (encrypted) names and phone numbers, and
`arrears run-day` opens the cases and plans the day's calls. Then `arrears serve` runs (one
process per core, --servers, as behind a load balancer; agents split between them) with the
webhook dialler pointed at a cloud call centre on loopback that accepts every call at once (the
port's simplest real adapter: a signed HTTP request; no phone rings, and no result comes back:
the app has no edge for the call centre's result callback yet, so the outcome is recorded
through the day's task, not by completing the dialled call).

Each agent signs in through the form and loops: Next case (POST /agent/next), the case page
(GET /cases/{id}), Call (POST /cases/{id}/call: the rule pack re-checked, the number decrypted
and dialled on the server), outcome (POST /cases/{id}/outcome through the day's task), with a
think time between steps (exponential, mean --think seconds). Prints p50/p95 of each step and
outcomes recorded per agent-hour; ends with one line `RESULT …`. Target: every p95 <= 150 ms.
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
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlalchemy import Connection, Engine, text

from arrears.privacy.keyring import KeyRing

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run_day as book  # noqa: E402  (the bench helpers next to this file)

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/arrears_floor_bench"
PASSWORD = "bench-password"
TARGET_MS = 150.0
STEPS = ("next", "case", "call", "outcome")
NAMES = {
    "next": "POST /agent/next",
    "case": "GET /cases/{id}",
    "call": "POST /cases/{id}/call",
    "outcome": "POST /cases/{id}/outcome",
}


# --- the cloud call centre on loopback ------------------------------------------------------


class CallCentre(BaseHTTPRequestHandler):
    """Accepts every call and every hang-up at once (HTTP 202); counts them."""

    started = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if not self.path.endswith("/hangup"):
            with CallCentre.lock:
                CallCentre.started += 1
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        return


def start_call_centre(port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), CallCentre)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- the book -------------------------------------------------------------------------------


def fresh_database(url: str) -> None:
    """Drop and create the bench's own database (named in the URL)."""
    from sqlalchemy.engine import make_url

    from arrears.store.db import make_engine

    target = make_url(url)
    admin = make_engine(target.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def load(engine: Engine, files: dict[str, tuple[Path, list[str]]]) -> None:
    """COPY the generated files in, as `bench/run_day.py` does, with the foreign-key triggers
    off for the load (the generator makes the keys consistent; checking 12 million due items
    one by one against their accounts is most of the load's time on a busy machine)."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SET session_replication_role = replica")
        for name, (path, cols) in files.items():
            copy = f"COPY {name} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)"
            with cur.copy(copy) as cp, path.open("rb") as fh:
                while block := fh.read(1 << 20):
                    cp.write(block)
        cur.execute("SET session_replication_role = DEFAULT")
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def people(conn: Connection, ring: KeyRing) -> None:
    """The people the floor calls — the borrowers of open cases and their contacts — get a name
    and a number, encrypted with the key ring the app reads."""
    name, phone = ring.encrypt("王小明"), ring.encrypt("+8613800138000")
    conn.execute(
        text(
            """UPDATE borrowers SET name_enc = :name, phone_enc = :phone,
                                    phone_index = md5(borrowers.id)
               FROM cases WHERE cases.borrower_id = borrowers.id AND cases.status = 'open'"""
        ),
        {"name": name, "phone": phone},
    )
    conn.execute(
        text(
            """UPDATE contacts SET name_enc = :name, phone_enc = :phone,
                                   phone_index = md5(contacts.id)
               FROM cases WHERE cases.borrower_id = contacts.borrower_id
                 AND cases.status = 'open'"""
        ),
        {"name": name, "phone": ring.encrypt("+8613900139000")},
    )


def add_agents(conn: Connection, agents: int) -> None:
    """agent1 … agentN in the bench's team (those missing), with the bench's password."""
    from arrears.services.auth import hash_password

    conn.execute(
        text(
            """INSERT INTO users (username, display_name, password_hash, role, team_id,
                                  language, plan_max_instalments, plan_max_waiver_minor,
                                  active, created_at)
               SELECT 'agent' || g, 'Agent ' || g, :h, 'agent', 'floor', 'en', 2, 0, true, now()
               FROM generate_series(1, CAST(:n AS INTEGER)) g
               WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.username = 'agent' || g)"""
        ),
        {"h": hash_password(PASSWORD), "n": agents},
    )


def arrears(env: dict[str, str], url: str, *args: str) -> str:
    """Run the `arrears` command a user runs; its output, or exit with its error."""
    cli = Path(sys.executable).with_name("arrears")
    done = subprocess.run(
        [str(cli), "--database", url, *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"arrears {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def build(url: str, accounts: int, agents: int, env: dict[str, str], keys: Path) -> dict[str, int]:
    from arrears.privacy.keyring import KeyRing
    from arrears.services.users import add_team
    from arrears.store import migrate
    from arrears.store.db import make_engine

    t0 = time.perf_counter()
    fresh_database(url)
    engine = make_engine(url)
    migrate.upgrade(engine)
    con = book.generate(accounts)
    with tempfile.TemporaryDirectory() as tmp:
        load(engine, book.export(con, Path(tmp)))
    loaded = time.perf_counter() - t0
    keys.unlink(missing_ok=True)
    arrears(env, url, "keys", "init")
    t1 = time.perf_counter()
    arrears(env, url, "run-day", "--as-of", book.AS_OF.isoformat())
    ran = time.perf_counter() - t1
    with engine.begin() as conn:
        people(conn, KeyRing.from_json(keys.read_text(), source=keys))
        queues = sorted(
            conn.scalars(text("SELECT DISTINCT queue FROM cases WHERE status = 'open'"))
        )
        add_team(conn, "floor", "Bench floor", queues or ["early"])
        add_agents(conn, agents)
        counts = {
            "cases": int(conn.scalar(text("SELECT count(*) FROM cases WHERE status = 'open'"))),
            "calls_today": int(
                conn.scalar(
                    text(
                        """SELECT count(DISTINCT case_id) FROM actions WHERE business_date = :d
                           AND channel IN ('call', 'task') AND status IN ('planned', 'deferred')"""
                    ),
                    {"d": book.AS_OF},
                )
            ),
        }
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("cases", "actions", "borrowers", "contacts", "users"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    engine.dispose()
    print(
        f"book: {accounts:,} accounts loaded in {loaded:.0f} s; run-day {book.AS_OF} in "
        f"{ran:.0f} s: {counts['cases']:,} open cases, {counts['calls_today']:,} with calls "
        f"today; {agents} agents in queues {', '.join(queues)}"
    )
    return counts


# --- the agents -----------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.codes: dict[str, int] = defaultdict(int)

    async def timed(self, step: str, fn, *args, ok=(200, 303), **kw):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            r = await fn(*args, **kw)
        except httpx.TransportError as exc:
            self.errors[step] += 1
            self.codes[f"{step} {type(exc).__name__}"] += 1
            return None
        self.times[step].append(time.perf_counter() - t0)
        if r.status_code not in ok:
            self.errors[step] += 1
            self.codes[f"{step} HTTP {r.status_code}"] += 1
        return r


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    return m.group(1) if m else ""


async def sign_in(c: httpx.AsyncClient, n: int, gate: asyncio.Semaphore) -> str:
    async with gate:  # argon2 is slow on purpose: a few sign-ins at a time
        form = await c.get("/login")
        r = await c.post(
            "/login",
            data={"username": f"agent{n}", "password": PASSWORD, "csrf": _csrf(form.text)},
        )
        if r.status_code != 303:
            raise SystemExit(f"agent{n} could not sign in: HTTP {r.status_code}")
        page = await c.get(r.headers["location"])
    return _csrf(page.text)


_OUTCOME_FORM = re.compile(r'<form[^>]*action="/cases/\d+/outcome"[^>]*>(.*?)</form>', re.S)
_CALL_FORM = re.compile(r'<form[^>]*action="/cases/\d+/call"[^>]*>(.*?)</form>', re.S)
_SAFE = {"no_answer", "busy", "right_party", "refused", "contact_reached"}


def work_of(page: str) -> tuple[dict[str, str], dict[str, str]] | None:
    """From the case page: the Call form's fields for the task's person and the wrap-up form's
    (its action id and an outcome the form offers)."""
    for body in _OUTCOME_FORM.findall(page):
        action = re.search(r'name="action_id" value="(\d+)"', body)
        if not action:
            continue
        outcomes = [o for o in re.findall(r'name="outcome" value="(\w+)"', body) if o in _SAFE]
        if not outcomes:
            continue
        calls = _CALL_FORM.findall(page)
        target = {"target": "borrower"}
        if "contact_reached" in outcomes and calls:  # the task is a contact's
            for form in calls:
                contact = re.search(r'name="contact_id" value="([^"]+)"', form)
                if contact:
                    target = {"target": "contact", "contact_id": contact.group(1)}
                    break
        return target, {"action_id": action.group(1), "outcome": ",".join(outcomes)}
    return None


async def agent_loop(
    c: httpx.AsyncClient, csrf: str, rec: Recorder, stop: float, think: float, rng: random.Random
) -> tuple[int, int]:
    """Returns (outcomes recorded, cases found without a call to make)."""
    done = idle = 0

    async def pause() -> None:
        if think > 0:
            await asyncio.sleep(rng.expovariate(1 / think))

    await asyncio.sleep(rng.uniform(0, think or 0.1))
    while time.perf_counter() < stop:
        r = await rec.timed("next", c.post, "/agent/next", data={"csrf": csrf})
        where = r.headers.get("location", "") if r is not None else ""
        if not where.startswith("/cases/"):
            await asyncio.sleep(max(think, 0.5))
            continue
        await pause()
        page = await rec.timed("case", c.get, where)
        work = work_of(page.text) if page is not None else None
        if work is None:
            idle += 1
            continue
        target, wrap = work
        await pause()
        await rec.timed("call", c.post, f"{where}/call", data={"csrf": csrf, **target}, ok=(303,))
        await pause()  # on the phone
        outcome = rng.choice(wrap["outcome"].split(","))
        # through the day's task: the app has no edge yet for the call centre's result
        # callback, so the dialled call never ends and cannot carry the wrap-up
        data = {"csrf": csrf, "action_id": wrap["action_id"], "outcome": outcome}
        r = await rec.timed("outcome", c.post, f"{where}/outcome", data=data, ok=(303,))
        if r is not None and r.status_code == 303:
            done += 1
        await pause()
    return done, idle


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def floor(
    bases: list[str], agents: int, seconds: float, think: float
) -> tuple[Recorder, int, int]:
    rec = Recorder()
    rng = random.Random(7)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(
            base_url=bases[n % len(bases)], follow_redirects=False, timeout=60, limits=limits
        )
        for n in range(agents)
    ]
    try:
        gate = asyncio.Semaphore(4)
        tokens = await asyncio.gather(*(sign_in(c, n + 1, gate) for n, c in enumerate(clients)))
        stop = time.perf_counter() + seconds
        results = await asyncio.gather(
            *(
                agent_loop(c, csrf, rec, stop, think, random.Random(rng.random()))
                for c, csrf in zip(clients, tokens, strict=True)
            )
        )
    finally:
        for c in clients:
            await c.aclose()
    return rec, sum(r[0] for r in results), sum(r[1] for r in results)


def wait_for(base: str, server: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"arrears serve exited with {server.returncode}")
        try:
            if httpx.get(base + "/login", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit("arrears serve did not answer in time")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--agents", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--think", type=float, default=3.0, help="mean pause between steps (s)")
    ap.add_argument("--port", type=int, default=8791, help="the first server's port")
    ap.add_argument(
        "--servers", type=int, default=2, help="`arrears serve` processes (one per core)"
    )
    ap.add_argument("--dialler-port", type=int, default=8790)
    ap.add_argument("--database", default=os.environ.get("ARREARS_FLOOR_BENCH_URL", DEFAULT_PG))
    ap.add_argument(
        "--reuse", action="store_true", help="work the book an earlier run left (not rebuilt)"
    )
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    from arrears.store.db import normalise_url

    url = normalise_url(args.database)
    from sqlalchemy.engine import make_url

    # the key ring, audit anchor and recordings of this database's book (one folder each)
    work = Path(tempfile.gettempdir()) / f"arrears-floor-{make_url(url).database}"
    work.mkdir(exist_ok=True)
    keys = work / "keys.json"
    secret = "floor-bench-dialler-secret"
    env = {
        **os.environ,
        "ARREARS_KEY_FILE": str(keys),
        "ARREARS_AUDIT_ANCHOR_DIR": str(work / "anchor"),
        "ARREARS_OUTBOX_DIR": str(work / "outbox"),
        "ARREARS_RECORDINGS_DIR": str(work / "recordings"),
        "ARREARS_DIALER": "webhook",
        "ARREARS_DIALER_WEBHOOK_URL": f"http://127.0.0.1:{args.dialler_port}/calls",
        "ARREARS_DIALER_WEBHOOK_SECRET": secret,
    }
    env.pop("ARREARS_KEYS", None)
    if args.reuse:
        if not keys.exists():
            sys.exit("no earlier book to reuse; run without --reuse first")
        reset(url, args.agents, keys)
    else:
        build(url, args.accounts, args.agents, env, keys)
    centre = start_call_centre(args.dialler_port)
    # one `arrears serve` per core, as behind a load balancer: sessions live in the database,
    # so an agent may be served by any of them; each agent keeps to one
    ports = [args.port + i for i in range(args.servers)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for port, base in zip(ports, bases, strict=True):  # one at a time: each migrates first
            arrears_serve = [str(Path(sys.executable).with_name("arrears")), "--database", url]
            servers.append(
                subprocess.Popen([*arrears_serve, "serve", "--port", str(port)], env=env)
            )
            wait_for(base, servers[-1])
        rec, outcomes, idle = asyncio.run(floor(bases, args.agents, args.seconds, args.think))
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        centre.shutdown()
    print(f"\n{'step':28} {'n':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    p95 = {}
    for step in STEPS:
        times = rec.times[step]
        p50, p95[step], p99 = pct(times, 0.5), pct(times, 0.95), pct(times, 0.99)
        print(
            f"{NAMES[step]:28} {len(times):>7} {p50:>8.1f} {p95[step]:>8.1f} {p99:>8.1f} "
            f"{rec.errors[step]:>7}"
        )
    for what, n in sorted(rec.codes.items()):
        print(f"  error: {what} × {n}")
    per_hour = outcomes / args.agents / (args.seconds / 3600)
    print(
        f"\n{outcomes} outcomes recorded by {args.agents} agents in {args.seconds:.0f} s "
        f"({per_hour:.0f} per agent-hour, mean think {args.think} s); {CallCentre.started} "
        f"calls reached the call centre; {idle} cases opened without a call to make"
    )
    worst = max(p95.values())
    print(
        f"RESULT agents={args.agents} seconds={args.seconds:.0f} accounts={args.accounts} "
        + f"servers={args.servers} think_s={args.think} "
        + " ".join(f"{s}_p95_ms={p95[s]:.1f}" for s in STEPS)
        + f" outcomes_per_agent_hour={per_hour:.0f}"
        + f" target_p95_ms={TARGET_MS:.0f} met={'yes' if worst <= TARGET_MS else 'no'}"
    )
    return 0 if worst <= TARGET_MS else 1


def reset(url: str, agents: int, keys: Path) -> None:
    """Back to the morning of the book's day: no call made, no case taken, nobody signed in;
    `agents` agents in the team."""
    from arrears.privacy.keyring import KeyRing
    from arrears.store.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        add_agents(conn, agents)
        people(conn, KeyRing.from_json(keys.read_text(), source=keys))
        conn.execute(text("DELETE FROM calls"))
        conn.execute(text("DELETE FROM interactions WHERE agent LIKE 'agent%'"))
        dials = "SELECT id FROM actions WHERE step LIKE 'agent_dial_%'"
        conn.execute(text(f"DELETE FROM gate_decisions WHERE action_id IN ({dials})"))
        conn.execute(text(f"DELETE FROM actions WHERE id IN ({dials})"))
        conn.execute(
            text(
                """UPDATE actions SET status = 'planned', completed_at = NULL
                   WHERE status = 'done' AND channel IN ('call', 'task')"""
            )
        )
        conn.execute(text("UPDATE cases SET assigned_to = NULL WHERE assigned_to IS NOT NULL"))
        conn.execute(text("DELETE FROM sessions"))
    engine.dispose()
    print(f"book reused, reset to the morning of {book.AS_OF}")


if __name__ == "__main__":
    sys.exit(main())
