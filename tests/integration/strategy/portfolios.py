"""Random portfolios and random strategies for the compiled-vs-reference agreement tests."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
from hypothesis import strategies as st
from sqlalchemy import Connection, insert

from arrears.store import tables as t
from arrears.store.tables_strategy import strategy_assignments
from arrears.strategy import duck

AS_OF = date(2025, 3, 10)
PRODUCTS = ["loan", "card", "bnpl"]
REGIONS = ["north", "south", None]
HARDSHIPS = [None, None, "illness", "job_loss"]
PTP = ["open", "kept", "partly_kept", "broken"]
CONTACT_STATUSES = ["active", "active", "refused", "wrong_number"]
PLAN = ["proposed", "active", "completed", "broken", "cancelled"]


def day(draw: st.DrawFn, lo: int, hi: int) -> date:
    return AS_OF + timedelta(days=draw(st.integers(lo, hi)))


@st.composite
def portfolios(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    """Borrowers with several accounts, cases (open, closed, other currency), promises, plans
    with instalments, contacts and stored variants; dates cluster around AS_OF."""
    rows: dict[str, list[dict[str, Any]]] = {
        k: []
        for k in (
            "borrowers",
            "accounts",
            "contacts",
            "cases",
            "promises",
            "plans",
            "plan_instalments",
            "strategy_assignments",
        )
    }
    ids = {"case": 0, "promise": 0, "plan": 0}
    for b in range(draw(st.integers(1, 6))):
        bid = f"B{b}"
        rows["borrowers"].append(
            {
                "id": bid,
                "language": draw(st.sampled_from(["zh-CN", "en"])),
                "region": draw(st.sampled_from(REGIONS)),
                "risk_score": draw(st.none() | st.integers(300, 900)),
                "phone_status": draw(st.sampled_from(["ok", "ok", "wrong"])),
            }
        )
        for a in range(draw(st.integers(0, 3))):
            dpd = draw(st.sampled_from([0, 0, 1, 3, 7, 15, 30, 45, 61]))
            rows["accounts"].append(
                {
                    "id": f"{bid}-A{a}",
                    "borrower_id": bid,
                    "product": draw(st.sampled_from(PRODUCTS)),
                    "currency": "CNY",
                    "principal": 0,
                    "opened_on": AS_OF - timedelta(days=400),
                    "dpd": dpd,
                    "bucket": "M0" if dpd == 0 else "M1" if dpd <= 30 else "M2",
                    # ties on DPD and overdue amount exercise the worst-account order
                    "overdue_amount": draw(st.sampled_from([0, 5000, 5000, 120000])),
                    "outstanding": draw(st.integers(0, 2_000_000)),
                }
            )
        for c in range(draw(st.integers(0, 3))):
            rows["contacts"].append(
                {
                    "id": f"{bid}-C{c}",
                    "borrower_id": bid,
                    "relationship": "sibling",
                    "consent": draw(st.booleans()),
                    "status": draw(
                        st.sampled_from(["active", "active", "refused", "wrong_number"])
                    ),
                }
            )
        for k in range(draw(st.integers(0, 2))):
            ids["case"] += 1
            cid = ids["case"]
            is_open = k == 0 and draw(st.integers(0, 6)) > 0
            dpd = draw(st.sampled_from([0, 1, 2, 3, 7, 15, 30, 31, 45, 60, 61]))
            rows["cases"].append(
                {
                    "id": cid,
                    "borrower_id": bid,
                    "opened_on": day(draw, draw(st.sampled_from([-40, -2])), 0),
                    "status": "open" if is_open else "cured",
                    "currency": draw(st.sampled_from(["CNY", "CNY", "CNY", "USD"])),
                    "dpd": dpd,
                    "bucket": "M0" if dpd == 0 else "M1" if dpd <= 30 else "M2",
                    "overdue_amount": draw(st.sampled_from([0, 100, 9999, 50000, 123456])),
                    "hardship": draw(st.sampled_from(HARDSHIPS)),
                    "unreachable_on": draw(st.sampled_from([None, AS_OF, AS_OF - timedelta(1)])),
                    "last_contact_on": draw(st.none() | st.just(day(draw, -20, 0))),
                }
            )
            for _ in range(draw(st.integers(0, 3))):
                ids["promise"] += 1
                status = draw(st.sampled_from(PTP))
                rows["promises"].append(
                    {
                        "id": ids["promise"],
                        "case_id": cid,
                        # equal made_on dates make the id the tie-breaker
                        "made_on": day(draw, -6, -4),
                        "due_on": day(draw, -2, 2),
                        "amount": 1000,
                        "currency": "CNY",
                        "status": status,
                        "settled_on": None if status == "open" else day(draw, -1, 0),
                    }
                )
            for _ in range(draw(st.integers(0, 2))):
                ids["plan"] += 1
                rows["plans"].append(
                    {
                        "id": ids["plan"],
                        "case_id": cid,
                        "status": draw(st.sampled_from(PLAN)),
                        "proposed_on": day(draw, -8, -6),
                        "currency": "CNY",
                        "instalments": 3,
                        "first_due_on": AS_OF,
                    }
                )
                for seq in range(draw(st.integers(0, 3))):
                    rows["plan_instalments"].append(
                        {
                            "plan_id": ids["plan"],
                            "seq": seq + 1,
                            "due_on": day(draw, -2, 4),
                            "amount": 100,
                            "status": draw(st.sampled_from(["pending", "paid", "missed"])),
                        }
                    )
            if draw(st.integers(0, 3)) == 0:
                rows["strategy_assignments"].append(
                    {
                        "case_id": cid,
                        "strategy": "random",
                        "salt": "old",
                        "bucket": 0,
                        "variant": draw(st.sampled_from(["a", "b"])),
                        "assigned_on": AS_OF - timedelta(days=1),
                    }
                )
    return rows


TABLES = {
    "borrowers": t.borrowers,
    "accounts": t.accounts,
    "contacts": t.contacts,
    "cases": t.cases,
    "promises": t.promises,
    "plans": t.plans,
    "plan_instalments": t.plan_instalments,
    "strategy_assignments": strategy_assignments,
}


def load_sql(conn: Connection, rows: dict[str, list[dict[str, Any]]]) -> None:
    for name in reversed(list(TABLES)):
        conn.execute(TABLES[name].delete())
    for name, table in TABLES.items():
        if rows[name]:
            conn.execute(insert(table), rows[name])


def load_duck(rows: dict[str, list[dict[str, Any]]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    duck.create_schema(con)
    for name in TABLES:
        cols = [r[1] for r in con.execute(f"PRAGMA table_info('{name}')").fetchall()]
        data = [[row.get(c) for c in cols] for row in rows[name]]
        if data:
            marks = ", ".join("?" for _ in cols)
            con.executemany(f"INSERT INTO {name} VALUES ({marks})", data)
    return con


# ---------------------------------------------------------------- random conditions

INT_ATOMS = [
    ("dpd", 0, 70),
    ("accounts", 0, 3),
    ("delinquent_accounts", 0, 3),
    ("risk_score", 300, 900),
    ("days_since_last_contact", 0, 20),
    ("days_open", 0, 40),
    ("contacts_reachable", 0, 3),
]
TEXT_ATOMS = [
    ("bucket", ["M0", "M1", "M2"]),
    ("product", PRODUCTS),
    ("language", ["zh-CN", "en"]),
    ("region", ["north", "south"]),
    ("phone_status", ["ok", "wrong"]),
    ("ptp_status", ["none", *PTP]),
    ("plan_status", ["none", *PLAN]),
    ("hardship", ["illness", "job_loss"]),
    ("variant", ["a", "b"]),
]
OPS = ["==", "!=", "<", "<=", ">", ">="]


@st.composite
def atoms(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 2:
        name, lo, hi = draw(st.sampled_from(INT_ATOMS))
        return f"{name} {draw(st.sampled_from(OPS))} {draw(st.integers(lo, hi))}"
    if kind <= 4:
        name, values = draw(st.sampled_from(TEXT_ATOMS))
        if draw(st.booleans()):
            return f'{name} {draw(st.sampled_from(["==", "!="]))} "{draw(st.sampled_from(values))}"'
        picked = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3))
        neg = draw(st.sampled_from(["", "not "]))
        items = ", ".join('"' + v + '"' for v in picked)
        return f"{name} {neg}in [{items}]"
    if kind == 5:
        amount = draw(st.sampled_from(["0", "1", "99.99", "500", "1234.56", "20000"]))
        amount += draw(st.sampled_from(["", "", "", " USD", " CNY"]))  # its own currency or none
        money = draw(
            st.sampled_from(
                [
                    "overdue_amount",
                    "balance",
                    "balance - overdue_amount",
                    "min(overdue_amount, balance)",
                    "max(overdue_amount, balance)",
                    "overdue_amount * 2",
                    "abs(overdue_amount - balance)",
                ]
            )
        )
        return f"{money} {draw(st.sampled_from(OPS))} {amount}"
    if kind == 6:
        return draw(
            st.sampled_from(
                [
                    "unreachable",
                    "not unreachable",
                    "unreachable == false",
                    "is_set(risk_score)",
                    "is_set(hardship)",
                    "is_set(days_since_last_contact)",
                    "true",
                    "false",
                ]
            )
        )
    if kind == 7:
        return draw(
            st.sampled_from(
                [
                    'coalesce(region, "none") == "none"',
                    "coalesce(risk_score, 0) < 500",
                    "max(risk_score, 600) > 650",
                    "min(dpd, days_open) >= 3",
                    "abs(dpd - 30) <= 5",
                    "-dpd < -10",
                    "dpd + days_open * 2 > 20",
                    "coalesce(days_since_last_contact, 99) > 3",
                ]
            )
        )
    n = draw(st.integers(0, 60))
    return f"dpd in [{n}, {n + 1}, 30]"


def conditions(depth: int = 2) -> st.SearchStrategy[str]:
    return st.recursive(
        atoms(),
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda p: f"({p[0]}) and ({p[1]})"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]}) or ({p[1]})"),
            inner.map(lambda x: f"not ({x})"),
        ),
        max_leaves=4,
    )


TRIGGERS = [
    "daily",
    "daily",
    "{dpd: [1, 3, 7, 15, 30, 45]}",
    "case_opened",
    "borrower_unreachable",
    "promise_broken",
    "daily",
    "{promise_due: 1}",
    "{promise_due: 2}",
    "{plan_instalment_due: 3}",
    "{plan_instalment_due: 0}",
    "{plan_instalment_missed: 1}",
    "{plan_instalment_missed: 2}",
    "{dpd: [1, 3, 7, 30]}",
    "{dpd: 0}",
]


@st.composite
def random_strategies(draw: st.DrawFn) -> str:
    """YAML text of a strategy with random segments, steps, triggers, targets and variants."""
    share = draw(st.integers(0, 100))
    lines = [
        "strategy: random",
        "salt: " + draw(st.sampled_from(["s1", "s2", "experiment-7"])),
        "variants:",
        f"  - {{name: a, share: {share}}}",
        f"  - {{name: b, share: {100 - share}}}",
        "segments:",
    ]
    for i in range(draw(st.integers(1, 3))):
        lines.append(f"  - name: seg{i}")
        lines.append(f"    when: '{draw(conditions())}'")
    if draw(st.integers(0, 3)) > 0:
        lines.append("  - {name: rest, when: 'true'}")
    lines.append("steps:")
    for i in range(draw(st.integers(1, 5))):
        lines.append(f"  - name: step{i}")
        lines.append(f"    on: {draw(st.sampled_from(TRIGGERS))}")
        if draw(st.booleans()):
            lines.append(f"    when: '{draw(conditions())}'")
        if draw(st.integers(0, 3)) == 0:
            lines.append(f"    segments: [seg{draw(st.integers(0, 0))}]")
        if draw(st.integers(0, 3)) == 0:
            lines.append(f"    variants: [{draw(st.sampled_from(['a', 'b']))}]")
        target = draw(st.sampled_from(["borrower", "contacts"]))
        lines.append(f"    action: {{channel: sms, template: t{i}, target: {target}}}")
        if draw(st.booleans()):
            lines.append("    actions:")
            lines.append(
                f"      - {{channel: call, template: c{i}, target: borrower, priority: 7}}"
            )
    return "\n".join(lines) + "\n"
