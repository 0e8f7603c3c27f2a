"""The late stages of a case: charge-off, settlement offers, the write-offs they record, and
debt sales. Amounts in the currency's minor unit, shares in parts per million (70% = 700000)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from arrears.store.tables import metadata, money

# An entry per account, reason and day: the balance a charge-off wrote off (still owed: what
# comes in later is a recovery), or the remainder a settlement forgave.
write_offs = Table(
    "write_offs",
    metadata,
    Column("account_id", String(64), ForeignKey("accounts.id"), primary_key=True),
    Column("reason", String(16), primary_key=True),  # charge_off | settlement
    Column("business_date", Date, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id")),
    Column("offer_id", Integer, ForeignKey("settlement_offers.id")),
    Column("currency", String(3), nullable=False),
    money("amount"),
    Column("dpd", Integer, nullable=False, server_default=text("0")),
    Index("ix_write_offs_business_date", "business_date"),
)

settlement_offers = Table(
    "settlement_offers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    # proposed | approved | settled | lapsed | cancelled
    Column("status", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    money("balance"),  # the case's balance when offered
    money("amount"),  # what the borrower pays
    Column("pay_ppm", Integer, nullable=False),
    Column("proposed_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("proposed_by", String(64), nullable=False),
    Column("proposer_role", String(16), nullable=False),
    Column("approved_by", String(64)),
    Column("approved_role", String(16)),
    Column("approved_on", Date),
    Column("ended_on", Date),
    money("paid_amount"),
    Column("note", Text),
    Index("ix_settlement_offers_case_id", "case_id"),
    Index("ix_settlement_offers_status", "status"),
)

debt_sales = Table(
    "debt_sales",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sold_on", Date, nullable=False),
    Column("buyer", String(128), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("accounts", Integer, nullable=False),
    Column("sold_by", String(64), nullable=False),
    Column("sold_at", DateTime(timezone=True), nullable=False),
)

# An account is sold once: its key is the account.
debt_sale_accounts = Table(
    "debt_sale_accounts",
    metadata,
    Column("account_id", String(64), ForeignKey("accounts.id"), primary_key=True),
    Column("sale_id", Integer, ForeignKey("debt_sales.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    money("balance"),
    Index("ix_debt_sale_accounts_sale_id", "sale_id"),
)
