"""The night's candidates sorted into kinds in SQL, so that the gate decides each kind once and
never walks the actions one by one (`compliance/batch.py`).

Two candidates are of one kind when they agree on everything a rule reads: the action's own
columns (channel, audience, template, step; a contact's id, which messages name), the
borrower's time zone and reachability, the pack, and their counters' values — the borrower's
(connected calls today, flags, contact preferences), the debt's (call days this week, last
conversation, validation notice sent) and the number's (attempts today, opt-outs). The
counters come from `load_counters` as ever; their values, written to three small temporary
tables, join the candidates, and one DENSE_RANK numbers the kinds. A kind's first candidate
stands for it.

A call allowed tonight is an attempt that later calls on the same number or debt must count
(`count_allowed`); only calls read those counters (every frequency rule is a voice rule,
which `tests/compliance/test_kinds.py` holds every pack to). So the calls that share a
number, or a debt with another call to the borrower, and the actions an officer overrode, are
`sequential`: decided one by one in the night's order, as before. Every other candidate is
decided by its kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, Integer, String, Text, text

from arrears.compliance.history import Counters, candidate_sql, in_list
from arrears.compliance.loading import PackChoice
from arrears.compliance.rules.model import VOICE_CHANNELS, Audience
from arrears.store.bulk import insert_values, temporary_table
from arrears.store.sql import Dialect, analyze_temporary, dated, planner

CANDIDATES = "tmp_gate_candidates"
KEYED = "tmp_gate_keyed"
_VALUES: dict[
    str, tuple[str, Column[Any]]
] = {  # counter table -> its alias, and the key it shares with the candidates
    "tmp_gate_borrower_values": ("bv", Column("borrower_id", String(64))),
    "tmp_gate_case_values": ("cv", Column("case_id", Integer)),
    "tmp_gate_number_values": ("nv", Column("number_index", String(64))),
}
# what a kind is made of besides the counters' values
_OWN = (
    "pack",
    "channel",
    "target_type",
    f"CASE WHEN c.target_type = '{Audience.CONTACT}' THEN c.target_id END",
    "template",
    "timezone",
    "step",
    "phone_status",
    "unreachable_on",
    "contact_consent",
    "contact_status",
)


def _drop(conn: Connection, *names: str) -> None:
    for name in names:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))


def gather(
    conn: Connection,
    scope: str,
    params: dict[str, Any],
    choice: PackChoice,
    staged: str | None = None,
) -> int:
    """The candidates of `scope` (SQL over the actions, and the `staged` rows with them, `a`)
    into `CANDIDATES`, each with its pack,
    its place in the night's order (`seq`) and whether it is decided in order (`sequential`);
    returns how many."""
    sql = Dialect.of(conn)
    voice = f"channel IN {in_list(sorted(VOICE_CHANNELS))}"
    to_borrower = f"target_type = '{Audience.BORROWER}'"
    _drop(conn, CANDIDATES)
    # each action's case, borrower and contact looked up by key: hashed, the contacts of the
    # whole book were read for the few actions that are for a contact (ten million accounts:
    # 14,000,000 contacts read and spilled to disk, 7.3 s)
    with planner(conn, enable_hashjoin="off", enable_mergejoin="off"):
        conn.execute(
            dated(
                f"""CREATE TEMPORARY TABLE {CANDIDATES} AS
                    SELECT x.*, {choice.sql_case("x.jurisdiction")} AS pack,
                           ROW_NUMBER() OVER (ORDER BY x.priority, x.id) AS seq, 0 AS sequential
                    FROM ({candidate_sql(sql, scope, staged=staged)}) x""",
                "d",
            ),
            params,
        )
    # grouped, not windowed: a hash of the few shared numbers and debts, no sort of them all
    shared_number = f"""SELECT number_index FROM {CANDIDATES}
        WHERE {voice} AND number_index IS NOT NULL GROUP BY number_index HAVING COUNT(*) > 1"""
    shared_debt = f"""SELECT case_id FROM {CANDIDATES}
        WHERE {voice} AND {to_borrower} GROUP BY case_id HAVING COUNT(*) > 1"""
    conn.execute(
        text(
            f"""UPDATE {CANDIDATES} SET sequential = 1
                WHERE ({voice} AND (number_index IN ({shared_number})
                                    OR ({to_borrower} AND case_id IN ({shared_debt}))))
                   OR id IN (SELECT o.action_id FROM compliance_overrides o)"""
        )
    )
    if not sql.sqlite:  # unanalysed, the pack's candidates were guessed at one row: the joins
        analyze_temporary(conn, CANDIDATES)  # to the counters nested (10M: 105 s)
    return int(conn.execute(text(f"SELECT COUNT(*) FROM {CANDIDATES}")).scalar_one())


def packs_in_use(conn: Connection) -> list[str]:
    return sorted(conn.execute(text(f"SELECT DISTINCT pack FROM {CANDIDATES}")).scalars())


def _value_rows(k: Counters) -> dict[str, list[tuple[Any, str]]]:
    """Each counter's values per key, as text: equal texts are equal values (what a rule
    reads of them; an opt-out is a set, so its channels are sorted)."""
    borrowers = set(k.connected_today) | set(k.flags) | set(k.preferences)
    cases = set(k.attempt_days) | set(k.last_conversation) | set(k.notice_sent)
    numbers = set(k.attempts_today) | set(k.opted_out)
    return {
        "tmp_gate_borrower_values": [
            (b, repr((k.connected_today.get(b, 0), k.flags.get(b, ()), k.preferences.get(b))))
            for b in borrowers
        ],
        "tmp_gate_case_values": [
            (
                c,
                repr(
                    (
                        tuple(k.attempt_days.get(c, ())),
                        k.last_conversation.get(c),
                        c in k.notice_sent,
                    )
                ),
            )
            for c in cases
        ],
        "tmp_gate_number_values": [
            (n, repr((k.attempts_today.get(n, 0), sorted(k.opted_out.get(n, ()))))) for n in numbers
        ],
    }


def key_kinds(conn: Connection, pack: str, k: Counters) -> list[Any]:
    """Number the kinds of the pack's candidates that are not sequential (into `KEYED`: seq,
    id, key) from their columns and their counters' values; returns one candidate row of each
    kind, with its `kind_key` — the row `batch` decides for all of its kind."""
    for name, rows in _value_rows(k).items():
        key = _VALUES[name][1]
        table = temporary_table(conn, name, Column(key.name, key.type), Column("v", Text))
        insert_values(conn, table, (key.name, "v"), rows)
        analyze_temporary(conn, name)
    joins = " ".join(
        f"LEFT JOIN {name} {alias} ON {alias}.{key.name} = c.{key.name}"
        for name, (alias, key) in _VALUES.items()
    )
    parts = [e if e.startswith("CASE") else f"c.{e}" for e in _OWN]
    parts += [f"{alias}.v" for alias, _ in _VALUES.values()]
    _drop(conn, KEYED)
    conn.execute(
        text(
            f"""CREATE TEMPORARY TABLE {KEYED} AS
                SELECT c.seq, c.id, {_injective(parts)} AS kind_key
                FROM {CANDIDATES} c {joins}
                WHERE c.pack = :pack AND c.sequential = 0"""
        ),
        {"pack": pack},
    )
    return list(
        conn.execute(
            text(
                f"""SELECT c.*, r.kind_key FROM {CANDIDATES} c
                    JOIN (SELECT kind_key, MIN(seq) AS seq FROM {KEYED} GROUP BY kind_key) r
                      ON r.seq = c.seq"""
            )
        )
    )


def _injective(parts: Sequence[str]) -> str:
    """SQL: one text of the values of `parts`, equal only for equal values (NULL included):
    each value as its length, a colon and itself, or '-' when NULL. Grouped by a hash, where a
    sort on a dozen columns in the database's collation took seconds."""

    def one(expr: str) -> str:
        as_text = f"CAST({expr} AS TEXT)"
        return f"COALESCE(CAST(LENGTH({as_text}) AS TEXT) || ':' || {as_text}, '-')"

    return " || ".join(one(p) for p in parts)


def sequential(conn: Connection, pack: str) -> Sequence[Any]:
    """The pack's candidates decided one by one, in the night's order."""
    return conn.execute(
        text(f"SELECT * FROM {CANDIDATES} WHERE pack = :pack AND sequential = 1 ORDER BY seq"),
        {"pack": pack},
    ).all()


def drop_all(conn: Connection) -> None:
    _drop(conn, CANDIDATES, KEYED, *_VALUES)
