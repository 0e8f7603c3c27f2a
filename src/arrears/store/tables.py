"""The core schema (SQLAlchemy Core). Amount columns hold integers in the currency's minor
unit (fen, cents); rates hold integers in parts per million (0.18 -> 180000). Personal data
columns end in `_enc` (AES-GCM ciphertext) or `_index` (keyed blind index)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def money(name: str, **kw: object) -> Column[int]:
    return Column(name, BigInteger, nullable=False, server_default=text("0"), **kw)  # type: ignore[arg-type]


# the borrower's own number proved wrong or out of service
PHONE_UNUSABLE = "phone_status IN ('wrong', 'out_of_service')"

borrowers = Table(
    "borrowers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name_enc", LargeBinary),
    Column("phone_enc", LargeBinary),
    Column("phone_index", String(32), index=True),
    Column("email_enc", LargeBinary),
    Column("id_number_enc", LargeBinary),
    Column("address_enc", LargeBinary),
    Column("timezone", String(64), nullable=False, server_default="Asia/Shanghai"),
    Column("language", String(16), nullable=False, server_default="zh-CN"),
    Column("region", String(32)),
    Column("risk_score", Integer),
    # set when the borrower's own number proves wrong or out of service
    Column("phone_status", String(16), nullable=False, server_default="ok"),
    Column("anonymised_on", Date),
    # CN, US-CA, GB, …: chooses the rule pack (compliance_jurisdictions); none: the default
    Column("jurisdiction", String(16)),
    # the daily run's look-up of the borrowers it cannot call (their cases are unreachable):
    # the few such rows, not a scan of every borrower (migration 0030)
    Index(
        "ix_borrowers_phone_unusable",
        "id",
        sqlite_where=text(PHONE_UNUSABLE),
        postgresql_where=text(PHONE_UNUSABLE),
    ),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("borrower_id", String(64), ForeignKey("borrowers.id"), nullable=False, index=True),
    Column("name_enc", LargeBinary),
    Column("relationship", String(32), nullable=False),
    Column("phone_enc", LargeBinary),
    Column("phone_index", String(32), index=True),
    Column("consent", Boolean, nullable=False, server_default=text("false")),
    # active | refused | wrong_number | opted_out
    Column("status", String(16), nullable=False, server_default="active"),
)

# an account is behind while it is past due or has an amount overdue (the stored `behind`)
BEHIND = "(dpd > 0 OR overdue_amount > 0)"

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("borrower_id", String(64), ForeignKey("borrowers.id"), nullable=False, index=True),
    Column("product", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    money("principal"),
    Column("annual_rate_ppm", Integer, nullable=False, server_default=text("0")),
    Column("penalty_rate_ppm", Integer, nullable=False, server_default=text("0")),
    Column("opened_on", Date, nullable=False),
    # oldest_first_penalty_fee_interest_principal | interest_principal_penalty_fee
    Column(
        "waterfall",
        String(48),
        nullable=False,
        server_default="oldest_first_penalty_fee_interest_principal",
    ),
    # state written by the daily run
    Column("status", String(16), nullable=False, server_default="active"),
    Column("dpd", Integer, nullable=False, server_default=text("0")),
    Column("bucket", String(8), nullable=False, server_default="M0"),
    money("overdue_amount"),
    money("outstanding"),
    money("credit_balance"),
    Column("penalty_accrued_through", Date),
    Column("state_as_of", Date),
    # past due or in arrears: changes only when the account falls behind or catches up, so the
    # nightly growth of DPD is written in place (no index reads `dpd`, see migration 0028)
    Column("behind", Boolean, Computed(BEHIND, persisted=True)),
    # the daily run's look-ups of the accounts behind, by borrower and by id: a query reaches
    # them with `behind AND <its own condition>` (the accounts to assess wait in
    # `unassessed_accounts`: no index reads `state_as_of`, see store/unassessed.py)
    Index(
        "ix_accounts_past_due",
        "borrower_id",
        sqlite_where=text("behind"),
        postgresql_where=text("behind"),
    ),
    Index(
        "ix_accounts_in_arrears", "id", sqlite_where=text("behind"), postgresql_where=text("behind")
    ),
)

# Accounts whose `state_as_of` is NULL, put here by triggers on `accounts` (store/unassessed.py)
# and taken out by the assessment. No foreign key: a key checked per row would double the cost
# of loading a book; an id without an account is dropped with the assessed ones.
unassessed_accounts = Table(
    "unassessed_accounts",
    metadata,
    Column("account_id", String(64), primary_key=True),
)

# A due item with some part unpaid, and its due date only while it is (NULL once paid): the
# stored column `open_due_on`, indexed. A column rather than an index of the expression, so that
# the night's penalty, which changes no indexed value of an item still open, rewrites the item
# on its own page (PostgreSQL's heap-only update: no index touched; `due_items` keeps a tenth of
# each page free for it, migration 0025).
OPEN_ITEM = (
    "(principal > paid_principal OR interest > paid_interest OR fee > paid_fee"
    " OR penalty > paid_penalty)"
)
OPEN_DUE_ON = f"(CASE WHEN {OPEN_ITEM} THEN due_on END)"

due_items = Table(
    "due_items",
    metadata,
    Column("account_id", String(64), ForeignKey("accounts.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("due_on", Date, nullable=False),
    money("principal"),
    money("interest"),
    money("fee"),
    money("penalty"),
    money("paid_principal"),
    money("paid_interest"),
    money("paid_fee"),
    money("paid_penalty"),
    money("waived"),
    Column("open_due_on", Date, Computed(OPEN_DUE_ON, persisted=True)),
    Index("ix_due_items_due_on", "due_on"),
    # unpaid items by due date: those already due are the few in arrears; with each item's
    # account, the night's list of accounts with something overdue is read from the index alone
    Index(
        "ix_due_items_open_due_on",
        "open_due_on",
        "account_id",
        sqlite_where=text("open_due_on IS NOT NULL"),
        postgresql_where=text("open_due_on IS NOT NULL"),
    ),
)

payments = Table(
    "payments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False, index=True),
    money("amount"),
    Column("currency", String(3), nullable=False),
    Column("received_on", Date, nullable=False),
    Column("source", String(16), nullable=False, server_default="host"),
    Column("posted_on", Date),
    Index("ix_payments_unposted", "posted_on", "received_on"),
)

allocations = Table(
    "allocations",
    metadata,
    Column("payment_id", String(64), ForeignKey("payments.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),  # due item seq; 0 = credit balance
    Column("component", String(16), primary_key=True),
    Column("account_id", String(64), nullable=False, index=True),
    money("amount"),
)

delinquency_history = Table(
    "delinquency_history",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("dpd", Integer, nullable=False),
    Column("bucket", String(8), nullable=False),
    money("overdue_amount"),
    Index("ix_delinquency_history_as_of", "as_of"),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("borrower_id", String(64), ForeignKey("borrowers.id"), nullable=False, index=True),
    Column("opened_on", Date, nullable=False),
    Column("closed_on", Date),
    # open | cured | paid_off | settled | charged_off
    Column("status", String(16), nullable=False, server_default="open"),
    Column("currency", String(3), nullable=False),
    money("overdue_at_open"),
    Column("dpd", Integer, nullable=False, server_default=text("0")),
    Column("bucket", String(8), nullable=False, server_default="M0"),
    money("overdue_amount"),
    Column("strategy", String(64), nullable=False, server_default="seed"),
    Column("variant", String(32), nullable=False, server_default="champion"),
    Column("hardship", String(32)),
    Column("hardship_note", Text),
    Column("unreachable_on", Date),
    Column("last_contact_on", Date),
    Column("queue", String(32), nullable=False, server_default="early"),
    Column("assigned_to", String(64)),
    Index(
        "uq_cases_open_borrower",
        "borrower_id",
        unique=True,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
)

actions = Table(
    "actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # found by case through the unique key below, which starts with it
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("step", String(64), nullable=False),
    Column("target_type", String(16), nullable=False),  # borrower | contact
    Column("target_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),  # sms | email | push | letter | call
    Column("template", String(64), nullable=False),
    # planned | queued | sent | delivered | failed | done | deferred | blocked | cancelled
    Column("status", String(16), nullable=False, server_default="planned"),
    Column("rule_id", String(64)),
    Column("reason", Text),
    Column("scheduled_at", DateTime(timezone=True)),
    Column("priority", Integer, nullable=False, server_default=text("50")),
    Column("completed_at", DateTime(timezone=True)),
    # the gate's decision at planning (`gate_rulings`; every later stage's is in
    # `gate_decisions`): each action is planned and judged once, so its ruling is written with
    # it rather than as a row of its own (migration 0032). No foreign key, as for
    # `gate_decisions.ruling_id`: the gate writes the rulings first, and nothing deletes them
    Column("ruling_id", Integer),
    UniqueConstraint("case_id", "business_date", "step", "target_type", "target_id", "channel"),
    Index("ix_actions_business_date_status", "business_date", "status"),
)

interactions = Table(
    "interactions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("action_id", Integer, ForeignKey("actions.id")),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target_type", String(16), nullable=False),
    Column("target_id", String(64), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("hardship", String(32)),
    Column("note", Text),
    Column("agent", String(64)),
    Index("ix_interactions_action_id", "action_id"),
    Index("ix_interactions_target_id", "target_id"),
    Index("ix_interactions_business_date_channel", "business_date", "channel"),
)

promises = Table(
    "promises",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("made_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    money("amount"),
    Column("currency", String(3), nullable=False),
    # open | kept | partly_kept | broken
    Column("status", String(16), nullable=False, server_default="open"),
    money("paid_amount"),
    Column("settled_on", Date),
    Column("made_by", String(64)),  # the agent who took the promise
)

plans = Table(
    "plans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    # proposed | active | completed | broken | cancelled
    Column("status", String(16), nullable=False, server_default="proposed"),
    Column("proposed_on", Date, nullable=False),
    Column("activated_on", Date),
    Column("ended_on", Date),
    Column("currency", String(3), nullable=False),
    money("total"),
    money("waived"),
    Column("instalments", Integer, nullable=False),
    Column("first_due_on", Date, nullable=False),
    Column("grace_days", Integer, nullable=False, server_default=text("3")),
    Column("waive_penalty", Boolean, nullable=False, server_default=text("false")),
    Column("waive_interest", Boolean, nullable=False, server_default=text("false")),
    Column("proposed_by", String(64)),
    Column("approved_by", String(64)),
    Column("reason", Text),
    # the team lead's decision on a proposed plan: who, when, and the reason (a rejection's)
    Column("decided_by", String(64)),
    Column("decided_at", DateTime(timezone=True)),
    Column("decision_note", Text),
)

plan_instalments = Table(
    "plan_instalments",
    metadata,
    Column("plan_id", Integer, ForeignKey("plans.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("due_on", Date, nullable=False),
    money("amount"),
    money("paid_amount"),
    # pending | paid | missed
    Column("status", String(16), nullable=False, server_default="pending"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("action_id", Integer, ForeignKey("actions.id"), unique=True),
    Column("channel", String(16), nullable=False),
    Column("template", String(64), nullable=False),
    Column("language", String(16), nullable=False),
    Column("target_type", String(16), nullable=False),
    Column("target_id", String(64), nullable=False),
    # pending | claimed | sending | sent | delivered | failed | dead | unknown | blocked
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("not_before", DateTime(timezone=True)),
    Column("provider_id", String(128)),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    # the dispatcher's claim: which worker holds the row (`claimed`, `sending`), and until when
    Column("claimed_by", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Index("ix_outbox_status_not_before", "status", "not_before"),
    # a message has a provider's id once sent: the rows still to send are not in the index
    Index(
        "ix_outbox_provider_id",
        "provider_id",
        sqlite_where=text("provider_id IS NOT NULL"),
        postgresql_where=text("provider_id IS NOT NULL"),
    ),
)

run_log = Table(
    "run_log",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("step", String(32), primary_key=True),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("rows", Integer, nullable=False, server_default=text("0")),
)

# Accounts the daily run sets aside: their rows would take its sums past what it computes
# exactly (see engine/quarantine.py). Their payments stay unposted and their figures as they
# were until the rows are corrected; the next run then releases them.
quarantined_accounts = Table(
    "quarantined_accounts",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("since", Date, nullable=False),
    Column("reason", String(300), nullable=False),
)
