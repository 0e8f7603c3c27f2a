"""Wiring: the one place where settings become an engine, a key ring and channels."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from sqlalchemy import Engine

from arrears.config import Settings
from arrears.engine.gate import DayGate, schedule_without_rules
from arrears.engine.run_day import RunReport, run_day
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

    @cached_property
    def gate(self) -> DayGate:
        """The rule pack's gate over the day's planned actions."""
        try:
            from arrears.services.compliance import gate_planned_actions
        except ImportError:  # no rule packs installed: schedule without rules
            return schedule_without_rules
        return gate_planned_actions

    def run_day(self, as_of: date, **kw: Any) -> RunReport:
        return run_day(self.engine, as_of, gate=self.gate, rule_pack=self.settings.rule_pack, **kw)


def bootstrap(settings: Settings | None = None) -> App:
    return App(settings or Settings.from_env())
