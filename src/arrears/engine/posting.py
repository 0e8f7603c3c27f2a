"""Post the payments received up to the business date through each account's waterfall.

One set of statements for the whole portfolio. Each payment covers an interval of the account's
running total of payments, each owed component an interval of the running total owed in
waterfall order; a payment's share of a component is the overlap of the two intervals. What is
left after every item (due or not yet due) is paid becomes the account's credit balance.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from arrears.engine.delinquency import owed_changed
from arrears.engine.quarantine import QUARANTINED
from arrears.store.sql import Dialect, dated, planner

COMPONENTS = ("penalty", "fee", "interest", "principal")

# Rank of each component within one due item, per waterfall.
_RANK = """CASE a.waterfall
    WHEN 'interest_principal_penalty_fee' THEN
        CASE c.component WHEN 'interest' THEN 1 WHEN 'principal' THEN 2
                         WHEN 'penalty' THEN 3 ELSE 4 END
    ELSE
        CASE c.component WHEN 'penalty' THEN 1 WHEN 'fee' THEN 2
                         WHEN 'interest' THEN 3 ELSE 4 END
END"""


def _components_sql(sql: Dialect) -> str:
    """Each paying account's items, one row per component: one look-up of the account's items
    (a union of four look-ups per component read every item four times)."""
    names = " UNION ALL ".join(f"SELECT '{c}' AS component" for c in COMPONENTS)
    owed = " ".join(f"WHEN '{c}' THEN i.{c} - i.paid_{c}" for c in COMPONENTS)
    return f"""
        SELECT i.account_id, i.seq, i.due_on, n.component, CASE n.component {owed} END AS owed
        FROM due_items i CROSS JOIN ({names}) AS n
        WHERE {sql.among("i.account_id", "paying")}"""


def _allocation_sql(sql: Dialect) -> str:
    d = sql.date_param("d")
    overlap_end = sql.least("o.c_end", "p.p_end")
    overlap_start = sql.greatest("o.c_start", "p.p_start")
    credit_start = sql.greatest("t.total_owed", "p.p_start")
    return f"""
WITH pay AS (
    SELECT p.id, p.account_id, p.amount,
           SUM(p.amount) OVER w - p.amount AS p_start,
           SUM(p.amount) OVER w AS p_end
    FROM payments p
    WHERE p.posted_on IS NULL AND p.received_on <= {d}
      AND p.account_id NOT IN {QUARANTINED}
    WINDOW w AS (PARTITION BY p.account_id ORDER BY p.received_on, p.id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
paying AS (SELECT DISTINCT account_id AS id FROM pay),
comp AS ({_components_sql(sql)}),
ordered AS (
    SELECT c.account_id, c.seq, c.component, c.owed,
           SUM(c.owed) OVER w - c.owed AS c_start,
           SUM(c.owed) OVER w AS c_end
    FROM comp c JOIN accounts a ON a.id = c.account_id
    WHERE c.owed > 0
    WINDOW w AS (PARTITION BY c.account_id ORDER BY c.due_on, c.seq, {_RANK}
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
totals AS (
    SELECT paying.id AS account_id, COALESCE(SUM(o.owed), 0) AS total_owed
    FROM paying LEFT JOIN ordered o ON o.account_id = paying.id
    GROUP BY paying.id
)
INSERT INTO allocations (payment_id, seq, component, account_id, amount)
SELECT p.id, o.seq, o.component, p.account_id, {overlap_end} - {overlap_start}
FROM pay p JOIN ordered o ON o.account_id = p.account_id
WHERE o.c_start < p.p_end AND o.c_end > p.p_start
UNION ALL
SELECT p.id, 0, 'credit', p.account_id, p.p_end - {credit_start}
FROM pay p JOIN totals t ON t.account_id = p.account_id
WHERE p.p_end > t.total_owed
"""


def _apply_sql(sql: Dialect) -> str:
    d = sql.date_param("d")
    sums = ",\n".join(
        f"SUM(CASE WHEN al.component = '{c}' THEN al.amount ELSE 0 END) AS {c}" for c in COMPONENTS
    )
    sets = ", ".join(f"paid_{c} = paid_{c} + agg.{c}" for c in COMPONENTS)
    return f"""
UPDATE due_items SET {sets}
FROM (
    SELECT al.account_id, al.seq, {sums}
    FROM allocations al JOIN payments p ON p.id = al.payment_id
    WHERE p.posted_on IS NULL AND p.received_on <= {d} AND al.seq > 0
    GROUP BY al.account_id, al.seq
) AS agg
WHERE due_items.account_id = agg.account_id AND due_items.seq = agg.seq
"""


def _paid_sql(sql: Dialect) -> str:
    """Per account, what tonight's allocations pay of its items (less owed: negative)."""
    d = sql.date_param("d")
    return f"""
SELECT al.account_id, -SUM(al.amount)
FROM allocations al JOIN payments p ON p.id = al.payment_id
WHERE p.posted_on IS NULL AND p.received_on <= {d} AND al.seq > 0
GROUP BY al.account_id
"""


def _credit_sql(sql: Dialect) -> str:
    d = sql.date_param("d")
    return f"""
UPDATE accounts SET credit_balance = credit_balance + agg.amount
FROM (
    SELECT al.account_id, SUM(al.amount) AS amount
    FROM allocations al JOIN payments p ON p.id = al.payment_id
    WHERE p.posted_on IS NULL AND p.received_on <= {d} AND al.component = 'credit'
    GROUP BY al.account_id
) AS agg
WHERE accounts.id = agg.account_id
"""


def post_payments(conn: Connection, as_of: date, *, assessment_follows: bool = False) -> int:
    """Allocate and post every unposted payment received on or before as_of; returns how many.
    `assessment_follows`: what the allocations pay of each account's items is kept for the
    run's assessment (`delinquency.open_assessment`)."""
    sql = Dialect.of(conn)
    with planner(conn, jit="off"):
        conn.execute(dated(_allocation_sql(sql), "d"), {"d": as_of})
    if assessment_follows:
        owed_changed(conn, _paid_sql(sql), {"d": as_of})
    conn.execute(dated(_apply_sql(sql), "d"), {"d": as_of})
    conn.execute(dated(_credit_sql(sql), "d"), {"d": as_of})
    d = sql.date_param("d")
    posted = conn.execute(
        dated(
            f"UPDATE payments SET posted_on = {d} WHERE posted_on IS NULL AND received_on <= {d}"
            f" AND account_id NOT IN {QUARANTINED}",
            "d",
        ),
        {"d": as_of},
    )
    return posted.rowcount or 0
