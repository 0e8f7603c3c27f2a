"""gate rulings: a decision's content once per kind, a narrow gate_decisions row per action

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# what a ruling holds, besides its id; the decisions' rows kept the same columns until now
CONTENT = (
    "batch",
    "business_date",
    "stage",
    "pack",
    "decided_for",
    "verdict",
    "scheduled_at",
    "rule_id",
    "reason",
    "consulted",
    "violations",
)
WIDE = ("batch", "pack", "decided_for", "scheduled_at", "reason", "consulted", "violations")


def _wide_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("batch", sa.String(length=32), nullable=True),
        sa.Column("pack", sa.String(length=8), nullable=True),
        sa.Column("decided_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("consulted", sa.Text(), nullable=True),
        sa.Column("violations", sa.Text(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "gate_rulings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("pack", sa.String(length=8), nullable=False),
        sa.Column("decided_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("consulted", sa.Text(), nullable=False),
        sa.Column("violations", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_rulings")),
    )
    op.create_index(op.f("ix_gate_rulings_batch"), "gate_rulings", ["batch"], unique=False)
    with op.batch_alter_table("gate_decisions") as batch_op:
        batch_op.add_column(sa.Column("ruling_id", sa.Integer(), nullable=True))
    # alike decisions share a ruling: the one of the first row with that content (NULLs of
    # scheduled_at and rule_id are alike in a partition, as they are nowhere in a join)
    names = ", ".join(CONTENT)
    op.execute(
        f"""INSERT INTO gate_rulings (id, {names})
            SELECT id, {names} FROM gate_decisions
            WHERE id IN (SELECT MIN(id) FROM gate_decisions GROUP BY {names})"""
    )
    op.execute(
        f"""UPDATE gate_decisions SET ruling_id = f.first
            FROM (SELECT id, MIN(id) OVER (PARTITION BY {names}) AS first
                  FROM gate_decisions) f
            WHERE f.id = gate_decisions.id"""
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('gate_rulings', 'id'), "
            "COALESCE((SELECT MAX(id) FROM gate_rulings), 0) + 1, false)"
        )
    with op.batch_alter_table("gate_decisions") as batch_op:
        # no foreign key on ruling_id: see tables_compliance.gate_decisions
        batch_op.alter_column("ruling_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index(batch_op.f("ix_gate_decisions_batch"))
        for name in WIDE:
            batch_op.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("gate_decisions") as batch_op:
        for column in _wide_columns():
            batch_op.add_column(column)
    op.execute(
        f"""UPDATE gate_decisions SET {", ".join(f"{c} = r.{c}" for c in WIDE)}
            FROM gate_rulings r WHERE r.id = gate_decisions.ruling_id"""
    )
    with op.batch_alter_table("gate_decisions") as batch_op:
        for column in _wide_columns():
            if column.name != "scheduled_at":
                batch_op.alter_column(column.name, existing_type=column.type, nullable=False)
        batch_op.create_index(batch_op.f("ix_gate_decisions_batch"), ["batch"], unique=False)
        batch_op.drop_column("ruling_id")
    op.drop_index(op.f("ix_gate_rulings_batch"), table_name="gate_rulings")
    op.drop_table("gate_rulings")
