"""Three business nights run by `arrears nightly` in calendar mode, one of them missed.

- 16 Feb: cron runs the night; the day's extracts are imported, the day runs, messages go out
  through a real SMSC and SMTP server on loopback.
- 17 Feb: cron did not run (the box was down).
- 18 Feb: cron runs `--through 2026-02-18`; the missed 17th comes first, and its dispatch fails
  (cron's environment lost the SMPP password). Operations get an e-mail (a real aiosmtpd server)
  and a signed webhook (a loopback HTTP server; signature checked) naming the date, the step,
  the error and the command to resume; the 18th does not run before the 17th has finished.
- While another night holds the lock, a second `arrears nightly` is refused, naming the holder.
- The operator fixes the environment and runs the command the alert gave: the 17th resumes at
  dispatch (its run-day is not run again: the steps table says so), then the 18th runs whole.

On SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from typer.testing import CliRunner, Result

from arrears.cli import build
from arrears.privacy.keyring import KeyRing
from arrears.services.nightly import NightStatus, held_lock, last_night, night_steps_of
from arrears.services.webhooks import verify_signature
from arrears.store import tables as t
from arrears.store.tables_ops import nights
from tests.integration.channels.smsc import Smsc
from tests.integration.channels.test_smtp import Mailbox, smtp_server
from tests.integration.privacy.conftest import cli_url

FIXTURE = Path(__file__).parents[1] / "fixtures" / "import" / "good"
D1, D2, D3 = date(2026, 2, 16), date(2026, 2, 17), date(2026, 2, 18)
OPS_SECRET = "ops-webhook-secret"


class AlertReceiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def alert_receiver() -> Iterator[tuple[int, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Receiver", (AlertReceiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()


def _extracts(root: Path) -> Path:
    shutil.copytree(FIXTURE, root / D1.isoformat())  # the first night's full extract
    third = root / D3.isoformat()  # the 18th: a repayment from the host system
    third.mkdir()
    (third / "payments.csv").write_text(
        "payment_id,account_id,amount,currency,received_on\nP9,A1,1030.00,CNY,2026-02-18\n"
    )
    return root  # no directory for the 17th: nothing came that day


def _channels(path: Path, smpp_port: int, smtp_port: int, hook_port: int, outbox: Path) -> Path:
    path.write_text(
        f"""
channels:
  sms: {{kind: smpp, host: 127.0.0.1, port: {smpp_port}, system_id: arrears,
        password_env: ARREARS_SMPP_PASSWORD, source_addr: "106900001234"}}
  email: {{kind: smtp, host: 127.0.0.1, port: {smtp_port}, sender: billing@example.cn}}
  "*": {{kind: file, directory: {outbox}}}
operations:
  email: ops@example.cn
  webhook: http://127.0.0.1:{hook_port}/arrears/alerts
  secret_env: ARREARS_OPS_WEBHOOK_SECRET
""",
        "utf-8",
    )
    return path


def _steps(db: Engine, day: date) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in night_steps_of(db, day)}


def _night(db: Engine, day: date) -> Any:
    with db.connect() as conn:
        return conn.execute(select(nights).where(nights.c.business_date == day)).first()


def _to_ops(mailbox: Mailbox) -> list[Any]:
    return [m for _, to, m in mailbox.received if to == ["ops@example.cn"]]


def test_three_nights_one_missed_a_failed_dispatch_alerts_and_resumes(
    db: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch
) -> None:
    mailbox = Mailbox()
    monkeypatch.setenv("ARREARS_KEYS", keyring.to_json())
    monkeypatch.setenv("ARREARS_SMPP_PASSWORD", "smpp-secret")
    monkeypatch.setenv("ARREARS_OPS_WEBHOOK_SECRET", OPS_SECRET)
    monkeypatch.setenv("ARREARS_WEBHOOK_ALLOW_PRIVATE", "1")  # the receiver is on loopback
    monkeypatch.setenv("ARREARS_OUTBOX_DIR", str(tmp_path / "outbox"))
    with (
        smtp_server(mailbox) as smtp_port,
        Smsc() as smsc,
        alert_receiver() as (hook_port, hooks),
    ):
        channels = _channels(
            tmp_path / "channels.yaml", smsc.port, smtp_port, hook_port, tmp_path / "outbox"
        )
        extracts = _extracts(tmp_path / "extracts")

        def nightly(*args: str) -> Result:
            where = ["--database", cli_url(db), "nightly"]
            sources = ["--extracts", str(extracts), "--channels", str(channels)]
            return CliRunner().invoke(build(), [*where, *sources, *args])

        # 16 Feb: the first night, every step
        first = nightly("--through", D1.isoformat())
        assert first.exit_code == 0, first.output
        steps = _steps(db, D1)
        assert list(steps) == ["import", "score", "run_day", "dispatch", "webhooks", "reports"]
        assert steps.pop("score")["status"] == "skipped"  # no score model approved
        assert {s["status"] for s in steps.values()} == {"finished"}
        assert steps["import"]["rows"] > 0  # the extract was loaded
        assert steps["run_day"]["rows"] > 0  # accounts were assessed
        assert not _to_ops(mailbox) and not hooks  # a good night alerts nobody

        # 17 Feb is missed; on the 18th cron's environment has lost the SMPP password
        monkeypatch.delenv("ARREARS_SMPP_PASSWORD")
        failed = nightly("--through", D3.isoformat())
        assert failed.exit_code == 1, failed.output
        assert "2026-02-17 failed at step dispatch" in failed.output
        assert "ARREARS_SMPP_PASSWORD" in failed.output
        night = _night(db, D2)
        assert (night.status, night.failed_step) == (NightStatus.FAILED, "dispatch")
        assert _night(db, D3) is None  # the 18th waits for the 17th
        steps = _steps(db, D2)
        assert steps["import"]["status"] == "skipped"  # no extract came that day
        assert steps["run_day"]["status"] == "finished"
        assert steps["dispatch"]["status"] == "failed"
        assert "ARREARS_SMPP_PASSWORD" in steps["dispatch"]["error"]
        assert "webhooks" not in steps
        run_day_before = steps["run_day"]

        resume = f"arrears nightly --through 2026-02-18 --extracts {extracts} --channels {channels}"
        (mail,) = _to_ops(mailbox)
        assert "2026-02-17" in mail["Subject"] and "dispatch" in mail["Subject"]
        text = mail.get_body(("plain",)).get_content()
        assert "ARREARS_SMPP_PASSWORD" in text and resume in text
        ((headers, body),) = hooks
        assert headers["X-Arrears-Event"] == "night.failed"
        signature = headers["X-Arrears-Signature"]
        signed_at = int(signature.split(",")[0].removeprefix("t="))
        assert verify_signature(OPS_SECRET, signature, body, signed_at)
        assert not verify_signature("another secret", signature, body, signed_at)
        assert not verify_signature(OPS_SECRET, signature, body.replace(b"17", b"16"), signed_at)
        alert = json.loads(body)
        assert (alert["business_date"], alert["step"], alert["resume"]) == (
            "2026-02-17",
            "dispatch",
            resume,
        )
        assert "ARREARS_SMPP_PASSWORD" in alert["error"]

        # another night holds the lock: a second nightly is refused and names it
        with held_lock(db, "cron@batch-1 pid 4242"):
            refused = nightly("--through", D3.isoformat())
        assert refused.exit_code == 3, refused.output
        assert "cron@batch-1 pid 4242" in refused.output
        assert _night(db, D2).runs == 1  # nothing ran

        # the operator fixes the environment and runs the command the alert gave
        monkeypatch.setenv("ARREARS_SMPP_PASSWORD", "smpp-secret")
        resumed = nightly("--through", D3.isoformat())
        assert resumed.exit_code == 0, resumed.output
        assert "kept from before: import, score, run_day" in resumed.output
        steps = _steps(db, D2)
        assert steps["run_day"] == run_day_before  # not run again: same start, one attempt
        assert steps["run_day"]["attempts"] == 1
        assert (steps["dispatch"]["status"], steps["dispatch"]["attempts"]) == ("finished", 2)
        assert {steps[s]["status"] for s in ("webhooks", "reports")} == {"finished"}
        third = _steps(db, D3)
        assert third.pop("score")["status"] == "skipped"  # no score model approved
        assert {s["status"] for s in third.values()} == {"finished"}
        assert third["import"]["rows"] == 1  # the repayment
        assert _night(db, D2).runs == 2
    last = last_night(db)
    assert last is not None and (last.business_date, last.status) == (D3, NightStatus.FINISHED)
    with db.connect() as conn:
        ran = sorted(conn.execute(select(t.run_log.c.business_date)).scalars())
        paid = conn.scalar(select(t.payments.c.posted_on).where(t.payments.c.id == "P9"))
    assert [d if isinstance(d, date) else date.fromisoformat(d) for d in ran] == [D1, D2, D3]
    assert paid is not None  # the 18th's repayment was posted by the 18th's run
