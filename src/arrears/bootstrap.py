"""Wiring: the one place where settings become an engine, a key ring and channels."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from arrears.compliance.batch import gate_planned_actions
from arrears.compliance.loading import load_pack, pack_choice
from arrears.config import Settings
from arrears.engine.gate import DayGate
from arrears.engine.run_day import RunReport, run_day
from arrears.observability import logs, metrics
from arrears.privacy import audit
from arrears.privacy.keycheck import open_key_ring
from arrears.privacy.keyring import KeyRing
from arrears.store.db import make_engine

if TYPE_CHECKING:  # the dialler and its HTTP client load only for the commands that dial
    from arrears.channels.telephony.port import Dialer
    from arrears.channels.telephony.recordings import RecordingStore


@dataclass
class App:
    settings: Settings
    _overrides: dict[str, object] = field(default_factory=dict)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def keyring(self) -> KeyRing:
        s = self.settings
        anchors = (s.audit_anchor_dir,) if s.audit_anchor_dir is not None else ()
        return open_key_ring(
            self.engine, keys_json=s.keys_json, key_file=s.key_file, anchor_dirs=anchors
        )

    @cached_property
    def gate(self) -> DayGate:
        """The rule pack's gate over the day's planned actions; there is no other. It fails
        closed: a pack that cannot load stops the run (`RulePackUnavailable`)."""
        return gate_planned_actions

    @cached_property
    def recordings(self) -> RecordingStore:
        """Where call recordings are kept (docs/dialler.md)."""
        from arrears.channels.telephony.recordings import RecordingStore

        return RecordingStore(self.settings.recordings_dir)

    @cached_property
    def dialer(self) -> Dialer:
        """The dialler the settings name: baresip softphones, a cloud call centre's webhooks,
        or none (every call fails with a message saying so)."""
        from arrears.channels.telephony.factory import make_dialer

        return make_dialer(self.settings, self.recordings)

    def run_day(
        self,
        as_of: date,
        *,
        by: str | None = None,
        at: datetime | None = None,
        spark: Any | None = None,
        **kw: Any,
    ) -> RunReport:
        """The daily run for `as_of`, each borrower under the rule pack of their jurisdiction
        (the portfolio default from `arrears compliance use-pack`; the settings' pack only when
        the database names none). With `by` (the `arrears run-day` command), the run is
        recorded in the audit log: who ran which date, when, and what it changed. With `spark`
        (`engine.spark.run.SparkOptions`), delinquency, cases and strategy run on Spark by
        borrower shard (docs/spark.md)."""
        with self.engine.connect() as conn:  # every pack in use, before anything is planned
            choice = pack_choice(conn, fallback=self.settings.rule_pack)
        for code in sorted(choice.codes):
            load_pack(code)  # refuse, say why
        if spark is not None:
            from arrears.engine.spark.run import run_day_spark  # pyspark only when asked

            report = run_day_spark(
                self.engine,
                as_of,
                options=spark,
                gate=self.gate,
                rule_pack=self.settings.rule_pack,
                **kw,
            )
        else:
            report = run_day(
                self.engine, as_of, gate=self.gate, rule_pack=self.settings.rule_pack, **kw
            )
        metrics.record_run(report)  # this process's gauges of the run's steps
        logs.run_steps(report)
        detail = {
            "as_of": as_of.isoformat(),
            "payments_posted": report.payments_posted,
            "accounts_changed": report.accounts_changed,
            "cases_opened": report.cases_opened,
            "cases_closed": report.cases_closed,
            "actions_planned": report.actions_planned,
            "messages_enqueued": report.messages_enqueued,
            "quarantined": len(report.quarantined),
        }
        if by is None:
            return report
        with self.engine.begin() as conn:
            audit.append(
                conn,
                self.keyring,
                actor=by,
                kind=audit.AuditKind.RUN,
                subject=f"run:{as_of.isoformat()}",
                detail=detail,
                at=at or datetime.now(UTC),
            )
        return report


def bootstrap(settings: Settings | None = None) -> App:
    return App(settings or Settings.from_env())
