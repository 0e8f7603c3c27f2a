"""late stages: charge-offs, write-offs, settlement offers, debt sales

Revision ID: 0015
Revises: 0014

`write_offs` records per account what a charge-off wrote off and what a settlement forgave;
`settlement_offers` the offers and their approval; `debt_sales` and `debt_sale_accounts` what
was sold, to whom, in which file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _money(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default=sa.text("0"))


def upgrade() -> None:
    op.create_table(
        "settlement_offers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _money("balance"),
        _money("amount"),
        sa.Column("pay_ppm", sa.Integer(), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposer_role", sa.String(16), nullable=False),
        sa.Column("approved_by", sa.String(64)),
        sa.Column("approved_role", sa.String(16)),
        sa.Column("approved_on", sa.Date()),
        sa.Column("ended_on", sa.Date()),
        _money("paid_amount"),
        sa.Column("note", sa.Text()),
    )
    op.create_index("ix_settlement_offers_case_id", "settlement_offers", ["case_id"])
    op.create_index("ix_settlement_offers_status", "settlement_offers", ["status"])
    op.create_table(
        "write_offs",
        sa.Column("account_id", sa.String(64), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("reason", sa.String(16), primary_key=True),
        sa.Column("business_date", sa.Date(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id")),
        sa.Column("offer_id", sa.Integer(), sa.ForeignKey("settlement_offers.id")),
        sa.Column("currency", sa.String(3), nullable=False),
        _money("amount"),
        sa.Column("dpd", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.create_index("ix_write_offs_business_date", "write_offs", ["business_date"])
    op.create_table(
        "debt_sales",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("sold_on", sa.Date(), nullable=False),
        sa.Column("buyer", sa.String(128), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("sold_by", sa.String(64), nullable=False),
        sa.Column("sold_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "debt_sale_accounts",
        sa.Column("account_id", sa.String(64), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("sale_id", sa.Integer(), sa.ForeignKey("debt_sales.id"), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _money("balance"),
    )
    op.create_index("ix_debt_sale_accounts_sale_id", "debt_sale_accounts", ["sale_id"])


def downgrade() -> None:
    op.drop_index("ix_debt_sale_accounts_sale_id", table_name="debt_sale_accounts")
    op.drop_table("debt_sale_accounts")
    op.drop_table("debt_sales")
    op.drop_index("ix_write_offs_business_date", table_name="write_offs")
    op.drop_table("write_offs")
    op.drop_index("ix_settlement_offers_status", table_name="settlement_offers")
    op.drop_index("ix_settlement_offers_case_id", table_name="settlement_offers")
    op.drop_table("settlement_offers")
