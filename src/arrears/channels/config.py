"""Channel configuration: one YAML (or TOML) file names the lender, the wording the channels
add, and one adapter per channel with its rate limit.

    lender_name: {zh-CN: 示例消费金融, en: Example Consumer Finance}
    callback_number: 400-000-0000
    link_base: https://pay.example.cn
    channels:
      sms: {kind: smpp, host: 127.0.0.1, port: 2775, system_id: arrears,
            password_env: SMPP_PASSWORD,
            source_addr: "106900001234", rate: 200}
      email: {kind: smtp, host: smtp.example.cn, starttls: true, sender: billing@example.cn}
      push: {kind: push, url: "https://app.example.cn/push", secret_env: PUSH_SECRET}
      voice: {kind: ivr, url: "https://ivr.example.cn/calls", secret_env: IVR_SECRET}
      letter: {kind: letter, directory: .arrears/letters}
      "*": {kind: file, directory: .arrears/outbox}

Kinds: file, smpp, smtp, push, ivr, letter. See docs/channels.md for every key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from arrears.channels.base import Channel, ChannelConfigInvalid, ChannelSet
from arrears.privacy.keyring import KeyRing
from arrears.privacy.links import EXAMPLE_TOKEN, link_maker

DEFAULT_OPT_OUT = {"zh-CN": "拒收请回复TD", "en": "Reply STOP to opt out"}


def _per_language(value: object, default: str) -> dict[str, str]:
    if value is None:
        return {"zh-CN": default, "en": default}
    if isinstance(value, str):
        return {"zh-CN": value, "en": value}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    raise ChannelConfigInvalid(f"expected text or a mapping language -> text, got {value!r}")


@dataclass
class CommsConfig:
    """What every message may say about the lender, and how the borrower's link is made."""

    lender_name: dict[str, str] = field(
        default_factory=lambda: {"zh-CN": "示例消费金融", "en": "Example Consumer Finance"}
    )
    callback_number: str = "400-000-0000"
    link_base: str = "https://pay.example.cn"
    # the borrower page's link: (case_id, borrower_id) -> URL; `sign_links` sets the key ring's
    link_for: Callable[[int, str], str] | None = None

    def lender(self, language: str) -> str:
        return self.lender_name.get(language) or next(iter(self.lender_name.values()))

    def sign_links(self, ring: KeyRing, today: Callable[[], date]) -> None:
        """Links the web app reads: `{link_base}/b/{token}`, the token made with the key ring
        (`arrears.privacy.links`), working `LINK_DAYS` from `today()` — the business date of the
        send, which the caller gives (this reads no clock)."""
        self.link_for = link_maker(ring, self.link_base, today=today)

    def example_link(self) -> str:
        """A link of the real length that opens nothing (template examples)."""
        return f"{self.link_base.rstrip('/')}/b/{EXAMPLE_TOKEN}"

    def link(self, case_id: int, borrower_id: str) -> str:
        if self.link_for is not None:
            return self.link_for(case_id, borrower_id)
        # no key ring wired (a library default: `arrears dispatch` and the demo always sign)
        return self.example_link()


@dataclass
class ChannelsFile:
    comms: CommsConfig
    adapters: dict[str, dict[str, Any]]
    rate_limits: dict[str, float]

    def build(self) -> ChannelSet:
        built: dict[str, Channel] = {}
        for name, spec in self.adapters.items():
            built[name] = build_adapter(name, spec, self.comms)
        return ChannelSet(built)


def _secret(spec: Mapping[str, Any], key: str) -> str | None:
    if f"{key}_env" in spec:
        value = os.environ.get(str(spec[f"{key}_env"]))
        if value is None:
            raise ChannelConfigInvalid(f"environment variable {spec[f'{key}_env']} is not set")
        return value
    value = spec.get(key)
    return None if value is None else str(value)


def build_adapter(name: str, spec: Mapping[str, Any], comms: CommsConfig) -> Channel:
    kind = spec.get("kind")
    if kind == "file":
        from arrears.channels.filesink import FileSink

        return FileSink(Path(spec.get("directory", ".arrears/outbox")), name=name)
    if kind == "smpp":
        from arrears.channels.smpp import SmppChannel, SmppSettings

        return SmppChannel(
            SmppSettings(
                host=str(spec.get("host", "127.0.0.1")),
                port=int(spec.get("port", 2775)),
                system_id=str(spec.get("system_id", "")),
                password=_secret(spec, "password") or "",
                source_addr=str(spec.get("source_addr", "")),
                window=int(spec.get("window", 64)),
                signature=_per_language(spec.get("signature"), comms.lender("zh-CN")),
                contact_signature=_per_language(spec["contact_signature"], "")
                if spec.get("contact_signature")
                else None,
                opt_out=_per_language(spec["opt_out"], "")
                if spec.get("opt_out")
                else dict(DEFAULT_OPT_OUT),
                registered_delivery=bool(spec.get("delivery_receipts", True)),
                timeout=float(spec.get("timeout", 10)),
            ),
            name=name,
        )
    if kind == "smtp":
        return _smtp(name, spec, comms)
    if kind in ("push", "ivr"):
        return _webhook(name, kind, spec, comms)
    if kind == "letter":
        from arrears.channels.letter import LetterChannel, LetterSettings

        return LetterChannel(
            LetterSettings(
                directory=Path(spec.get("directory", ".arrears/letters")),
                font_path=Path(spec["font_path"]) if spec.get("font_path") else None,
                lender_name=_per_language(spec.get("lender_name"), "")
                if spec.get("lender_name")
                else dict(comms.lender_name),
                return_address=_per_language(spec.get("return_address"), "")
                if spec.get("return_address")
                else {},
                timezone=str(spec.get("timezone", "Asia/Shanghai")),
            ),
            name=name,
        )
    raise ChannelConfigInvalid(
        f"channel {name}: unknown kind {kind!r}; use one of {', '.join(KINDS)}"
    )


KINDS = ("file", "smpp", "smtp", "push", "ivr", "letter")


def _required(name: str, spec: Mapping[str, Any], key: str) -> str:
    value = spec.get(key)
    if not value:
        raise ChannelConfigInvalid(
            f"channel {name}: kind {spec.get('kind')} needs {key!r} (see docs/channels.md)"
        )
    return str(value)


def _smtp(name: str, spec: Mapping[str, Any], comms: CommsConfig) -> Channel:
    from arrears.channels.smtp import SmtpChannel, SmtpSettings

    starttls = bool(spec.get("starttls", False))
    implicit = bool(spec.get("ssl", False))
    if starttls and implicit:
        raise ChannelConfigInvalid(
            f"channel {name}: set either starttls (port 587) or ssl (port 465), not both"
        )
    secret = _secret(spec, "unsubscribe_secret")
    if "{token}" in str(spec.get("unsubscribe_url", "")) and not secret:
        # without a secret of the lender's own, anyone could compute tokens and unsubscribe
        # any address
        raise ChannelConfigInvalid(
            f"channel {name}: unsubscribe_url carries a {{token}}; set unsubscribe_secret_env "
            "to the variable holding a long random secret (the same for the web application)"
        )
    return SmtpChannel(
        SmtpSettings(
            host=_required(name, spec, "host"),
            port=int(spec.get("port", 587 if starttls else 465 if implicit else 25)),
            sender=_required(name, spec, "sender"),
            starttls=starttls,
            ssl=implicit,
            username=str(spec["username"]) if spec.get("username") else None,
            password=_secret(spec, "password"),
            ca_file=str(spec["ca_file"]) if spec.get("ca_file") else None,
            sender_name=_per_language(spec["sender_name"], "")
            if spec.get("sender_name")
            else dict(comms.lender_name),
            reply_to=str(spec["reply_to"]) if spec.get("reply_to") else None,
            unsubscribe_mailto=str(spec["unsubscribe_mailto"])
            if spec.get("unsubscribe_mailto")
            else None,
            unsubscribe_url=str(spec["unsubscribe_url"]) if spec.get("unsubscribe_url") else None,
            unsubscribe_secret=secret.encode() if secret else b"",
            message_id_domain=str(spec["message_id_domain"])
            if spec.get("message_id_domain")
            else None,
            timeout=float(spec.get("timeout", 30)),
            max_idle=float(spec.get("max_idle", 60)),
        ),
        name=name,
    )


def _webhook(name: str, kind: str, spec: Mapping[str, Any], comms: CommsConfig) -> Channel:
    from arrears.channels.webhook import WebhookChannel, WebhookSettings

    secret = _secret(spec, "secret")
    if not secret:
        raise ChannelConfigInvalid(
            f"channel {name}: kind {kind} needs 'secret_env' (the environment variable holding "
            "the signing secret shared with the receiving backend)"
        )
    url = _required(name, spec, "url")
    if not url.startswith(("https://", "http://")):
        raise ChannelConfigInvalid(f"channel {name}: url {url!r} must start with https://")
    return WebhookChannel(
        WebhookSettings(
            url=url,
            secret=secret.encode(),
            kind=kind,
            timeout=float(spec.get("timeout", 10)),
            callback_number=str(spec.get("callback_number", comms.callback_number)),
            lender_name=dict(comms.lender_name),
            resend_safe=bool(spec.get("resend_safe", True)),
        ),
        name=name,
    )


def load_channels_file(path: Path | str) -> ChannelsFile:
    path = Path(path)
    if not path.exists():
        raise ChannelConfigInvalid(f"no channels file at {path}; see docs/channels.example.yaml")
    raw = path.read_text("utf-8")
    data = tomllib.loads(raw) if path.suffix == ".toml" else yaml.safe_load(raw)
    return parse_channels(data or {})


def parse_channels(data: Mapping[str, Any]) -> ChannelsFile:
    comms = CommsConfig()
    if "lender_name" in data:
        comms.lender_name = _per_language(data["lender_name"], "")
    if "callback_number" in data:
        comms.callback_number = str(data["callback_number"])
    if "link_base" in data:
        comms.link_base = str(data["link_base"])
    adapters = {str(k): dict(v) for k, v in (data.get("channels") or {}).items()}
    rates = {k: float(v["rate"]) for k, v in adapters.items() if v.get("rate")}
    return ChannelsFile(comms, adapters, rates)
