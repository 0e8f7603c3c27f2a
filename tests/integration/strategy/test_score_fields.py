"""The strategy language reads the day's scores: `p_pay_30` and `p_self_cure` are the case's row
of `lab_scores` on the business date. A case with no score that day reads null, so a condition
on it — and its negation — is false. The compiled query (both databases) plans what the
reference evaluator decides, and only from the date's scores, not yesterday's."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from arrears.cli import build
from arrears.domain.strategy.evaluate import evaluate
from arrears.domain.strategy.expr import ExpressionInvalid, compile_condition
from arrears.store import tables as t
from arrears.store.tables_lab import lab_scores
from arrears.strategy import loader
from arrears.strategy.plan import plan_with, preview
from arrears.strategy.snapshot import load_snapshots
from tests.integration.strategy.test_planning import open_cases

D1 = date(2026, 4, 1)
D2 = D1 + timedelta(days=1)

SCORED = loader.loads(
    """\
strategy: scored
currency: CNY
steps:
  - name: likely_payer_sms
    on: daily
    when: p_pay_30 >= 0.6
    action: {channel: sms, template: reminder}
  - name: unlikely_payer_call
    on: daily
    when: not (p_pay_30 >= 0.6)
    action: {channel: call, template: call_borrower}
  - name: will_cure_alone
    on: daily
    when: p_self_cure > 0.5 and p_pay_30 >= 0.9
    action: {channel: email, template: reminder}
"""
)


def _scores(db: Engine) -> None:
    """Case 1 likely to pay today, case 2 unlikely, case 3 scored yesterday only, 4 never."""
    open_cases(db, 1, 4, D1)
    rows = [
        (1, D2, 0.6, 0.7),  # exactly the threshold: >= holds
        (2, D2, 0.599999, 0.1),
        (3, D1, 0.95, 0.9),  # yesterday's: not today's score
    ]
    with db.begin() as conn:
        conn.execute(
            insert(lab_scores),
            [
                {"case_id": c, "as_of": d, "p_pay_30": p, "p_self_cure": q, "pay_model": "p",
                 "cure_model": "c", "pay_reasons": "[]", "cure_reasons": "[]"}
                for c, d, p, q in rows
            ],
        )  # fmt: skip


def test_a_step_on_the_score_plans_only_the_high_score_cases(db: Engine) -> None:
    _scores(db)
    with db.begin() as conn:
        assert plan_with(conn, SCORED, D2) == 2
    with db.connect() as conn:
        planned = {tuple(r) for r in conn.execute(select(t.actions.c.case_id, t.actions.c.step))}
    assert planned == {(1, "likely_payer_sms"), (2, "unlikely_payer_call")}


def test_the_compiled_plan_is_the_reference_evaluators(db: Engine) -> None:
    _scores(db)
    with db.connect() as conn:
        compiled = preview(conn, SCORED, D2)
        snaps = load_snapshots(conn, SCORED.name, as_of=D2)
    reference = [a for s in snaps for a in evaluate(SCORED, s, D2).actions]
    assert compiled == sorted(reference, key=lambda a: a.key())
    assert [(a.case_id, a.step) for a in compiled] == [
        (1, "likely_payer_sms"),
        (2, "unlikely_payer_call"),
    ]
    facts = {s.case_id: evaluate(SCORED, s, D2).facts for s in snaps}
    assert facts[3]["p_pay_30"] is None and facts[4]["p_self_cure"] is None
    assert str(facts[1]["p_pay_30"]) == "0.6"


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("p_pay_30 >= 60", "not a probability"),
        ("p_pay_30 > dpd", "cannot compare a probability and an integer"),
        ("p_pay_30 + 0.1 > 0.5", "cannot add or subtract a probability"),
        ("p_pay_30 >= 'high'", "cannot compare"),
        ("p_pay_3 >= 0.5", "did you mean 'p_pay_30'"),
    ],
)
def test_the_checker_names_a_wrong_use_of_a_score(condition: str, problem: str) -> None:
    with pytest.raises(ExpressionInvalid, match=problem):
        compile_condition(condition, "CNY")


def test_scores_take_probabilities_and_their_functions() -> None:
    for ok in (
        "p_pay_30 >= 0.6",
        "p_self_cure < 1",
        "max(p_pay_30, p_self_cure) > 0.25",
        "coalesce(p_pay_30, 0) < 0.3",
        "p_pay_30 in [0, 1]",
        "is_set(p_self_cure)",
    ):
        compile_condition(ok, "CNY")


def test_strategy_check_accepts_score_bands(tmp_path: Path) -> None:
    """A file as the optimiser may write it, with score bands in segments and steps."""
    path = tmp_path / "bands.yaml"
    path.write_text(
        """\
strategy: bands
currency: TWD
segments:
  - {name: likely, when: p_pay_30 >= 0.6, queue: early}
  - {name: self_cure, when: p_self_cure >= 0.4 and p_pay_30 < 0.6, queue: early}
  - {name: rest, when: true, queue: late}
steps:
  - name: call_unlikely
    on: {dpd: [3, 10]}
    when: coalesce(p_pay_30, 0) < 0.3
    action: {channel: call, template: call_borrower}
""",
        encoding="utf-8",
    )
    db = f"sqlite:///{tmp_path / 'check.db'}"
    result = CliRunner().invoke(build(), ["--database", db, "strategy", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "strategy 'bands' v1 is valid" in result.output
