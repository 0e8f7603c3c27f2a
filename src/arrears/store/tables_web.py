"""Tables of the web application and the HTTP API: people who sign in, their teams and sessions,
integration tokens, idempotency keys, outbound webhooks and the borrower page's links and codes.

Secrets are never stored as given: passwords are argon2 hashes, session ids, integration tokens,
borrower-page tokens and one-time codes are SHA-256 hashes; webhook secrets are encrypted."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from arrears.store.tables import actions, cases, metadata

teams = Table(
    "teams",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
)

# The work queues (cases.queue) a team works; a case in one of them is visible to the team.
team_queues = Table(
    "team_queues",
    metadata,
    Column("team_id", String(64), ForeignKey("teams.id"), primary_key=True),
    Column("queue", String(32), primary_key=True),
)

users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("display_name", String(128), nullable=False),
    Column("password_hash", String(256), nullable=False),
    # admin | agent | team_lead | manager | compliance
    Column("role", String(16), nullable=False),
    Column("team_id", String(64), ForeignKey("teams.id")),
    Column("language", String(16), nullable=False, server_default="zh-CN"),
    # plan limits for agents: above them a plan waits for a team lead
    Column("plan_max_instalments", Integer, nullable=False, server_default=text("2")),
    Column("plan_max_waiver_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("username", String(64), ForeignKey("users.username"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("remote", String(64)),
    Index("ix_login_attempts_username_at", "username", "at"),
)

# Try counters of sign-in and the borrower page: one row per (kind, keyed hash of the account,
# borrower or source address); `tries` counts the tries taken in the window ending
# `window_ends`. A try is taken with one conditional UPDATE before the answer is checked, so
# concurrent tries cannot exceed the limit (services/auth.py).
auth_throttle = Table(
    "auth_throttle",
    metadata,
    Column("key", String(96), primary_key=True),
    Column("tries", Integer, nullable=False),
    Column("window_ends", DateTime(timezone=True), nullable=False),
)

integration_tokens = Table(
    "integration_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", Text, nullable=False),  # space separated
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),  # NULL: issued before tokens expired
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("token_id", String(16), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("secret_enc", LargeBinary, nullable=False),
    Column("events", Text, nullable=False),  # space separated
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One row per business event, found from the state the daily run leaves; unique per subject.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("payload", Text, nullable=False),
    UniqueConstraint("event", "subject"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("event_id", Integer, ForeignKey("webhook_events.id"), primary_key=True),
    Column("webhook_id", Integer, ForeignKey("webhooks.id"), primary_key=True),
    # pending | delivered | failed
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Column("delivered_at", DateTime(timezone=True)),
)

borrower_links = Table(
    "borrower_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("borrower_id", String(64), ForeignKey("borrowers.id"), nullable=False, index=True),
    Column("case_id", Integer, ForeignKey("cases.id")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("otp_hash", String(64)),
    Column("otp_expires_at", DateTime(timezone=True)),
    Column("failures", Integer, nullable=False, server_default=text("0")),
    Column("verified_session_hash", String(64)),
    Column("verified_until", DateTime(timezone=True)),
)

# Look-ups the workbench makes on the core tables many times a second.
Index("ix_web_cases_status_queue_assigned", cases.c.status, cases.c.queue, cases.c.assigned_to)
Index(
    "ix_web_cases_assigned_open",
    cases.c.assigned_to,
    postgresql_where=text("status = 'open'"),
    sqlite_where=text("status = 'open'"),
)
Index(
    "ix_web_cases_unclaimed_by_amount",
    cases.c.overdue_amount.desc(),
    cases.c.id,
    postgresql_where=text("status = 'open' AND assigned_to IS NULL"),
    sqlite_where=text("status = 'open' AND assigned_to IS NULL"),
)
Index(
    "ix_web_actions_work",
    actions.c.business_date,
    actions.c.priority,
    actions.c.case_id,
    postgresql_where=text("status IN ('planned', 'deferred') AND channel IN ('call', 'task')"),
    sqlite_where=text("status IN ('planned', 'deferred') AND channel IN ('call', 'task')"),
)
