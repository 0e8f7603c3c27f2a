"""What every request handler needs: the wired App, the clock and the business date.

The web edge is where the clock is read; services receive `now` / `as_of` explicitly."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from fastapi import Request
from sqlalchemy import Connection, Engine

from arrears.bootstrap import App
from arrears.engine.run_day import last_business_date

OtpSender = Callable[[str, str], None]  # (phone E.164, message text)


def file_otp_sender(outbox_dir: Path) -> OtpSender:
    """The default (demo, tests): one-time codes are written to `otp.log` in the outbox folder,
    one line per message — the phone masked, the file mode 0600 (it stands in for the
    borrower's phone, so the message with its code is there for whoever may read the file)."""
    from arrears.domain.phone import mask_phone

    def send(phone: str, message: str) -> None:
        outbox_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = outbox_dir / "otp.log"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.chmod(path, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(f"{mask_phone(phone)}\t{message}\n")

    return send


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    app: App
    business_date: date | None = None  # fixed (demo, tests); else the last run date
    clock: Callable[[], datetime] = _utc_now
    otp_sender: OtpSender | None = None
    cookie_secure: bool | None = None  # None: secure when the request came over https
    _secret: bytes | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        return self.app.engine

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = hmac.new(
                self.app.keyring.index_key, b"arrears-web-v1", hashlib.sha256
            ).digest()
        return self._secret

    def now(self) -> datetime:
        return self.clock()

    def today(self, conn: Connection) -> date:
        """The business date the floor works on: fixed, else the last date the daily run ran."""
        if self.business_date is not None:
            return self.business_date
        return last_business_date(conn) or self.now().date()

    def send_otp(self, phone: str, message: str) -> None:
        sender = self.otp_sender or file_otp_sender(self.app.settings.outbox_dir)
        sender(phone, message)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn


def context_of(request: Request) -> Context:
    ctx = request.app.state.ctx
    assert isinstance(ctx, Context)
    return ctx
