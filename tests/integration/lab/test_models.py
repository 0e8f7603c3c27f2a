"""Score models in production, on SQLite and PostgreSQL: deployed by one strategist, refused to
the same one as approver, approved by a second; `arrears lab score` scores only with the
approved models in force on the date (nothing approved: an error naming the command); a
rollback puts the model before back; a tampered model is refused; every step is audited."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from arrears.cli import build
from arrears.lab import models as m
from arrears.lab import scores
from arrears.privacy import audit
from arrears.services.users import add_user
from arrears.store.tables_lab import lab_model_versions, lab_scores
from tests import factories as f
from tests.integration.lab.test_scoring import D, _book_on
from tests.integration.privacy.conftest import cli_url
from tests.unit.lab.test_scores import _book

AT = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two models of p_pay_30 (the second trained on half the book) and one of p_self_cure."""
    directory = tmp_path_factory.mktemp("models")
    book = _book()
    out = {}
    for score in scores.Score:
        out[score.value] = scores.save(scores.train(book, score), directory).path
    other = scores.train(book, scores.Score.P_PAY_30, model=_shallow)
    out["p_pay_30_b"] = scores.save(other, directory).path
    return out


def _shallow() -> object:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500)


def _users(db: Engine) -> None:
    with db.begin() as conn:
        add_user(conn, "lin", "strategist-pass", "strategist", at=AT)
        add_user(conn, "zhao", "strategist-pass", "strategist", at=AT)
        add_user(conn, "wu", "agent-pass-1234", "agent", at=AT)


def test_deploy_approve_score_and_roll_back_by_command(
    db: Engine, trained: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARREARS_KEYS", f.RING.to_json())
    _users(db)
    a, b = _book_on(db)

    def cli(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(build(), ["--database", cli_url(db), "lab", *args])
        assert result.exit_code == code, result.output
        return result.output

    assert "no score model deployed" in cli("model", "list")
    refused = cli("score", "--as-of", D.isoformat(), code=2)
    assert "no approved p_pay_30 and no approved p_self_cure model in force on 2026-03-31" in (
        refused
    )
    assert "arrears lab model deploy MODEL_FILE --by USER" in refused

    out = cli("model", "deploy", str(trained["p_pay_30"]), "--by", "lin")
    assert "v1  p_pay_30" in out and "pending" in out
    assert "arrears lab model approve --version 1" in out
    assert "v1  p_pay_30" in cli("model", "deploy", str(trained["p_pay_30"]), "--by", "lin")
    cli("model", "deploy", str(trained["p_self_cure"]), "--by", "lin")
    assert "agent" in cli("model", "deploy", str(trained["p_pay_30_b"]), "--by", "wu", code=2)

    # the author may not approve; a second strategist may
    approve = ("model", "approve", "--version", "1", "--from", "2026-03-31", "--by")
    assert "maker–checker" in cli(*approve, "lin", code=2)
    cli("model", "approve", "--version", "1", "--by", "zhao", "--from", "2026-03-31")
    half = cli("score", "--as-of", D.isoformat(), code=2)  # one score approved, not the other
    assert "no approved p_self_cure model" in half and "p_pay_30 model" not in half
    cli("model", "approve", "--version", "2", "--by", "zhao", "--from", "2026-03-31")
    again = ("model", "approve", "--version", "2", "--by", "zhao", "--from", "2026-04-01")
    assert "not pending" in cli(*again, code=2)

    out = cli("score", "--as-of", D.isoformat())
    pay_v1 = trained["p_pay_30"].stem
    assert f"scored 2 open cases as of 2026-03-31 with {pay_v1}" in out
    assert cli("score", "--as-of", "2026-03-30", code=2)  # before it is in force: nothing

    # a second p_pay_30 model, approved from the same date, scores in its place; rolled back,
    # the first scores again
    cli("model", "deploy", str(trained["p_pay_30_b"]), "--by", "lin")
    cli("model", "approve", "--version", "3", "--by", "zhao", "--from", "2026-03-31")
    assert trained["p_pay_30_b"].stem in cli("score", "--as-of", D.isoformat())
    back = cli("model", "rollback", "--score", "p_pay_30", "--by", "lin", "--from", "2026-03-31")
    assert f"v1 {pay_v1}" in back
    cli("score", "--as-of", D.isoformat())
    with db.connect() as conn:
        rows = conn.execute(select(lab_scores.c.case_id, lab_scores.c.pay_model)).all()
        listed = m.versions(conn)
        entries = [
            e["subject"]
            for e in reversed(audit.entries(conn, kind="strategy"))
            if e["subject"].startswith("score-model:")
        ]
        assert not audit.verify(conn, f.RING)
    assert sorted(rows) == [(a, pay_v1), (b, pay_v1)]
    assert [(v.version, v.status.value) for v in listed] == [
        (1, "approved"), (2, "approved"), (3, "rolled_back"),
    ]  # fmt: skip
    assert entries == [
        "score-model:p_pay_30:v1", "score-model:p_self_cure:v2", "score-model:p_pay_30:v1",
        "score-model:p_self_cure:v2", "score-model:p_pay_30:v3", "score-model:p_pay_30:v3",
        "score-model:p_pay_30:v3",
    ]  # fmt: skip
    assert "rolled_back" in cli("model", "list")


def test_a_model_changed_after_approval_is_refused(
    db: Engine, keyring: object, trained: dict[str, Path], tmp_path: Path
) -> None:
    _users(db)
    _book_on(db)
    with db.begin() as conn:
        for score in ("p_pay_30", "p_self_cure"):
            blob, card = m.read_model_file(trained[score])
            v = m.deploy(conn, f.RING, blob=blob, card=card, by="lin", at=AT)
            m.approve(conn, f.RING, version=v.version, by="zhao", active_from=D, at=AT)
        conn.execute(update(lab_model_versions).where(lab_model_versions.c.version == 1)
                     .values(blob=b"not the model"))  # fmt: skip
    with db.begin() as conn, pytest.raises(m.ModelTampered, match="deploy and approve it again"):
        m.score_with_approved(conn, D)
    # a file whose bytes differ from its card is refused at deploy
    copy = tmp_path / trained["p_self_cure"].name
    shutil.copy(trained["p_self_cure"], copy)
    shutil.copy(trained["p_self_cure"].with_suffix(".json"), copy.with_suffix(".json"))
    copy.write_bytes(copy.read_bytes() + b"x")
    with pytest.raises(scores.ModelTampered):
        m.read_model_file(copy)


def test_approval_cannot_start_on_a_date_already_run(db: Engine, trained: dict[str, Path]) -> None:
    from arrears.engine.run_day import run_day

    _users(db)
    run_day(db, date(2026, 3, 31))
    with db.begin() as conn:
        blob, card = m.read_model_file(trained["p_pay_30"])
        v = m.deploy(conn, f.RING, blob=blob, card=card, by="lin", at=AT)
        with pytest.raises(m.ModelStartInvalid, match="--from 2026-04-01"):
            m.approve(conn, f.RING, version=v.version, by="zhao", active_from=D, at=AT)
        assert m.next_business_date(conn) == date(2026, 4, 1)
