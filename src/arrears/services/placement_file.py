"""The placement file an agency receives: one row per case placed with it, as CSV (UTF-8) and
XLSX, with the same view the agency API gives (docs/agencies.md). Writing it is an audited
export; the files are readable by their owner only (mode 0600)."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import Connection

from arrears.compliance.loading import pack_choice
from arrears.formats import plain_amount
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services.agencies import Placement, place
from arrears.services.agency_portal import CaseView, view

COLUMNS = (
    "case_id",
    "placed_on",
    "dpd_at_placement",
    "dpd",
    "currency",
    "overdue_amount",
    "outstanding",
    "accounts",
    "name",
    "phone",
    "identity_shared",
    "language",
    "timezone",
)


def row_of(v: CaseView) -> list[str]:
    return [
        str(v.case_id),
        v.placed_on.isoformat(),
        str(v.dpd_at_placement),
        str(v.dpd),
        v.currency,
        plain_amount(v.overdue, v.currency),
        plain_amount(v.outstanding, v.currency),
        " ".join(v.accounts),
        v.name,
        v.phone,
        "yes" if v.identity_shared else "no",
        v.language,
        v.timezone,
    ]


def _private(path: Path) -> Path:
    os.chmod(path, 0o600)
    return path


def write_csv(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        out.writerows(rows)
    return _private(path)


def write_xlsx(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "placements"
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return _private(path)


def write_files(
    conn: Connection,
    ring: KeyRing,
    agency_id: str,
    placed: Sequence[Placement],
    out_dir: Path,
    as_of: date,
    *,
    by: str,
    at: datetime,
) -> tuple[Path, Path]:
    """`<out_dir>/<agency>-<as_of>.csv` and `.xlsx` for the placements given; audited."""
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    choice = pack_choice(conn)
    rows = [row_of(view(conn, ring, p, choice)) for p in placed]
    stem = out_dir / f"{agency_id}-{as_of.isoformat()}"
    paths = (write_csv(stem.with_suffix(".csv"), rows), write_xlsx(stem.with_suffix(".xlsx"), rows))
    audit.append(
        conn,
        ring,
        actor=by,
        kind=audit.AuditKind.EXPORT,
        subject=f"agency:{agency_id}",
        detail={"rows": len(rows), "what": "placement file", "on": as_of.isoformat()},
        at=at,
    )
    return paths


def place_and_file(
    conn: Connection, ring: KeyRing, as_of: date, out_dir: Path, *, by: str, at: datetime
) -> dict[str, tuple[int, tuple[Path, Path]]]:
    """The nightly step: place the cases the rules match, and write each agency that received
    cases its file of the day's new placements. agency -> (cases placed, (csv, xlsx))."""
    by_agency: dict[str, list[Placement]] = {}
    for p in place(conn, as_of, by=by, at=at, ring=ring):
        by_agency.setdefault(p.agency_id, []).append(p)
    return {
        agency: (len(ps), write_files(conn, ring, agency, ps, out_dir, as_of, by=by, at=at))
        for agency, ps in sorted(by_agency.items())
    }
