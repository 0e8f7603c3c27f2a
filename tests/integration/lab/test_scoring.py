"""The nightly score batch over the platform's open cases: features from the tables, one row
per open case and date, re-runs replace, the command line end to end."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Connection, Engine, insert, select, update
from typer.testing import CliRunner

from arrears.cli import build
from arrears.lab import scores, scoring
from arrears.store import tables as t
from arrears.store.tables_lab import lab_scores
from tests import factories as f
from tests.integration.privacy.conftest import cli_url
from tests.unit.lab.test_scores import _book

D = date(2026, 3, 31)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models")
    for score in scores.Score:
        scores.save(scores.train(_book(), score), directory)
    return directory


def _case(conn: Connection, bid: str, dpd: int, status: str = "open") -> int:
    f.borrower(conn, bid)
    f.account(conn, f"{bid}-a", bid, [(date(2026, 1, 1), 100000, 0)])
    conn.execute(update(t.accounts).where(t.accounts.c.id == f"{bid}-a").values(outstanding=80000))
    result = conn.execute(
        insert(t.cases).values(
            borrower_id=bid,
            opened_on=date(2026, 1, 2),
            currency="CNY",
            overdue_at_open=1,
            dpd=dpd,
            status=status,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _book_on(db: Engine) -> tuple[int, int]:
    with db.begin() as conn:
        a, b = _case(conn, "B1", 45), _case(conn, "B2", 5)
        _case(conn, "B3", 90, status="cured")  # closed: not scored
        conn.execute(
            insert(t.delinquency_history),
            [
                {
                    "account_id": "B1-a",
                    "as_of": date(2026, 3, 1),
                    "dpd": 15,
                    "bucket": "M1",
                    "overdue_amount": 1,
                },
                {
                    "account_id": "B1-a",
                    "as_of": date(2026, 1, 30),
                    "dpd": 95,
                    "bucket": "M4",
                    "overdue_amount": 1,
                },
            ],
        )
        f.payment(conn, "P1", "B1-a", 3000, date(2026, 3, 2))  # within the last 30 days
        f.payment(conn, "P2", "B1-a", 700, date(2026, 3, 1))  # the 30 days before
        f.payment(conn, "P3", "B1-a", 9, date(2026, 1, 30))  # older: in neither
    return a, b


def test_features_come_from_the_tables(db: Engine) -> None:
    a, b = _book_on(db)
    with db.connect() as conn:
        ids, x = scoring.features(conn, D)
    assert ids == [a, b]
    col = {name: i for i, name in enumerate(scores.FEATURES)}
    first = x[0]
    assert first[col["bucket"]] == 2 and first[col["bucket_1m_ago"]] == 1
    assert first[col["bucket_2m_ago"]] == 4 and first[col["worst_bucket_3m"]] == 4
    assert first[col["delinquent_months_3m"]] == 3
    assert first[col["balance"]] == 80000
    assert (first[col["paid"]], first[col["paid_1m_ago"]]) == (3000, 700)
    assert first[col["paid_share_of_balance"]] == pytest.approx(3000 / 80000)
    assert x[1][col["bucket"]] == 1 and x[1][col["paid"]] == 0


def test_every_open_case_is_scored_once_and_a_rerun_replaces(db: Engine, models: Path) -> None:
    a, b = _book_on(db)
    pay, pv = scores.find(models, scores.Score.P_PAY_30)
    cure, cv = scores.find(models, scores.Score.P_SELF_CURE)
    for _ in range(2):
        with db.begin() as conn:
            batch = scoring.score_open_cases(conn, D, pay, cure, (pv, cv))
    assert batch.cases == 2
    with db.connect() as conn:
        rows = conn.execute(select(lab_scores).order_by(lab_scores.c.case_id)).all()
        _, x = scoring.features(conn, D)
    assert [r.case_id for r in rows] == [a, b]
    assert np.allclose([r.p_pay_30 for r in rows], pay.predict(x), atol=1e-6)
    assert all(0 <= r.p_self_cure <= 1 and r.cure_model == cv for r in rows)
    assert rows[0].pay_reasons.startswith("[") and rows[0].pay_model.startswith("p_pay_30-")


def test_a_model_for_the_wrong_score_is_refused(db: Engine, models: Path) -> None:
    pay, pv = scores.find(models, scores.Score.P_PAY_30)
    with db.begin() as conn, pytest.raises(scoring.ScoreModelMismatch):
        scoring.score_open_cases(conn, D, pay, pay, (pv, pv))


def test_the_command_scores_the_open_cases(db: Engine, models: Path) -> None:
    """With the approved models (tests/integration/lab/test_models.py: the maker–checker)."""
    from datetime import UTC, datetime

    from arrears.lab import models as deployed
    from arrears.services.users import add_user

    _book_on(db)
    args = ["--database", cli_url(db), "lab", "score", "--as-of", "2026-03-31"]
    missing = CliRunner().invoke(build(), args)
    assert missing.exit_code == 2 and "arrears lab model deploy" in missing.output
    at = datetime(2026, 3, 30, tzinfo=UTC)
    with db.begin() as conn:
        add_user(conn, "lin", "strategist-pass", "strategist", at=at)
        add_user(conn, "zhao", "strategist-pass", "strategist", at=at)
        for score in scores.Score:
            _, version = scores.find(models, score)
            blob, card = deployed.read_model_file(models / f"{version}.pkl")
            v = deployed.deploy(conn, f.RING, blob=blob, card=card, by="lin", at=at)
            deployed.approve(conn, f.RING, version=v.version, by="zhao", active_from=D, at=at)
    out = CliRunner().invoke(build(), args)
    assert out.exit_code == 0, out.output
    assert "scored 2 open cases as of 2026-03-31" in out.output
