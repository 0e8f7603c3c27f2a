"""The nightly run scores the open cases before it plans the day (SQLite and PostgreSQL).

30 March  A strategist deploys `scored` (a reminder for every case that has a score today);
          a second approves it from 31 March. A risk analyst deploys the two score models; a
          second person approves them from 31 March.
31 March  `arrears nightly`: the score step finds no open case (scores 0); run-day opens the
          cases of the borrowers who missed the 30th. They have no score today: not planned.
1 April   The score step scores those open cases (one batch), then run-day plans them — the
          plan reads today's scores — and opens the cases of those who missed the 31st, which
          have no score yet and are not planned by the step.
Without an approved model the score step is skipped with a note naming what is missing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from arrears.cli import build
from arrears.lab import models, scores
from arrears.services import strategies
from arrears.services.nightly import night_steps_of
from arrears.services.users import add_user
from arrears.store import tables as t
from arrears.store.tables_lab import lab_scores
from tests import factories as f
from tests.integration.privacy.conftest import cli_url
from tests.unit.lab.test_scores import _book

D1 = date(2026, 3, 31)
D2 = D1 + timedelta(days=1)
AT = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)

SCORED = """\
strategy: scored
currency: CNY
steps:
  - name: scored_reminder
    on: daily
    when: is_set(p_pay_30) and p_self_cure >= 0
    action: {channel: sms, template: reminder}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("models")
    return [scores.save(scores.train(_book(), s), directory).path for s in scores.Score]


def _book_on(db: Engine) -> tuple[set[str], set[str]]:
    """Five borrowers who miss the 30th (cases open on the 31st), four who miss the 31st."""
    with db.begin() as conn:
        for prefix, due, n in (("E", D1 - timedelta(days=1), 5), ("L", D1, 4)):
            for i in range(n):
                f.borrower(conn, f"{prefix}{i}")
                f.account(conn, f"{prefix}{i}-a", f"{prefix}{i}", [(due, 50000 + 1000 * i, 0)])
        for who in ("lin", "zhao"):
            add_user(conn, who, "strategist-pass", "strategist", at=AT)
    return {f"E{i}" for i in range(5)}, {f"L{i}" for i in range(4)}


def _nightly(db: Engine, day: date) -> None:
    result = CliRunner().invoke(
        build(), ["--database", cli_url(db), "nightly", "--as-of", day.isoformat()]
    )
    assert result.exit_code == 0, result.output


def _planned(db: Engine, day: date) -> set[str]:
    c, a = t.cases, t.actions
    with db.connect() as conn:
        rows = conn.execute(
            select(c.c.borrower_id)
            .join(a, a.c.case_id == c.c.id)
            .where(a.c.business_date == day, a.c.step == "scored_reminder")
        ).all()
    return {r[0] for r in rows}


def _scored(db: Engine, day: date) -> set[str]:
    with db.connect() as conn:
        rows = conn.execute(
            select(t.cases.c.borrower_id)
            .join(lab_scores, lab_scores.c.case_id == t.cases.c.id)
            .where(lab_scores.c.as_of == day)
        ).all()
    return {r[0] for r in rows}


def test_the_night_scores_then_plans(
    db: Engine, trained: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARREARS_KEYS", f.RING.to_json())
    monkeypatch.setenv("ARREARS_OUTBOX_DIR", str(tmp_path / "outbox"))
    early, late = _book_on(db)
    with db.begin() as conn:
        d = strategies.deploy(conn, f.RING, source=SCORED, path="scored.yaml", by="lin", at=AT)
        strategies.approve(
            conn, f.RING, name=d.name, version=d.version, by="zhao", active_from=D1, at=AT
        )
        for path in trained:
            blob, card = models.read_model_file(path)
            v = models.deploy(conn, f.RING, blob=blob, card=card, by="lin", at=AT)
            models.approve(conn, f.RING, version=v.version, by="zhao", active_from=D1, at=AT)

    _nightly(db, D1)
    steps = {s["step"]: s for s in night_steps_of(db, D1)}
    assert list(steps)[:3] == ["import", "score", "run_day"]
    assert steps["score"]["status"] == "finished" and steps["score"]["rows"] == 0
    assert _scored(db, D1) == set() and _planned(db, D1) == set()

    _nightly(db, D2)
    steps = {s["step"]: s for s in night_steps_of(db, D2)}
    assert steps["score"]["rows"] == 5
    assert _scored(db, D2) == early  # the cases open before the day ran
    assert _planned(db, D2) == early  # planned from today's scores; the new cases have none
    with db.connect() as conn:
        opened = {r[0] for r in conn.execute(select(t.cases.c.borrower_id))}
    assert late <= opened


def test_without_an_approved_model_the_score_step_is_skipped(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARREARS_KEYS", f.RING.to_json())
    monkeypatch.setenv("ARREARS_OUTBOX_DIR", str(tmp_path / "outbox"))
    _book_on(db)
    _nightly(db, D1)
    step = next(s for s in night_steps_of(db, D1) if s["step"] == "score")
    assert step["status"] == "skipped"
    assert (
        "no approved p_pay_30 and no approved p_self_cure model in force on 2026-03-31"
        in (step["note"])
    )
    assert _scored(db, D1) == set()
