"""The cases export (`arrears export cases`): CSV and XLSX of N open cases, each with four
encrypted personal fields decrypted and masked, against a floor in the same run on the same
data — the same rows selected and written by `csv.writer` as they are stored (no decryption,
no masking, no neutralising). Peak memory is the process's high-water mark before and after.

    .venv/bin/python bench/exports.py [--cases 20000] [--database sqlite:///… | postgresql://…]

Ends with one line `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, text

from arrears.privacy.keyring import KeyRing
from arrears.services import exports as ex
from arrears.store import migrate
from arrears.store import tables as t
from arrears.store.db import make_engine

AS_OF = date(2026, 3, 1)
AT = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
FLOOR = """SELECT c.id, c.borrower_id, b.name_enc, b.phone_enc, b.id_number_enc, b.address_enc,
                  a.id, c.status, c.dpd, c.bucket, c.overdue_amount, c.currency, c.opened_on,
                  c.closed_on, c.variant, c.hardship
           FROM cases c JOIN borrowers b ON b.id = c.borrower_id
           LEFT JOIN accounts a ON a.borrower_id = c.borrower_id
           WHERE c.opened_on <= :d AND (c.closed_on IS NULL OR c.closed_on >= :d)
           ORDER BY c.id, a.id"""


def high_water_mb() -> float:
    status = Path("/proc/self/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+)", status)
    return int(found.group(1)) / 1024 if found else 0.0


def build(engine: Engine, ring: KeyRing, n: int) -> None:
    name, phone, idn, addr = (
        ring.encrypt(v) for v in ("王芳", "13812345678", "110101199003071234", "北京市朝阳区88号")
    )
    ids = [f"B{i:07d}" for i in range(n)]
    with engine.begin() as conn:
        conn.execute(
            insert(t.borrowers),
            [
                {"id": b, "name_enc": name, "phone_enc": phone, "id_number_enc": idn,
                 "address_enc": addr}
                for b in ids
            ],
        )  # fmt: skip
        conn.execute(
            insert(t.accounts),
            [
                {"id": f"A{b[1:]}", "borrower_id": b, "product": "instalment_loan",
                 "currency": "CNY", "opened_on": date(2025, 1, 1)}
                for b in ids
            ],
        )  # fmt: skip
        conn.execute(
            insert(t.cases),
            [
                {"borrower_id": b, "opened_on": date(2026, 2, 1), "currency": "CNY", "dpd": 28,
                 "overdue_amount": 12345}
                for b in ids
            ],
        )  # fmt: skip


def floor(engine: Engine, out: io.BufferedWriter) -> int:
    text_out = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(text_out)
    count = 0
    with engine.connect() as conn:
        streamed = conn.execution_options(stream_results=True, yield_per=5000)
        for row in streamed.execute(text(FLOOR), {"d": AS_OF}):
            writer.writerow(row)
            count += 1
    text_out.flush()
    text_out.detach()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    timings: dict[str, float] = {}
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
            before = high_water_mb()  # the data built; what follows only reads it
            started = time.perf_counter()
            with (Path(tmp) / "floor.csv").open("wb") as out:
                floor_rows = floor(engine, out)
            timings["floor"] = time.perf_counter() - started
            rows = {}
            for fmt in ("csv", "xlsx"):
                started = time.perf_counter()
                with (Path(tmp) / f"cases.{fmt}").open("wb") as out:
                    done = ex.run_export(
                        engine, ring, kind="cases", fmt=fmt, as_of=AS_OF, actor="bench",
                        role="manager", out=out, at=AT,
                    )  # fmt: skip
                timings[fmt] = time.perf_counter() - started
                rows[fmt] = done.rows
            after = high_water_mb()
        finally:
            engine.dispose()
            if schema is not None:
                with make_engine(url).begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    assert rows["csv"] == rows["xlsx"] == floor_rows == args.cases, (rows, floor_rows)
    print(
        f"RESULT db={url.split(':')[0]} cases={args.cases} floor_csv_s={timings['floor']:.2f} "
        f"export_csv_s={timings['csv']:.2f} export_xlsx_s={timings['xlsx']:.2f} "
        f"csv_ratio={timings['csv'] / timings['floor']:.1f} "
        f"xlsx_ratio={timings['xlsx'] / timings['floor']:.1f} "
        f"peak_mb_before={before:.0f} peak_mb_after={after:.0f}"
    )


if __name__ == "__main__":
    main()
