"""SMS throughput through the full dispatcher against a real SMPP peer on loopback.

    python bench/dispatch.py --messages 5000 [--database postgresql://...]

In one run, against the same `smpp34` SMSC:
- baseline: a bare `smpplib` loop — bind, windowed `submit_sm` of the same texts, read the
  answers — nothing else;
- dispatcher: `Dispatcher.run_once` over N queued outbox rows — claim, compliance gate, context
  (decrypting names and numbers, sealing each borrower's link), render the approved template,
  signature and opt-out, send, record (outbox, action, interaction, template version and
  segments), and the delivery receipts applied.

Both keep the same window (64 `submit_sm` in flight, unanswered) on one bind, so the comparison
is of the work around the wire, not of windowing. The SMSC stands for the operator's, which
runs on machines of its own: it is pinned to one CPU and the benchmark to the others
(`--no-pin` to let them share), for both runs alike. The SMSC sends a delivery receipt for every
part; the dispatcher records them, the bare loop answers and drops them.

Prints both rates (messages/s and segments/s) and their ratio; ends with one line
`RESULT key=value ...`. Targets: ratio >= 0.5 and dispatcher >= 1000 messages/s.
A PostgreSQL `--database` gets a schema of its own for the run, dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import smpplib.client
import smpplib.consts as c
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.integration.channels.outbox import AT, queue_messages  # noqa: E402
from tests.integration.channels.smsc import free_port  # noqa: E402

from arrears.channels.base import OutgoingMessage  # noqa: E402
from arrears.channels.config import CommsConfig  # noqa: E402
from arrears.channels.smpp import SmppChannel, SmppSettings, text_for  # noqa: E402
from arrears.channels.sms_text import parts_for  # noqa: E402
from arrears.compliance.templates import TemplateBook  # noqa: E402
from arrears.privacy.keyring import KeyRing  # noqa: E402
from arrears.services.dispatch import (  # noqa: E402
    AllowAll,
    DispatchConfig,
    Dispatcher,
    default_gate,
)
from arrears.store import migrate  # noqa: E402
from arrears.store.db import make_engine  # noqa: E402

WINDOW = 64


def settings(port: int) -> SmppSettings:
    return SmppSettings(
        "127.0.0.1",
        port,
        "bench",
        "secret",
        "106900001234",
        window=WINDOW,
        signature={"zh-CN": "示例消费金融", "en": "Example Finance"},
        opt_out={"zh-CN": "拒收请回复TD", "en": "Reply STOP to opt out"},
    )


def bare_loop(port: int, texts: list[tuple[str, str]]) -> float:
    """Seconds for a plain smpplib client to submit every text, windowed, answers read."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    acked: set[int] = set()
    client.set_message_sent_handler(lambda pdu, **kw: acked.add(pdu.sequence))
    client.set_message_received_handler(lambda pdu, **kw: None)
    client.connect()
    client.bind_transceiver(system_id="bench", password="secret")
    started = time.perf_counter()
    outstanding: set[int] = set()
    for i, (to, text) in enumerate(texts):
        for part in parts_for(text, i & 0xFF):
            while len(outstanding) >= WINDOW:
                client.read_once(auto_send_enquire_link=False)
                outstanding -= acked
            pdu = client.send_message(
                source_addr_ton=c.SMPP_TON_UNK,
                source_addr="106900001234",
                dest_addr_ton=c.SMPP_TON_INTL,
                dest_addr_npi=c.SMPP_NPI_ISDN,
                destination_addr=to,
                short_message=part.payload,
                data_coding=int(part.coding),
                esm_class=part.esm_class,
                registered_delivery=1,
            )
            outstanding.add(pdu.sequence)
    while outstanding:
        client.read_once(auto_send_enquire_link=False)
        outstanding -= acked
    elapsed = time.perf_counter() - started
    with contextlib.suppress(Exception):  # receipts still arriving may precede unbind_resp
        client.unbind()
    client.disconnect()
    return elapsed


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux `/proc`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pin(smsc_pid: int, *, alone: bool) -> str:
    """The SMSC stands for the operator's, on a machine of its own: it gets CPU 0. With the
    embedded database this process (the bare loop, the dispatcher) takes the other CPUs; with
    PostgreSQL, whose server must share them too, it is left free to run anywhere. Where there
    are fewer than two CPUs, nothing is pinned."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        return "no"
    os.sched_setaffinity(smsc_pid, {cpus[0]})
    if not alone:
        return f"smsc={cpus[0]} dispatcher=any"
    os.sched_setaffinity(0, set(cpus[1:]))
    return f"smsc={cpus[0]} dispatcher={','.join(map(str, cpus[1:]))}"


def _own_cpu_s() -> float:
    """CPU seconds of this process and of the worker processes it has waited for."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + workers.ru_utime + workers.ru_stime


def _engine(url: str, schema: str | None) -> sa.Engine:
    if schema is None:
        return make_engine(url)
    return make_engine(url, connect_args={"options": f"-csearch_path={schema}"})


def _dispatcher(
    engine: sa.Engine, ring: KeyRing, port: int, gate: str, batch: int, now: datetime
) -> tuple[SmppChannel, Dispatcher]:
    sms = SmppChannel(settings(port))
    comms = CommsConfig()
    comms.sign_links(ring, lambda: now.date())  # links the web app reads, as in production
    return sms, Dispatcher(
        engine,
        ring,
        {"sms": sms},
        comms=comms,
        gate=default_gate() if gate == "rulepack" else AllowAll(),
        config=DispatchConfig(batch_size=batch),
    )


def _several(
    workers: int,
    url: str,
    schema: str | None,
    ring: KeyRing,
    port: int,
    args: argparse.Namespace,
    now: datetime,
) -> int:
    """`workers` dispatcher processes (forked: each its own engine and bind) drain the outbox
    together; the messages they sent between them."""
    forked = multiprocessing.get_context("fork")
    results = forked.Queue()

    def work() -> None:
        engine = _engine(url, schema)
        sms, dispatcher = _dispatcher(engine, ring, port, args.gate, args.batch, now)
        results.put(dispatcher.run_once(now).sent)
        sms.close()

    procs = [forked.Process(target=work) for _ in range(workers)]
    for proc in procs:
        proc.start()
    sent = sum(results.get(timeout=600) for _ in procs)
    for proc in procs:
        proc.join()
    return sent


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--database", help="default: a fresh SQLite file")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="dispatcher processes sharing the outbox, each with its own bind (PostgreSQL)",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the SMSC share every CPU with the dispatcher (default: a CPU of its own)",
    )
    parser.add_argument(
        "--gate",
        choices=["rulepack", "allow"],
        default="rulepack",
        help="the rule pack's send-time gate (default) or allow-all",
    )
    args = parser.parse_args()
    if args.workers > 1 and not (args.database or "").startswith("postgresql"):
        parser.error("several workers share an outbox on PostgreSQL (SKIP LOCKED) only")
    n = args.messages
    ring = KeyRing.generate()
    tmp = tempfile.mkdtemp(prefix="arrears-bench-")
    url = args.database or f"sqlite:///{tmp}/bench.db"
    schema = None
    if url.startswith("postgresql"):
        schema = f"bench_dispatch_{uuid.uuid4().hex[:8]}"
        with make_engine(url).begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine = _engine(url, schema)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        queue_messages(conn, ring, n)
    now = AT + timedelta(minutes=5)

    # the SMSC runs in a process of its own, so it does not share this process's GIL
    port = free_port()
    record = Path(tmp) / "received.jsonl"
    # the SMSC's own complaints (receipts to a session that has gone) stay in its log
    smsc_log = (Path(tmp) / "smsc.log").open("w")
    smsc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.channels.smsc", "--port", str(port),
         "--record", str(record), "--receipts", "DELIVRD"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"},
        stdout=subprocess.PIPE, stderr=smsc_log, text=True,
    )  # fmt: skip
    assert smsc.stdout is not None and smsc.stdout.readline().startswith("SMSC on")
    pinned = _pin(smsc.pid, alone=schema is None) if args.pin else "no"
    try:
        sms, dispatcher = _dispatcher(engine, ring, port, args.gate, args.batch, now)
        comms = dispatcher.comms
        with engine.connect() as conn:
            book = TemplateBook.load(conn)
        sample = book.render(
            "reminder_day1",
            "sms",
            "zh-CN",
            {
                "borrower_name": "王芳1234",
                "overdue_amount": "1,234.50元",
                "due_date": "2026年3月1日",
                "lender_name": "示例消费金融",
                "link": comms.link(1, "B1"),
            },
        )
        text = text_for(
            OutgoingMessage(0, "sms", "", "zh-CN", "borrower", "reminder_day1", sample.body),
            sms.settings,
        )
        texts = [(f"86139{i:08d}", text) for i in range(n)]
        smsc_cpu, own_cpu = _cpu_s(smsc.pid), time.process_time()
        bare = bare_loop(port, texts)
        bare_cpu = (_cpu_s(smsc.pid) - smsc_cpu, time.process_time() - own_cpu)
        time.sleep(0.5)
        before = _lines(record)

        smsc_cpu, own_cpu = _cpu_s(smsc.pid), _own_cpu_s()
        started = time.perf_counter()
        if args.workers == 1:
            sent = dispatcher.run_once(now).sent
        else:
            sent = _several(args.workers, url, schema, ring, port, args, now)
        full = time.perf_counter() - started
        full_cpu = (_cpu_s(smsc.pid) - smsc_cpu, _own_cpu_s() - own_cpu)
        sms.close()
        assert sent == n, f"{sent} of {n} sent"
        time.sleep(0.5)
        sent_parts = _lines(record) - before
    finally:
        smsc.terminate()
        smsc.wait(5)
        smsc_log.close()
        engine.dispose()
        if schema is not None:
            with make_engine(url).begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))

    bare_rate, full_rate = n / bare, n / full
    ratio = full_rate / bare_rate
    db = engine.dialect.name
    gate = type(dispatcher.gate).__name__
    print(f"messages: {n}, segments each: {sent_parts // n}, database: {db}, gate: {gate}")
    print(
        f"window: {WINDOW} submit_sm in flight per bind; the bare loop one bind, the dispatcher "
        f"{args.workers} worker(s) with a bind each; receipts on; CPUs pinned: {pinned}"
    )
    print(
        f"bare smpplib loop : {bare:7.2f} s  {bare_rate:8.0f} msg/s  {sent_parts / bare:8.0f} seg/s"
    )
    print(
        f"full dispatcher   : {full:7.2f} s  {full_rate:8.0f} msg/s  {sent_parts / full:8.0f} seg/s"
    )
    for name, (smsc_s, client_s) in (("bare loop", bare_cpu), ("dispatcher", full_cpu)):
        print(
            f"cpu per message, {name:10}: client {client_s / n * 1000:.3f} ms, "
            f"SMSC {smsc_s / n * 1000:.3f} ms"
        )
    print(f"ratio dispatcher/bare: {ratio:.2f} (target >= 0.50; dispatcher target >= 1000 msg/s)")
    print(
        f"RESULT messages={n} db={db} workers={args.workers} bare_msg_s={bare_rate:.0f} "
        f"dispatch_msg_s={full_rate:.0f} "
        f"ratio={ratio:.2f} segments={sent_parts // n} gate={gate} window={WINDOW} "
        f"pinned={'yes' if pinned != 'no' else 'no'} "
        f"client_cpu_ms={full_cpu[1] / n * 1000:.3f} smsc_cpu_ms={full_cpu[0] / n * 1000:.3f}"
    )


if __name__ == "__main__":
    main()
