"""Settings from the command line and the environment; read once, at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///arrears.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    key_file: Path = Path(".arrears/keys.json")
    keys_json: str | None = None
    rule_pack: str = "cn"
    outbox_dir: Path = Path(".arrears/outbox")
    audit_anchor_dir: Path | None = None  # a second place for the audit log's signed head

    @classmethod
    def from_env(cls, database: str | None = None) -> Settings:
        env = os.environ
        return cls(
            database_url=database or env.get("ARREARS_DATABASE_URL") or DEFAULT_DATABASE_URL,
            key_file=Path(env.get("ARREARS_KEY_FILE", ".arrears/keys.json")),
            keys_json=env.get("ARREARS_KEYS"),
            rule_pack=env.get("ARREARS_RULE_PACK", "cn"),
            outbox_dir=Path(env.get("ARREARS_OUTBOX_DIR", ".arrears/outbox")),
            audit_anchor_dir=(
                Path(env["ARREARS_AUDIT_ANCHOR_DIR"])
                if env.get("ARREARS_AUDIT_ANCHOR_DIR")
                else None
            ),
        )
