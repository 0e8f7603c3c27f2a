"""agency placement: agencies, commission tiers, placement rules, placements, agency tokens and
the payments agencies report

Revision ID: 0012
Revises: 0011

A case matching a placement rule (DPD ≥ 90, no active plan …) is placed with an external
agency; while placed the lender's run plans nothing for it. An integration token bound to an
agency (`agency_tokens`) sees only that agency's placed cases; the payments it reports are
unique per agency payment reference (`agency_payments`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _money(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.BigInteger, nullable=False, server_default=sa.text("0"))


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tier_basis", sa.String(8), nullable=False, server_default="dpd"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "agency_tiers",
        sa.Column("agency_id", sa.String(32), sa.ForeignKey("agencies.id"), primary_key=True),
        sa.Column("from_days", sa.Integer, primary_key=True),
        sa.Column("rate_ppm", sa.Integer, nullable=False),
    )
    op.create_table(
        "placement_rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(32), sa.ForeignKey("agencies.id"), nullable=False),
        sa.Column("min_dpd", sa.Integer, nullable=False),
        sa.Column("max_dpd", sa.Integer),
        sa.Column("no_active_plan", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("priority", sa.Integer, nullable=False, server_default=sa.text("100")),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "placements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("agency_id", sa.String(32), sa.ForeignKey("agencies.id"), nullable=False),
        sa.Column("rule_id", sa.Integer, sa.ForeignKey("placement_rules.id")),
        sa.Column("placed_on", sa.Date, nullable=False),
        sa.Column("dpd_at_placement", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _money("overdue_at_placement"),
        sa.Column("status", sa.String(16), nullable=False, server_default="placed"),
        sa.Column("placed_by", sa.String(64), nullable=False),
        sa.Column("recalled_on", sa.Date),
        sa.Column("recalled_by", sa.String(64)),
        sa.Column("recall_reason", sa.Text),
    )
    op.create_index("ix_placements_agency_id_status", "placements", ["agency_id", "status"])
    op.create_index("ix_placements_case_id", "placements", ["case_id"])
    op.create_index(
        "uq_placements_placed_case",
        "placements",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text("status = 'placed'"),
        postgresql_where=sa.text("status = 'placed'"),
    )
    op.create_table(
        "agency_tokens",
        sa.Column(
            "token_id", sa.String(16), sa.ForeignKey("integration_tokens.id"), primary_key=True
        ),
        sa.Column("agency_id", sa.String(32), sa.ForeignKey("agencies.id"), nullable=False),
    )
    op.create_table(
        "agency_payments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(32), sa.ForeignKey("agencies.id"), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("placement_id", sa.Integer, sa.ForeignKey("placements.id"), nullable=False),
        sa.Column("payment_id", sa.String(64), sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("agency_id", "reference"),
    )


def downgrade() -> None:
    for table in ("agency_payments", "agency_tokens"):
        op.drop_table(table)
    op.drop_index("uq_placements_placed_case", table_name="placements")
    op.drop_index("ix_placements_case_id", table_name="placements")
    op.drop_index("ix_placements_agency_id_status", table_name="placements")
    for table in ("placements", "placement_rules", "agency_tiers", "agencies"):
        op.drop_table(table)
