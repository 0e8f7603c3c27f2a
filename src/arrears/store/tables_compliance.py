"""Compliance and privacy: the gate's decisions (with every rule consulted), borrower flags and
contact preferences, holidays, overrides, the rule-pack setting, and the hash-chained audit log.
Opt-outs live in the communications area (`comm_suppressions`); the gate reads them there."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from arrears.store.tables import metadata

# A decision's content, once per kind of decision: the nightly batch decides a few hundred kinds
# for hundreds of thousands of actions, and the send-time batch's alike decisions share one too.
# Stages: at planning ('plan'), at send time ('send'), when a call is placed ('dial'), carried
# over to a later day ('carry').
gate_rulings = Table(
    "gate_rulings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch", String(32), nullable=False, index=True),
    Column("business_date", Date, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("pack", String(8), nullable=False),
    Column("decided_for", DateTime(timezone=True), nullable=False),  # the moment judged
    Column("verdict", String(8), nullable=False),  # allow | defer | block
    Column("scheduled_at", DateTime(timezone=True)),
    Column("rule_id", String(64)),
    Column("reason", Text, nullable=False),
    Column("consulted", Text, nullable=False),  # rule ids, comma separated, in pack order
    Column("violations", Text, nullable=False),  # JSON list of objections raised
)

# One narrow row per action decided, naming its ruling. Date, stage, verdict and rule are the
# ruling's, copied: the officer's report counts by them and the carry-over finds its own
# without the join. `ruling_id` has no foreign key: its check per row cost as much as the
# narrower row saved (docs/scaling.md); the rulings have one writer (`compliance/recording.py`),
# which writes them first in the same transaction, and nothing deletes them.
gate_decisions = Table(
    "gate_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("action_id", Integer, ForeignKey("actions.id"), nullable=False, index=True),
    Column("business_date", Date, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("verdict", String(8), nullable=False),
    Column("rule_id", String(64)),
    Column("ruling_id", Integer, nullable=False),
    Index("ix_gate_decisions_day_verdict_rule", "business_date", "verdict", "rule_id"),
)

# cease | dispute | bankruptcy | deceased | incapacitated | vulnerability | breathing_space |
# attorney; a flag holds from `since` to `until` (inclusive) unless lifted earlier.
borrower_flags = Table(
    "borrower_flags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("borrower_id", String(64), ForeignKey("borrowers.id"), nullable=False, index=True),
    Column("flag", String(24), nullable=False),
    Column("since", Date, nullable=False),
    Column("until", Date),
    Column("lifted_on", Date),
    Column("note", Text),
    Column("set_by", String(64), nullable=False),
    Column("set_at", DateTime(timezone=True), nullable=False),
)

# What the borrower told us: hours agreed outside the pack's window, hours that do not suit,
# channels not to use. Windows are "HH:MM-HH:MM" separated by commas; channels by spaces.
contact_preferences = Table(
    "contact_preferences",
    metadata,
    Column("borrower_id", String(64), ForeignKey("borrowers.id"), primary_key=True),
    Column("agreed_hours", Text, nullable=False, server_default=""),
    Column("inconvenient_hours", Text, nullable=False, server_default=""),
    Column("refused_channels", Text, nullable=False, server_default=""),
    Column("updated_on", Date, nullable=False),
    Column("updated_by", String(64), nullable=False),
)

compliance_holidays = Table(
    "compliance_holidays",
    metadata,
    Column("pack", String(8), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("name", String(128), nullable=False),
)

# A compliance officer lets one action past one rule, with a reason (audited).
compliance_overrides = Table(
    "compliance_overrides",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("action_id", Integer, ForeignKey("actions.id"), nullable=False, index=True),
    Column("rule_id", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("by", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

compliance_settings = Table(
    "compliance_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

# A jurisdiction ("US-CA") or a prefix ("US-*") and the rule pack its borrowers are judged
# under; a borrower matching none is judged under the portfolio default (`compliance_settings`).
compliance_jurisdictions = Table(
    "compliance_jurisdictions",
    metadata,
    Column("pattern", String(16), primary_key=True),
    Column("pack", String(8), nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

# A dispute of the debt: collection of the borrower's case pauses (the borrower's 'dispute'
# flag) until it is verified or withdrawn, by its owner before `due_on`.
disputes = Table(
    "disputes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("borrower_id", String(64), ForeignKey("borrowers.id"), nullable=False),
    Column("account_id", String(64)),
    Column("case_id", Integer, ForeignKey("cases.id")),
    Column("raised_on", Date, nullable=False),
    Column("source", String(16), nullable=False),  # agent | api | borrower | import | officer
    Column("reason", Text),
    Column("owner", String(64), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("status", String(16), nullable=False, server_default="open"),  # open|verified|withdrawn
    Column("resolved_on", Date),
    Column("resolved_by", String(64)),
    Column("resolution_note", Text),
    Column("recorded_by", String(64), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_disputes_borrower_status", "borrower_id", "status"),
)

# Append-only and hash-chained: hash = HMAC(key, prev_hash | seq | at | actor | kind | subject |
# detail). `arrears audit verify` recomputes the chain and names the first broken entry.
audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("kind", String(32), nullable=False),  # reveal | export | override | rule_pack | login …
    Column("subject", String(128), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_kind_at", "kind", "at"),
)
