"""The strategy lab's scores: one row per open case and business date, written by the nightly
batch (`arrears lab score --as-of D`), joinable by case for the strategy language."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from arrears.store.tables import metadata

lab_scores = Table(
    "lab_scores",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("p_pay_30", Float, nullable=False),
    Column("p_self_cure", Float, nullable=False),
    Column("pay_model", String(64), nullable=False),  # the model versions that scored it
    Column("cure_model", String(64), nullable=False),
    Column("pay_reasons", Text, nullable=False),  # JSON list: top features, signed effect
    Column("cure_reasons", Text, nullable=False),
)

# A score model as deployed: the stored model's bytes with their SHA-256 and card, pending until
# a second person approves it from a business date; a rollback retires it from a date. Per
# score, the latest approval in force on a date is the model the nightly batch scores with.
lab_model_versions = Table(
    "lab_model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", Integer, nullable=False, unique=True),  # 1, 2, … over every score
    Column("score", String(16), nullable=False),  # p_pay_30 | p_self_cure
    Column("model", String(64), nullable=False),  # the trained version, e.g. p_pay_30-3fa1…
    Column("sha256", String(64), nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Column("card", Text, nullable=False),  # JSON: features, metrics
    Column("status", String(16), nullable=False),  # pending | approved | rolled_back
    Column("deployed_by", String(64), nullable=False),
    Column("deployed_at", DateTime(timezone=True), nullable=False),
    Column("approved_by", String(64)),
    Column("approved_at", DateTime(timezone=True)),
    Column("approval_seq", Integer),
    Column("active_from", Date),
    Column("retired_from", Date),
    Column("retired_by", String(64)),
)
