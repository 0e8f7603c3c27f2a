"""Read models of what the daily run decided: cases and actions of a business date."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, or_, select, true

from arrears.formats import plain_amount
from arrears.store import tables as t

STREAM_BATCH = 5_000  # rows fetched at a time: a report of any size in bounded memory


def _streamed(conn: Connection) -> Connection:
    """A server-side cursor on PostgreSQL (rows come a batch at a time, not all at once)."""
    return conn.execution_options(stream_results=True, yield_per=STREAM_BATCH)


PERSONAL = ("name", "phone", "id_number", "address")  # the borrower's, encrypted at rest


def _in_queues(case_id: Any, queues: Sequence[str] | None) -> Any:
    """Rows of cases in the queues (a team lead's team); every row when queues is None."""
    if queues is None:
        return true()
    return case_id.in_(select(t.cases.c.id).where(t.cases.c.queue.in_(queues)))


def cases_as_of(
    conn: Connection,
    as_of: date,
    *,
    personal: bool = False,
    queues: Sequence[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Cases open on as_of (opened on or before it, not closed before it), in id order, each
    with its borrower's accounts; streamed, with no list of ids sent back to the database.
    With `personal`, each row also holds the borrower's encrypted fields (`name_enc` …) for
    the caller to decrypt or mask; with `queues`, only the cases of those queues."""
    c, a, b = t.cases, t.accounts, t.borrowers
    blobs = [b.c[f"{f}_enc"] for f in PERSONAL] if personal else []
    joined = c.outerjoin(a, a.c.borrower_id == c.c.borrower_id)
    rows = _streamed(conn).execute(
        select(c, a.c.id.label("account_id"), *blobs)
        .select_from(joined.join(b, b.c.id == c.c.borrower_id) if personal else joined)
        .where(c.c.opened_on <= as_of, or_(c.c.closed_on.is_(None), c.c.closed_on >= as_of))
        .where(true() if queues is None else c.c.queue.in_(queues))
        .order_by(c.c.id, a.c.id)
    )
    current: dict[str, Any] | None = None
    for r in rows:
        if current is None or current["case_id"] != r.id:
            if current is not None:
                yield current
            current = {
                "case_id": r.id,
                "borrower_id": r.borrower_id,
                "account_ids": [],
                "dpd": r.dpd,
                "bucket": r.bucket,
                "overdue_amount": plain_amount(r.overdue_amount, r.currency),
                "currency": r.currency,
                "status": r.status,
                "opened_on": _iso(r.opened_on),
                "closed_on": _iso(r.closed_on) if r.closed_on else None,
                "variant": r.variant,
                "hardship": r.hardship,
            }
            if personal:
                current.update({f"{f}_enc": getattr(r, f"{f}_enc") for f in PERSONAL})
        if r.account_id is not None:
            current["account_ids"].append(r.account_id)
    if current is not None:
        yield current


def actions_as_of(
    conn: Connection, as_of: date, *, queues: Sequence[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Actions the run planned for as_of (of the queues' cases, when given), in id order;
    streamed."""
    a = t.actions
    rows = _streamed(conn).execute(
        select(a)
        .where(a.c.business_date == as_of, _in_queues(a.c.case_id, queues))
        .order_by(a.c.id)
    )
    for r in rows:
        yield {
            "action_id": r.id,
            "case_id": r.case_id,
            "step": r.step,
            "target_type": r.target_type,
            "target_id": r.target_id,
            "channel": r.channel,
            "template": r.template,
            "status": r.status,
            "rule_id": r.rule_id,
            "reason": r.reason,
            "scheduled_at": r.scheduled_at.isoformat() if r.scheduled_at else None,
        }


def interactions_between(
    conn: Connection, start: date, end: date, *, queues: Sequence[str] | None = None
) -> Iterator[Any]:
    """Interactions recorded from start to end (business dates, inclusive), of the queues' cases
    when given, in id order; streamed."""
    i = t.interactions
    return iter(
        _streamed(conn).execute(
            select(i).where(i.c.business_date >= start, i.c.business_date <= end).order_by(i.c.id)
        )
    )


def promises_between(
    conn: Connection, start: date, end: date, *, queues: Sequence[str] | None = None
) -> Iterator[Any]:
    """Promises made from start to end (inclusive), in id order; streamed."""
    p = t.promises
    return iter(
        _streamed(conn).execute(
            select(p)
            .where(p.c.made_on >= start, p.c.made_on <= end, _in_queues(p.c.case_id, queues))
            .order_by(p.c.id)
        )
    )


def plans_between(
    conn: Connection, start: date, end: date, *, queues: Sequence[str] | None = None
) -> Iterator[Any]:
    """Plans proposed from start to end (inclusive), in id order; streamed."""
    p = t.plans
    return iter(
        _streamed(conn).execute(
            select(p)
            .where(
                p.c.proposed_on >= start, p.c.proposed_on <= end, _in_queues(p.c.case_id, queues)
            )
            .order_by(p.c.id)
        )
    )


def _iso(day: Any) -> str:
    return day.isoformat() if hasattr(day, "isoformat") else str(day)
