"""The peer of `bench/vs_tryton.py`: Tryton 7.0's dunning run over a book built to match.

Runs inside Tryton's own virtual environment (`bench/vs_tryton.py` creates it and calls this
file with that interpreter); it imports nothing from arrears.

    python tryton_peer.py build --db NAME --overdue N --current M --as-of YYYY-MM-DD
    python tryton_peer.py dun --db NAME --date YYYY-MM-DD      # times generate_dunnings
    python tryton_peer.py process --db NAME                   # letters sent: draft -> waiting

The book: one company (CNY), a chart of accounts from Tryton's English template, a dunning
procedure of two levels (1 day overdue, 30 days overdue), and one customer per borrower with
one posted receivable line of 1,000.00: due the day before `--as-of` for the overdue ones, 45
days after it for the current ones. The first customer and move are made through Tryton's
models; the rest are copies of them made by SQL (building is not timed; the dunning run is).
`dun` prints one JSON line: seconds of `Dunning.generate_dunnings(date)` and its commit, and
the dunnings by state and level afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

HOST = os.environ.get("TRYTON_BENCH_PGHOST", "127.0.0.1")
CONFIG = Path(tempfile.gettempdir()) / "arrears-bench-trytond.conf"


def write_config() -> Path:
    CONFIG.write_text(
        f"[database]\nuri = postgresql://postgres@{HOST}:5432/\n"
        "[cache]\nmodel = 20000\nrecord = 20000\n"
    )
    return CONFIG


def admin(db: str) -> None:
    """Create the database and activate account_dunning with what it needs."""
    subprocess.run(["dropdb", "-h", HOST, "-U", "postgres", "--if-exists", db], check=True)
    subprocess.run(["createdb", "-h", HOST, "-U", "postgres", db], check=True)
    pw = Path(tempfile.gettempdir()) / "arrears-bench-tryton-pass"
    pw.write_text("admin\n")
    env = dict(os.environ, TRYTONPASSFILE=str(pw))
    bindir = Path(sys.executable).parent
    base = [str(bindir / "trytond-admin"), "-c", str(write_config()), "-d", db]
    subprocess.run([*base, "--all", "--email", "admin@example.com"], check=True, env=env)
    subprocess.run([*base, "-u", "account_dunning", "--activate-dependencies"], check=True, env=env)


def build(db: str, overdue: int, current: int, as_of: dt.date) -> None:
    admin(db)
    from trytond.config import config as tconfig

    tconfig.update_etc(str(CONFIG))
    from proteus import Model, config
    from trytond.modules.account.tests.tools import (
        create_chart,
        create_fiscalyear,
        get_accounts,
    )
    from trytond.modules.company.tests.tools import create_company, get_company

    config.set_trytond(db, config_file=str(CONFIG))
    Currency = Model.get("currency.currency")
    cny = Currency(name="Yuan Renminbi", code="CNY", symbol="¥", rounding=Decimal("0.01"))
    cny.save()
    create_company(currency=cny)
    company = get_company()
    span = (as_of - dt.timedelta(days=200), as_of + dt.timedelta(days=200))
    fiscalyear = create_fiscalyear(company, span)
    fiscalyear.click("create_period")
    create_chart(company)
    accounts = get_accounts(company)

    Procedure = Model.get("account.dunning.procedure")
    procedure = Procedure(name="Overdue")
    for seq, days in ((1, 1), (2, 30)):
        level = procedure.levels.new()
        level.sequence = seq
        level.overdue = dt.timedelta(days)
    procedure.save()

    Party = Model.get("party.party")
    customer = Party(name="Customer 0")
    customer.dunning_procedure = procedure
    customer.save()

    Journal = Model.get("account.journal")
    Move = Model.get("account.move")
    (journal,) = Journal.find([("code", "=", "REV")])
    period = next(p for p in fiscalyear.periods if p.start_date <= as_of <= p.end_date)
    move = Move(period=period, journal=journal, date=as_of - dt.timedelta(days=31))
    line = move.lines.new()
    line.account = accounts["revenue"]
    line.credit = Decimal(1000)
    line = move.lines.new()
    line.account = accounts["receivable"]
    line.debit = Decimal(1000)
    line.party = customer
    line.maturity_date = as_of - dt.timedelta(days=1)
    move.click("post")
    _copy(db, customer.id, move.id, overdue, current, as_of)


def _copy(db: str, party: int, move: int, overdue: int, current: int, as_of: dt.date) -> None:
    """Copies of the first customer and its move, by SQL: customers 1 .. overdue+current-1."""
    import psycopg2

    n = overdue + current
    late = (as_of - dt.timedelta(days=1)).isoformat()
    later = (as_of + dt.timedelta(days=45)).isoformat()
    con = psycopg2.connect(host=HOST, user="postgres", dbname=db)
    cur = con.cursor()

    def columns(table: str, skip: set[str]) -> list[str]:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in cur.fetchall() if r[0] not in skip]

    cur.execute("CREATE TEMP TABLE k AS SELECT g AS k FROM generate_series(1, %s) g", (n - 1,))
    # parties, with their codes, and the dunning procedure of each
    cols = columns("party_party", {"id", "name", "code"})
    cur.execute(
        f"""CREATE TEMP TABLE pmap AS SELECT k, nextval('party_party_id_seq') AS id FROM k;
            INSERT INTO party_party (id, name, code, {", ".join(cols)})
            SELECT m.id, 'Customer ' || m.k, 'C' || m.k, {", ".join("p." + c for c in cols)}
            FROM pmap m, party_party p WHERE p.id = %s""",
        (party,),
    )
    cols = columns("party_party_dunning_procedure", {"id", "party"})
    cur.execute(
        f"""INSERT INTO party_party_dunning_procedure (party, {", ".join(cols)})
            SELECT m.id, {", ".join("d." + c for c in cols)}
            FROM pmap m, party_party_dunning_procedure d WHERE d.party = %s""",
        (party,),
    )
    # moves and their two lines: revenue, and the receivable line of the customer
    cols = columns("account_move", {"id", "number"})
    cur.execute(
        f"""CREATE TEMP TABLE mmap AS SELECT k, nextval('account_move_id_seq') AS id FROM k;
            INSERT INTO account_move (id, number, {", ".join(cols)})
            SELECT m.id, 'M' || m.k, {", ".join("v." + c for c in cols)}
            FROM mmap m, account_move v WHERE v.id = %s""",
        (move,),
    )
    cols = columns("account_move_line", {"id", "move", "party", "maturity_date"})
    cur.execute(
        f"""INSERT INTO account_move_line (move, party, maturity_date, {", ".join(cols)})
            SELECT mm.id, CASE WHEN l.party IS NULL THEN NULL ELSE pm.id END,
                   CASE WHEN l.maturity_date IS NULL THEN NULL
                        WHEN mm.k < %s THEN DATE %s ELSE DATE %s END,
                   {", ".join("l." + c for c in cols)}
            FROM mmap mm JOIN pmap pm ON pm.k = mm.k, account_move_line l
            WHERE l.move = %s""",
        (overdue, late, later, move),
    )
    con.commit()
    cur.execute("ANALYZE")
    con.commit()
    con.close()


def _pool(db: str):  # type: ignore[no-untyped-def]
    from trytond.config import config as tconfig

    tconfig.update_etc(str(write_config()))
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    Pool.start()
    pool = Pool(db)
    with Transaction().start(db, 0, readonly=True):
        pool.init()
    return pool, Transaction


def _company(pool, Transaction, db: str) -> int:  # type: ignore[no-untyped-def]
    with Transaction().start(db, 0, readonly=True):
        (company,) = pool.get("company.company").search([])
        return int(company.id)


def dun(db: str, day: dt.date) -> None:
    pool, Transaction = _pool(db)
    company = _company(pool, Transaction, db)
    with Transaction().start(db, 0, context={"company": company}) as tr:
        Dunning = pool.get("account.dunning")
        started = time.perf_counter()
        Dunning.generate_dunnings(day)
        tr.commit()
        seconds = time.perf_counter() - started
    with Transaction().start(db, 0, readonly=True, context={"company": company}):
        cursor = Transaction().connection.cursor()
        cursor.execute(
            "SELECT d.state, l.sequence, COUNT(*) FROM account_dunning d "
            "JOIN account_dunning_level l ON l.id = d.level GROUP BY 1, 2 ORDER BY 1, 2"
        )
        states = {f"{s}@{lv}": n for s, lv, n in cursor.fetchall()}
    print(json.dumps({"seconds": round(seconds, 3), "dunnings": states}))


def process(db: str) -> None:
    """The letters of the draft dunnings are sent: they wait for the next level."""
    pool, Transaction = _pool(db)
    company = _company(pool, Transaction, db)
    with Transaction().start(db, 0, context={"company": company}) as tr:
        Dunning = pool.get("account.dunning")
        Dunning.process(Dunning.search([("state", "=", "draft")]))
        tr.commit()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=("build", "dun", "process"))
    p.add_argument("--db", required=True)
    p.add_argument("--overdue", type=int, default=0)
    p.add_argument("--current", type=int, default=0)
    p.add_argument("--as-of", type=dt.date.fromisoformat)
    p.add_argument("--date", type=dt.date.fromisoformat)
    a = p.parse_args()
    if a.command == "build":
        build(a.db, a.overdue, a.current, a.as_of)
    elif a.command == "dun":
        dun(a.db, a.date)
    else:
        process(a.db)


if __name__ == "__main__":
    main()
