"""A failed night tells operations: an e-mail through the channels file's SMTP channel to the
operations address, and a signed webhook (the signature of `services/webhooks.py`), each with
the date, the step, the error and the command that resumes the night.

The channels file names them (docs/operations.md):

    operations:
      email: ops@example.cn            # mailed through the `email` channel (kind smtp)
      email_channel: email
      webhook: https://ops.example.cn/arrears/alerts
      secret_env: ARREARS_OPS_WEBHOOK_SECRET

An alert that cannot go out is reported beside the failure; it never hides it."""

from __future__ import annotations

import contextlib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from arrears.channels.base import Accepted, ChannelConfigInvalid, ChannelError, OutgoingMessage
from arrears.channels.config import CommsConfig, build_adapter, load_channels_file
from arrears.services.nightly import NightFailed
from arrears.services.webhooks import WebhookUrlRefused, check_url, sign

EVENT = "night.failed"


class AlertConfigInvalid(ValueError):
    """The channels file's `operations` section cannot be used; the message says why."""


@dataclass(frozen=True)
class AlertConfig:
    email: str | None = None
    email_channel: str = "email"
    email_spec: Mapping[str, Any] | None = None  # the SMTP channel's settings
    comms: CommsConfig | None = None
    webhook: str | None = None
    webhook_secret: str | None = None


def load_alert_config(path: Path | None) -> AlertConfig:
    """The `operations` section of the channels file (nothing to alert without one)."""
    if path is None or not path.exists():
        return AlertConfig()
    raw = path.read_text("utf-8")
    data = (tomllib.loads(raw) if path.suffix == ".toml" else yaml.safe_load(raw)) or {}
    ops = data.get("operations") or {}
    if not isinstance(ops, Mapping):
        raise AlertConfigInvalid(f"{path}: 'operations' must be a mapping (see docs/operations.md)")
    channels = load_channels_file(path)
    name = str(ops.get("email_channel", "email"))
    spec = channels.adapters.get(name)
    if spec is not None:  # an alert to operations carries no unsubscribe link
        spec = {k: v for k, v in spec.items() if not k.startswith("unsubscribe")}
    if ops.get("email") and (spec is None or spec.get("kind") != "smtp"):
        raise AlertConfigInvalid(
            f"{path}: operations.email needs a channel {name!r} of kind smtp to send through"
        )
    secret = None
    if ops.get("webhook"):
        env = ops.get("secret_env")
        secret = os.environ.get(str(env)) if env else None
        if not secret:
            raise AlertConfigInvalid(
                f"{path}: operations.webhook needs secret_env, the environment variable holding "
                f"the signing secret ({env or 'not named'} is not set)"
            )
    return AlertConfig(
        email=str(ops["email"]) if ops.get("email") else None,
        email_channel=name,
        email_spec=spec,
        comms=channels.comms,
        webhook=str(ops["webhook"]) if ops.get("webhook") else None,
        webhook_secret=secret,
    )


def alert_text(failure: NightFailed) -> tuple[str, str]:
    """Subject and body of the alert: date, step, error, and the command that resumes."""
    day = failure.as_of.isoformat()
    subject = f"[arrears] the night of {day} failed at step {failure.step}"
    body = (
        f"The night of {day} failed at step {failure.step}.\n\n"
        f"Error: {failure.error}\n\n"
        f"The steps before {failure.step} are done and will not run again. "
        f"Once the cause is fixed, resume from {failure.step} with:\n\n"
        f"    {failure.resume}\n\n"
        f"{day} 的夜间批处理在 {failure.step} 步骤失败。排除原因后，运行上面的命令从该步骤继续。\n"
    )
    return subject, body


def send_alerts(
    failure: NightFailed,
    config: AlertConfig,
    *,
    now: datetime,
    allow_private: bool = False,
    client: httpx.Client | None = None,
) -> list[str]:
    """Send the e-mail and the webhook the config names; one line per alert saying how it went."""
    said: list[str] = []
    if config.email:
        said.append(_email(failure, config, now))
    if config.webhook:
        said.append(_webhook(failure, config, now, allow_private, client))
    return said


def _email(failure: NightFailed, config: AlertConfig, now: datetime) -> str:
    assert config.email is not None and config.email_spec is not None
    subject, body = alert_text(failure)
    message = OutgoingMessage(
        outbox_id=-int(now.timestamp()),  # never an outbox row's id: its own Message-ID
        channel=config.email_channel,
        to=config.email,
        language="en",
        audience="operations",
        template=EVENT,
        body=body,
        subject=subject,
    )
    try:
        comms = config.comms or CommsConfig()
        channel = build_adapter(config.email_channel, config.email_spec, comms)
        try:
            (outcome,) = channel.send_batch([message])
        finally:
            channel.close()
    except (ChannelConfigInvalid, ChannelError) as exc:
        return f"alert e-mail to {config.email} not sent: {exc}"
    if isinstance(outcome, Accepted):
        return f"alert e-mailed to {config.email}"
    return f"alert e-mail to {config.email} not sent: {outcome}"


def _webhook(
    failure: NightFailed,
    config: AlertConfig,
    now: datetime,
    allow_private: bool,
    client: httpx.Client | None,
) -> str:
    assert config.webhook is not None and config.webhook_secret is not None
    body = json.dumps(
        {
            "event": EVENT,
            "business_date": failure.as_of.isoformat(),
            "step": failure.step,
            "error": failure.error,
            "resume": failure.resume,
            "at": now.isoformat(),
        },
        sort_keys=True,
        ensure_ascii=False,
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Arrears-Event": EVENT,
        "X-Arrears-Signature": sign(config.webhook_secret, body, int(now.timestamp())),
    }
    try:
        check_url(config.webhook, allow_private=allow_private)
        with httpx.Client() if client is None else contextlib.nullcontext(client) as http:
            response = http.post(config.webhook, content=body, headers=headers, timeout=10)
    except (WebhookUrlRefused, httpx.HTTPError) as exc:
        return f"alert webhook to {config.webhook} not delivered: {exc}"
    if not 200 <= response.status_code < 300:
        return f"alert webhook to {config.webhook} not delivered: HTTP {response.status_code}"
    return f"alert webhook delivered to {config.webhook}"
