"""`arrears dispatch` with a channels file it cannot use: a message naming the setting, exit 2,
and the outbox untouched."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from arrears.cli import build
from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t
from tests.integration.channels.outbox import queue_messages
from tests.integration.privacy.conftest import cli_url


def test_bad_channels_file_is_a_clear_error_and_sends_nothing(
    db: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch
) -> None:
    with db.begin() as conn:
        queue_messages(conn, keyring, 3)
    monkeypatch.setenv("ARREARS_KEYS", keyring.to_json())
    channels = tmp_path / "channels.yaml"
    channels.write_text(
        "channels:\n  sms: {kind: smpp, host: 127.0.0.1, password_env: NOT_SET_ANYWHERE}\n"
    )
    result = CliRunner().invoke(
        build(), ["--database", cli_url(db), "dispatch", "--once", "--channels", str(channels)]
    )
    assert result.exit_code == 2, result.output
    assert "NOT_SET_ANYWHERE" in result.output
    assert "Traceback" not in result.output
    with db.connect() as conn:
        statuses = set(conn.execute(select(t.outbox.c.status)).scalars())
    assert statuses == {"pending"}
