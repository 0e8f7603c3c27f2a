"""DPD, bucket, overdue and outstanding amounts of the accounts whose state can change today.

DPD as of D counts days from the due date of the oldest item due before D at which the running
overdue, oldest first, passes the tolerance (as `arrears.domain.delinquency.assess` does); it is
0 while the total overdue is within the tolerance of the account's currency (`RunConfig.tolerance`,
by default one major unit: 1.00 CNY, 1 JPY). An account whose borrower keeps an active repayment
plan is re-aged: its DPD is that of the plan's oldest unpaid instalment.

The day's work follows what changed. An account is assessed when it has an unpaid item already
due, a payment posted today, a borrower under an active plan, was in arrears or past due at its
last assessment, or is queued to be assessed again. Any other account has nothing due unpaid and
nothing posted, so its figures are those of its last assessment or, never assessed, those its
items brought as they were inserted (DPD 0, nothing overdue, their outstanding: see
store/unassessed.py). Each of those sets is an index look-up, and only the rows whose figures
change are written (`state_as_of` is the date they last changed). Writers outside the daily run
that change an account's stored due items set its `state_as_of` to NULL (`reassess`) to have it
assessed again.

In the daily run (`open_assessment`), an account not queued is assessed from its overdue items
alone: what it owes is its stored outstanding (kept by every writer of its items, as above)
plus the night's changes, which posting and the penalty keep as they write. A queued account is
assessed from all its items.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, text, update

from arrears.engine.config import RunConfig
from arrears.engine.quarantine import (
    ITEMS_OVER,
    QUARANTINED,
    TOTAL_LIMIT,
    WHOLE_BOOK_WORK_MEM,
    count_accounts,
    item_total,
    set_aside,
)
from arrears.store import tables as t
from arrears.store.sql import Dialect, analyze_temporary, dated, planner, staged


def reassess(conn: Connection, account_ids: Iterable[str]) -> None:
    """Have the next daily run assess these accounts: their due items changed outside it."""
    ids = sorted(set(account_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        conn.execute(update(t.accounts).where(t.accounts.c.id.in_(chunk)).values(state_as_of=None))


_OWED = (
    "(i.principal + i.interest + i.fee + i.penalty"
    " - i.paid_principal - i.paid_interest - i.paid_fee - i.paid_penalty)"
)


def principal_overdue(alias: str, d: str) -> str:
    """The item is due before d with principal unpaid: it accrues penalty interest."""
    return f"{alias}.due_on < {d} AND {alias}.principal > {alias}.paid_principal"


def marker_before(alias: str, d: str) -> str:
    """The account's penalty marker is behind d (or was never set)."""
    marker = f"{alias}.penalty_accrued_through"
    return f"({marker} IS NULL OR {marker} < {d})"


def overdue_unpaid(alias: str, d: str) -> str:
    """The item is due before d with some part unpaid (its indexed `open_due_on`)."""
    return f"{alias}.open_due_on < {d}"


@dataclass(frozen=True)
class Assessment:
    assessed: int  # accounts whose figures were computed
    changed: int  # of those, accounts whose figures changed (rows written)


_CANDIDATES = "assess_candidates"


def _overdue_sql(sql: Dialect) -> str:
    """Ids of the accounts with an item overdue as of :d (from the index alone)."""
    overdue = overdue_unpaid("i", sql.date_param("d"))
    return f"SELECT DISTINCT i.account_id FROM due_items i WHERE {overdue}"


def _candidates_sql(sql: Dialect) -> str:
    """Ids of the accounts to assess as of :d besides those with an item overdue: a union of
    index look-ups."""
    d = sql.date_param("d")
    return f"""
        SELECT p.account_id FROM payments p WHERE p.posted_on = {d}
        UNION
        SELECT a.id FROM accounts a WHERE a.behind
        UNION
        SELECT u.account_id FROM unassessed_accounts u
        UNION
        SELECT a.id FROM plans pl JOIN cases c ON c.id = pl.case_id
        JOIN accounts a ON a.borrower_id = c.borrower_id
        WHERE pl.status = 'active'
    """


_PLAN_DPD = "tmp_plan_dpd"  # `staged` of the plans' DPD: borrower_id, dpd
_STORED = "assess_stored"  # candidates assessed from their overdue items and stored outstanding
_OWED_CHANGES = "night_owed_changes"


def open_assessment(conn: Connection, as_of: date) -> None:
    """Ready tonight's assessment before the ledger steps write the items.

    The accounts with an item overdue are noted now: the index alone answers while the items'
    pages are all visible (after the penalty's writes the same read visits the page of every
    item: 11 s at ten million accounts). And what posting and the penalty change of each
    account's owed is kept (`owed_changed`): an account not queued then takes its outstanding
    from its stored one and these changes, its other figures from its overdue items alone,
    instead of reading all its items (every writer of items keeps the stored outstanding, or
    queues the account to be assessed from them: store/unassessed.py)."""
    sql = Dialect.of(conn)
    on_commit = "" if sql.sqlite else " ON COMMIT DROP"
    conn.execute(
        text(f"CREATE TEMPORARY TABLE {_CANDIDATES} (id VARCHAR(64) PRIMARY KEY){on_commit}")
    )
    conn.execute(
        text(
            f"CREATE TEMPORARY TABLE {_OWED_CHANGES}"
            f" (account_id VARCHAR(64) NOT NULL, amount BIGINT NOT NULL){on_commit}"
        )
    )
    with planner(conn, jit="off", enable_seqscan="off"):
        statement = f"INSERT INTO {_CANDIDATES} (id) {_overdue_sql(sql)}"
        conn.execute(dated(statement, "d"), {"d": as_of})


def owed_changed(conn: Connection, changes: str, params: dict[str, object]) -> None:
    """Keep for tonight's assessment what a ledger step changed of accounts' owed: `changes`
    selects (account_id, amount), amount added to what the account owes; `params` its dates."""
    statement = f"INSERT INTO {_OWED_CHANGES} (account_id, amount) {changes}"
    conn.execute(dated(statement, *params), params)


# When the accounts queued to be assessed again are at least this share of the portfolio (a
# re-import of the whole book), the run assesses every account in one scan instead of looking
# each one up.
ASSESS_ALL_SHARE = 0.2


def assess_accounts(
    conn: Connection, as_of: date, config: RunConfig, *, opened: bool = False
) -> Assessment:
    """Assess the accounts whose state can change today; write only the changed rows.
    `opened`: `open_assessment` ran before the ledger steps, which kept their changes."""
    sql = Dialect.of(conn)
    if not opened:
        open_assessment(conn, as_of)
    unassessed = conn.execute(text("SELECT COUNT(*) FROM unassessed_accounts")).scalar_one()
    if unassessed >= ASSESS_ALL_SHARE * count_accounts(conn):
        # every item summed: PostgreSQL sorts them, in memory as far as it can
        with planner(conn, jit="off", work_mem=WHOLE_BOOK_WORK_MEM):
            changed = _update_assessed(conn, sql, as_of, config, candidates=False)
        assessed = conn.execute(text("SELECT COUNT(*) FROM accounts")).scalar_one()
        conn.execute(text(f"DROP TABLE {_CANDIDATES}"))
    else:
        assessed, changed = _assess_candidates(conn, sql, as_of, config, stored=opened)
    conn.execute(text(f"DROP TABLE {_OWED_CHANGES}"))
    dequeue_assessed(conn)
    _reage_charged_off(conn, sql, as_of, config)
    _record_history(conn, sql, as_of)
    return Assessment(assessed=assessed, changed=changed)


def _record_history(conn: Connection, sql: Dialect, as_of: date) -> None:
    """The day's row of every account past due. A day run again keeps its first rows; a first
    run of the day has none to skip, and writes without checking each row for a conflict."""
    d = sql.date_param("d")
    again = conn.execute(
        dated(f"SELECT 1 FROM delinquency_history WHERE as_of = {d} LIMIT 1", "d"), {"d": as_of}
    ).first()
    conn.execute(
        dated(
            f"""INSERT INTO delinquency_history (account_id, as_of, dpd, bucket, overdue_amount)
                SELECT id, {d}, dpd, bucket, overdue_amount FROM accounts WHERE behind AND dpd > 0
                {"ON CONFLICT DO NOTHING" if again else ""}""",
            "d",
        ),
        {"d": as_of},
    )


def dequeue_assessed(conn: Connection) -> None:
    """Out of the queue of accounts to assess (store/unassessed.py): those now assessed, and any
    id whose account is gone. A quarantined or charged-off account keeps its place."""
    conn.execute(
        text(
            """DELETE FROM unassessed_accounts WHERE NOT EXISTS (
                   SELECT 1 FROM accounts a
                   WHERE a.id = unassessed_accounts.account_id AND a.state_as_of IS NULL)"""
        )
    )


def _assess_candidates(
    conn: Connection, sql: Dialect, as_of: date, config: RunConfig, *, stored: bool
) -> tuple[int, int]:
    # every branch has its index; statistics of yesterday's accounts would say "scan"
    with planner(conn, jit="off", enable_seqscan="off"):
        conn.execute(
            dated(
                f"""INSERT INTO {_CANDIDATES} (id) SELECT x.account_id
                    FROM ({_candidates_sql(sql)}) AS x WHERE true ON CONFLICT DO NOTHING""",
                "d",
            ),
            {"d": as_of},
        )
    conn.execute(text(f"DELETE FROM {_CANDIDATES} WHERE id IN {QUARANTINED}"))
    assessed = conn.execute(text(f"SELECT COUNT(*) FROM {_CANDIDATES}")).scalar_one()
    if stored:
        _split_stored(conn)
    if sql.sqlite:
        changed = _update_assessed(conn, sql, as_of, config, candidates=True, stored=stored)
    else:
        analyze_temporary(conn, _CANDIDATES)
        # A few accounts (a steady day): their items by index, not a scan of every item.
        few = assessed * 5 < count_accounts(conn)
        joins = {"enable_hashjoin": "off", "enable_mergejoin": "off"} if few else {}
        with planner(conn, jit="off", **joins):
            changed = _update_assessed(conn, sql, as_of, config, candidates=True, stored=stored)
    conn.execute(text(f"DROP TABLE {_CANDIDATES}"))
    if stored:
        conn.execute(text(f"DROP TABLE {_STORED}"))
    return assessed, changed


def _split_stored(conn: Connection) -> None:
    """Move to `_STORED` the candidates whose stored outstanding is right but for tonight's
    changes: all but those queued to be assessed again (their items changed outside the run's
    writers), which stay to be assessed from all their items."""
    conn.execute(
        text(
            f"""CREATE TEMPORARY TABLE {_STORED} AS SELECT c.id FROM {_CANDIDATES} c
                WHERE c.id NOT IN (SELECT u.account_id FROM unassessed_accounts u)"""
        )
    )
    conn.execute(text(f"DELETE FROM {_CANDIDATES} WHERE id IN (SELECT id FROM {_STORED})"))
    analyze_temporary(conn, _STORED)


def _plan_dpd_sql(sql: Dialect) -> str:
    """Per borrower under an active plan: the DPD of the plan's oldest unpaid instalment."""
    d = sql.date_param("d")
    oldest = f"MIN(CASE WHEN pi.status <> 'paid' AND pi.due_on < {d} THEN pi.due_on END)"
    return f"""
        SELECT c.borrower_id, COALESCE({sql.days_between(d, oldest)}, 0) AS dpd
        FROM plans pl
        JOIN cases c ON c.id = pl.case_id
        JOIN plan_instalments pi ON pi.plan_id = pl.id
        WHERE pl.status = 'active'
        GROUP BY c.borrower_id
    """


def _by_tolerance(config: RunConfig, currency: str, by_minor: dict[int, str]) -> str:
    """A CASE on a currency expression: of `by_minor` (an expression for each of the config's
    `tolerance_values()`), the one for the currency's tolerance; a currency without one has 0."""
    codes: dict[int, list[str]] = {}
    for code, minor in sorted(config.tolerance.items()):
        codes.setdefault(minor, []).append(f"'{code}'")
    whens = " ".join(
        f"WHEN {currency} IN ({', '.join(listed)}) THEN {by_minor[minor]}"
        for minor, listed in sorted(codes.items())
    )
    return f"CASE {whens} ELSE {by_minor[0]} END"


def _update_assessed(
    conn: Connection,
    sql: Dialect,
    as_of: date,
    config: RunConfig,
    *,
    candidates: bool,
    stored: bool = False,
) -> int:
    """Assess every account, or the candidates; with `stored`, the candidates of `_STORED` too,
    each from its overdue items and its stored outstanding (`_split_stored`)."""
    d = sql.date_param("d")
    # an item beyond what the run sums exactly counts 0 here: no integer sum overflows before
    # its account is set aside by its total (`gross`)
    owed = f"CASE WHEN {item_total(sql, 'i')} > {TOTAL_LIMIT} THEN 0 ELSE {_OWED} END"
    overdue_part = f"CASE WHEN i.due_on < {d} THEN {owed} ELSE 0 END"
    behind = f"CASE WHEN {principal_overdue('i', d)} THEN 1 ELSE 0 END"
    tolerances = config.tolerance_values()
    if not candidates:
        agg = _scan_all_sql(owed, overdue_part, behind, item_total(sql, "i"), tolerances)
    elif sql.sqlite:  # the candidates drive the join: CROSS JOIN keeps SQLite from scanning
        items = f"{_CANDIDATES} cand CROSS JOIN due_items i WHERE i.account_id = cand.id"
        agg = _agg_sql(sql, items, owed, overdue_part, behind, tolerances)
    else:
        items = f"due_items i WHERE {sql.among('i.account_id', _CANDIDATES)}"
        agg = _agg_sql(sql, items, owed, overdue_part, behind, tolerances)
    state = _state_sql(sql, config, f"({agg}) AS agg JOIN accounts a ON a.id = agg.account_id")
    if stored:
        state += " UNION ALL " + _stored_state_sql(sql, config, owed, overdue_part, behind)
    # The plans' DPD by borrower first, indexed: each account finds its own by key, where a
    # subquery in the statement was run again for every account when few were estimated.
    # The figures gathered first (PostgreSQL may run the statement in parallel, an UPDATE never
    # is), the accounts whose items total more than the run sums exactly set aside (the check
    # made in this read: the accounts behind are not read again for it), the rest written.
    with staged(conn, "plan_dpd", _plan_dpd_sql(sql), {"d": as_of}, "d") as plan_dpd:
        conn.execute(text(f"CREATE INDEX ix_{plan_dpd} ON {plan_dpd} (borrower_id)"))
        with staged(conn, "assessed", state, {"d": as_of}, "d") as figures:
            over = f"SELECT n.id AS account_id, '{ITEMS_OVER}' AS reason FROM {figures} AS n"
            set_aside(conn, as_of, f"{over} WHERE n.gross > {TOTAL_LIMIT}")
            return _write_assessed(conn, sql, as_of, config, figures)


def _stored_state_sql(
    sql: Dialect, config: RunConfig, owed: str, overdue_part: str, behind: str
) -> str:
    """The new figures of the accounts in `_STORED`: from the night's overdue items and the
    stored outstanding with the night's changes of it. Put together by one grouping, not
    joined: with the nested loops a few accounts' look-ups want, a join of the figures to the
    accounts compared every row with every other."""
    tolerances = config.tolerance_values()
    overdue_items = f"due_items i WHERE {overdue_unpaid('i', sql.date_param('d'))}"
    agg = _agg_sql(sql, overdue_items, owed, overdue_part, behind, tolerances)
    columns = ["overdue", "principal_behind", "gross"]
    columns += [f"oldest_due_{n}" for n in range(len(tolerances))]
    nulls = ", ".join(f"NULL AS {c}" for c in columns)
    parts = f"""
        SELECT s.id AS account_id, 1 AS stored, 0 AS change, {nulls} FROM {_STORED} s
        UNION ALL
        SELECT agg.account_id, 0, 0, {", ".join(f"agg.{c}" for c in columns)} FROM ({agg}) AS agg
        UNION ALL
        SELECT ch.account_id, 0, ch.amount, {nulls} FROM {_OWED_CHANGES} ch
    """
    grouped = f"""
        SELECT p.account_id, SUM(p.change) AS change,
               {", ".join(f"MAX(p.{c}) AS {c}" for c in columns)}
        FROM ({parts}) AS p GROUP BY p.account_id HAVING MAX(p.stored) = 1
    """
    source = f"({grouped}) AS agg JOIN accounts a ON a.id = agg.account_id"
    return _state_sql(sql, config, source, "a.outstanding + agg.change")


def _agg_sql(
    sql: Dialect, items: str, owed: str, overdue_part: str, behind: str, tolerances: list[int]
) -> str:
    """Per account of `items`: overdue, outstanding, principal behind, gross total, and the
    oldest due date past each tolerance.

    DPD counts from the oldest item at which the running overdue, oldest first, passes the
    tolerance: a small residue on an old item does not age a later miss. The tolerance is the
    account's currency's; the items do not carry it, so the group-by finds the oldest due date
    past each tolerance there is (a handful: 0, 1, 100, 1000), and the account's currency picks
    one (`_state_sql`). An overdue part above 0 is due before d."""
    running = f"""
        SELECT i.account_id, i.due_on, {owed} AS owed, {overdue_part} AS overdue_part,
               {behind} AS principal_behind, {item_total(sql, "i")} AS gross,
               SUM({overdue_part}) OVER (PARTITION BY i.account_id ORDER BY i.due_on, i.seq
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                   AS running
        FROM {items}
    """
    past = ", ".join(
        f"MIN(CASE WHEN r.overdue_part > 0 AND r.running > {minor} THEN r.due_on END)"
        f" AS oldest_due_{n}"
        for n, minor in enumerate(tolerances)
    )
    return f"""
        SELECT r.account_id, SUM(r.overdue_part) AS overdue, SUM(r.owed) AS outstanding,
               MAX(r.principal_behind) AS principal_behind, SUM(r.gross) AS gross, {past}
        FROM ({running}) AS r GROUP BY r.account_id
    """


def _state_sql(
    sql: Dialect, config: RunConfig, source: str, outstanding: str = "agg.outstanding"
) -> str:
    """The new figures (id, dpd, overdue, outstanding, principal_behind, gross, status) of the
    accounts `a` of `source`, from their `agg` (`_agg_sql`; absent: nothing overdue)."""
    d = sql.date_param("d")
    tolerances = config.tolerance_values()
    oldest_due = _by_tolerance(
        config, "a.currency", {minor: f"agg.oldest_due_{n}" for n, minor in enumerate(tolerances)}
    )
    raw_dpd = f"COALESCE({sql.days_between(d, oldest_due)}, 0)"
    # re-aged under an active plan: a past-due account takes the plan's DPD
    new_dpd = (
        f"CASE WHEN {raw_dpd} > 0 AND pd.borrower_id IS NOT NULL THEN pd.dpd ELSE {raw_dpd} END"
    )
    return f"""
        SELECT a.id, {new_dpd} AS dpd, COALESCE(agg.overdue, 0) AS overdue,
               {outstanding} AS outstanding,
               COALESCE(agg.principal_behind, 0) AS principal_behind,
               COALESCE(agg.gross, 0) AS gross,
               CASE WHEN {outstanding} <= 0 THEN 'paid_off' ELSE 'active' END AS status
        FROM {source}
        LEFT JOIN {_PLAN_DPD} AS pd ON pd.borrower_id = a.borrower_id
        WHERE a.status NOT IN ('charged_off', 'sold')
    """


def _write_assessed(
    conn: Connection, sql: Dialect, as_of: date, config: RunConfig, figures: str
) -> int:
    """Write the figures (a table: id, dpd, overdue, outstanding, principal_behind, gross,
    status) of the accounts whose figures or penalty marker changed, but not of those whose
    items total more than `TOTAL_LIMIT` (set aside); returns those whose figures changed."""
    d = sql.date_param("d")
    differs = sql.any_distinct(
        [
            ("accounts.dpd", "n.dpd"),
            ("accounts.overdue_amount", "n.overdue"),
            ("accounts.outstanding", "n.outstanding"),
            ("accounts.status", "n.status"),
            ("accounts.bucket", config.bucket_case("n.dpd")),
        ]
    )
    # the penalty step accrued through d: its marker advances in this one write of the row
    # (a second write of a row written earlier in the night pays its key check again)
    marker_behind = f"(n.principal_behind = 1 AND {marker_before('accounts', d)})"
    refigured = f"(accounts.state_as_of IS NULL OR {differs})"
    return sum(
        conn.execute(
            dated(
                f"""UPDATE accounts SET
                        dpd = n.dpd,
                        bucket = {config.bucket_case("n.dpd")},
                        overdue_amount = n.overdue,
                        outstanding = n.outstanding,
                        status = n.status,
                        state_as_of = CASE WHEN {refigured} THEN {d}
                            ELSE accounts.state_as_of END,
                        penalty_accrued_through = CASE WHEN {marker_behind}
                            THEN {d} ELSE accounts.penalty_accrued_through END
                    FROM {figures} AS n
                    WHERE accounts.id = n.id AND n.gross <= {TOTAL_LIMIT}
                      AND ({refigured} OR {marker_behind})
                    RETURNING CASE WHEN accounts.state_as_of = {d} THEN 1 ELSE 0 END""",
                "d",
            ),
            {"d": as_of},
        ).scalars()
    )  # the accounts whose figures changed (a row whose marker alone moved is not one)


def _scan_all_sql(
    owed: str, overdue_part: str, behind: str, gross: str, tolerances: list[int]
) -> str:
    """`agg` of every account in one scan of the items: the running sum only where needed.

    With no overdue part below 0, the running overdue (oldest first) passes a tolerance at the
    oldest unpaid item when that item alone is above it, and nowhere when the whole overdue is
    within it. Only the other accounts (an old residue within the tolerance, then a younger
    miss) need the running sum, over their own items. The scan is a common table: one pass."""
    big = "".join(
        f", MIN(CASE WHEN {overdue_part} > {minor} THEN i.due_on END) AS big_{n}"
        for n, minor in enumerate(tolerances)
    )
    scan = f"""
        SELECT i.account_id, SUM({overdue_part}) AS overdue, SUM({owed}) AS outstanding,
               MIN(CASE WHEN {overdue_part} > 0 THEN i.due_on END) AS oldest,
               MAX({behind}) AS principal_behind, SUM({gross}) AS gross,
               MIN({overdue_part}) AS lowest{big}
        FROM due_items i WHERE i.account_id NOT IN {QUARANTINED}
        GROUP BY i.account_id
    """

    def plain(n: int, minor: int) -> str:  # the oldest unpaid item decides, or nothing passes
        return (
            f"(s.overdue <= {minor} OR (s.lowest >= 0 AND COALESCE(s.big_{n} = s.oldest, 1 = 0)))"
        )

    tangled = " OR ".join(f"NOT {plain(n, m)}" for n, m in enumerate(tolerances))
    running = f"""
        SELECT i.account_id, i.due_on, {overdue_part} AS overdue_part,
               SUM({overdue_part}) OVER (PARTITION BY i.account_id ORDER BY i.due_on, i.seq
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                   AS running
        FROM due_items i
        WHERE i.account_id IN (SELECT s.account_id FROM scan s WHERE {tangled})
    """
    passed = ", ".join(
        f"MIN(CASE WHEN r.overdue_part > 0 AND r.running > {minor} THEN r.due_on END) AS due_{n}"
        for n, minor in enumerate(tolerances)
    )
    oldest = ", ".join(
        f"CASE WHEN s.overdue <= {m} THEN NULL WHEN {plain(n, m)} THEN s.oldest "
        f"ELSE w.due_{n} END AS oldest_due_{n}"
        for n, m in enumerate(tolerances)
    )
    return f"""
        WITH scan AS ({scan})
        SELECT s.account_id, s.overdue, s.outstanding, s.principal_behind, s.gross, {oldest}
        FROM scan s
        LEFT JOIN (SELECT r.account_id, {passed} FROM ({running}) r GROUP BY r.account_id) w
          ON w.account_id = s.account_id
    """


def _reage_charged_off(conn: Connection, sql: Dialect, as_of: date, config: RunConfig) -> None:
    """A charged-off account keeps its figures, but still follows its borrower's plan's DPD."""
    conn.execute(
        dated(
            f"""UPDATE accounts SET dpd = pd.dpd, bucket = {config.bucket_case("pd.dpd")}
                FROM ({_plan_dpd_sql(sql)}) AS pd
                WHERE accounts.borrower_id = pd.borrower_id
                  AND accounts.behind AND accounts.dpd > 0
                  AND accounts.status = 'charged_off'
                  AND {sql.distinct("accounts.dpd", "pd.dpd")}""",
            "d",
        ),
        {"d": as_of},
    )
