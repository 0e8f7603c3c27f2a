"""Retention: personal data of borrowers whose last case closed longer ago than the rule pack's
retention period is anonymised. The figures analytics needs (amounts, dates, outcomes, DPD)
stay; names, numbers, e-mails, ID numbers, addresses, blind indexes and free-text notes go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, text, update

from arrears.compliance.rules.packs import get_pack
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t
from arrears.store.sql import Dialect, dated
from arrears.store.tables_legal import legal_cases, legal_documents


@dataclass(frozen=True)
class RetentionReport:
    as_of: date
    cutoff: date
    borrowers: int
    contacts: int


def cutoff_for(as_of: date, years: int) -> date:
    try:
        return as_of.replace(year=as_of.year - years)
    except ValueError:  # 29 February
        return as_of.replace(year=as_of.year - years, day=28)


def due_for_anonymising(conn: Connection, as_of: date, years: int) -> list[str]:
    sql = Dialect.of(conn)
    rows = conn.execute(
        dated(
            f"""SELECT b.id FROM borrowers b
                WHERE b.anonymised_on IS NULL
                  AND EXISTS (SELECT 1 FROM cases c WHERE c.borrower_id = b.id)
                  AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.borrower_id = b.id
                                  AND (c.status = 'open' OR c.closed_on IS NULL
                                       OR c.closed_on >= {sql.date_param("cutoff")}))
                  AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.borrower_id = b.id
                                  AND a.outstanding > 0)
                ORDER BY b.id""",
            "cutoff",
        ),
        {"cutoff": cutoff_for(as_of, years)},
    ).all()
    return [r[0] for r in rows]


def run_retention(
    conn: Connection,
    ring: KeyRing,
    *,
    as_of: date,
    rule_pack: str,
    by: str,
    at: datetime,
    on_step: Callable[[str, int], None] | None = None,
) -> RetentionReport:
    """Anonymise the borrowers (and their contacts) due; `on_step(what, rows)` hears of each
    statement as it is done (the command's progress)."""
    step = on_step or (lambda what, rows: None)
    years = get_pack(rule_pack).retention_years
    ids = due_for_anonymising(conn, as_of, years)
    contacts = 0
    if ids:
        blank_b = {c.name: None for c in t.borrowers.c if c.name.endswith(("_enc", "_index"))}
        blank_c = {c.name: None for c in t.contacts.c if c.name.endswith(("_enc", "_index"))}
        ids_param: Any = bindparam("ids", expanding=True)
        params = {"ids": ids}
        if "comm_inbound" in t.metadata.tables:
            conn.execute(
                text(
                    "DELETE FROM comm_inbound WHERE sender_index IN "
                    "(SELECT phone_index FROM borrowers WHERE id IN :ids UNION "
                    " SELECT phone_index FROM contacts WHERE borrower_id IN :ids)"
                ).bindparams(bindparam("ids", expanding=True)),
                params,
            )
        b, c, cs, i = t.borrowers, t.contacts, t.cases, t.interactions
        conn.execute(
            update(b).where(b.c.id.in_(ids_param)).values(**blank_b, anonymised_on=as_of), params
        )
        step("borrowers", len(ids))
        contacts = (
            conn.execute(
                update(c).where(c.c.borrower_id.in_(ids_param)).values(**blank_c), params
            ).rowcount
            or 0
        )
        step("contacts", contacts)
        case_ids = select(cs.c.id).where(cs.c.borrower_id.in_(ids_param))
        conn.execute(
            update(cs).where(cs.c.borrower_id.in_(ids_param)).values(hardship_note=None), params
        )
        conn.execute(update(i).where(i.c.case_id.in_(case_ids)).values(note=None), params)
        step("case and call notes", 0)
        # the legal team's letters name the borrower: their content goes, their hash stays
        lc, ld = legal_cases.c, legal_documents
        legal_ids = select(lc.id).where(lc.case_id.in_(case_ids))
        conn.execute(
            update(ld).where(ld.c.legal_case_id.in_(legal_ids)).values(content_enc=None), params
        )
        step("legal documents", 0)
    audit.append(
        conn,
        ring,
        actor=by,
        kind=audit.AuditKind.RETENTION,
        subject=f"retention:{as_of}",
        detail={"pack": rule_pack, "years": years, "borrowers": len(ids), "contacts": contacts},
        at=at,
    )
    return RetentionReport(as_of, cutoff_for(as_of, years), len(ids), contacts)
