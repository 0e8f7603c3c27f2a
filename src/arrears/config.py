"""Settings from the command line and the environment; read once, at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///arrears.db"


@dataclass(frozen=True)
class Lender:
    """What a script says about the lender: its name per language and the call-back number."""

    name: Mapping[str, str] = field(
        default_factory=lambda: {"zh-CN": "示例消费金融", "en": "Example Consumer Finance"}
    )
    callback_number: str = "400-000-0000"

    def name_in(self, language: str) -> str:
        return self.name.get(language) or next(iter(self.name.values()), "")

    @classmethod
    def parse(cls, names: str | None, callback_number: str | None) -> Lender:
        """`"zh-CN=示例消费金融;en=Example Consumer Finance"` or one name for every language."""
        default = cls()
        parsed: dict[str, str] = {}
        for part in (names or "").split(";"):
            language, eq, name = part.partition("=")
            if eq and language.strip() and name.strip():
                parsed[language.strip()] = name.strip()
            elif part.strip():
                parsed = {lang: part.strip() for lang in default.name}
        return cls(
            name=parsed or dict(default.name),
            callback_number=(callback_number or "").strip() or default.callback_number,
        )


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    key_file: Path = Path(".arrears/keys.json")
    keys_json: str | None = None
    rule_pack: str = "cn"
    outbox_dir: Path = Path(".arrears/outbox")
    lab_report: Path = Path(".arrears/lab/optimise.json")  # the optimiser's last report
    audit_anchor_dir: Path | None = None  # a second place for the audit log's signed head
    webhook_allow_private: bool = False  # webhooks to loopback/private addresses (operator's call)
    # the dialler (docs/dialler.md): adapter "baresip" | "webhook" | "none"
    dialer: str = "baresip"
    baresip_binary: str = "baresip"
    # number -> SIP URI: a template, or "prefix=template;...;*=default"
    sip_routes: str = "sip:{number}@127.0.0.1:5070"
    recordings_dir: Path = Path(".arrears/recordings")
    ring_timeout_seconds: float = 30.0
    dialer_webhook_url: str | None = None  # the cloud call centre's "start a call" endpoint
    dialer_webhook_secret: str | None = None  # HMAC key shared with it (from the environment)
    # what the agent's call scripts say about the lender: its name per language, the number to
    # call back ($ARREARS_LENDER_NAME: "zh-CN=示例消费金融;en=Example Consumer Finance" or one
    # name for every language; $ARREARS_CALLBACK_NUMBER)
    lender: Lender = field(default_factory=lambda: Lender())
    # the lender's clock: pages show times of day in this zone ($ARREARS_TIMEZONE)
    timezone: str = "Asia/Shanghai"

    @classmethod
    def from_env(cls, database: str | None = None) -> Settings:
        env = os.environ
        return cls(
            database_url=database or env.get("ARREARS_DATABASE_URL") or DEFAULT_DATABASE_URL,
            key_file=Path(env.get("ARREARS_KEY_FILE", ".arrears/keys.json")),
            keys_json=env.get("ARREARS_KEYS"),
            rule_pack=env.get("ARREARS_RULE_PACK", "cn"),
            outbox_dir=Path(env.get("ARREARS_OUTBOX_DIR", ".arrears/outbox")),
            lab_report=Path(env.get("ARREARS_LAB_REPORT", ".arrears/lab/optimise.json")),
            webhook_allow_private=env.get("ARREARS_WEBHOOK_ALLOW_PRIVATE", "") in ("1", "true"),
            audit_anchor_dir=(
                Path(env["ARREARS_AUDIT_ANCHOR_DIR"])
                if env.get("ARREARS_AUDIT_ANCHOR_DIR")
                else None
            ),
            dialer=env.get("ARREARS_DIALER", "baresip"),
            baresip_binary=env.get("ARREARS_BARESIP", "baresip"),
            sip_routes=env.get("ARREARS_SIP_ROUTES", "sip:{number}@127.0.0.1:5070"),
            recordings_dir=Path(env.get("ARREARS_RECORDINGS_DIR", ".arrears/recordings")),
            ring_timeout_seconds=float(env.get("ARREARS_RING_TIMEOUT", "30")),
            dialer_webhook_url=env.get("ARREARS_DIALER_WEBHOOK_URL"),
            dialer_webhook_secret=env.get("ARREARS_DIALER_WEBHOOK_SECRET"),
            lender=Lender.parse(env.get("ARREARS_LENDER_NAME"), env.get("ARREARS_CALLBACK_NUMBER")),
            timezone=env.get("ARREARS_TIMEZONE") or "Asia/Shanghai",
        )
