"""Wiring: the one place where settings become an engine, a key ring and channels."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine

from arrears.config import Settings
from arrears.privacy.keyring import KeyRing
from arrears.store.db import make_engine


@dataclass
class App:
    settings: Settings
    _overrides: dict[str, object] = field(default_factory=dict)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def keyring(self) -> KeyRing:
        return KeyRing.load(self.settings.keys_json, self.settings.key_file)


def bootstrap(settings: Settings | None = None) -> App:
    return App(settings or Settings.from_env())
