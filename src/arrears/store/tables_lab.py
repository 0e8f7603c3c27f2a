"""The strategy lab's scores: one row per open case and business date, written by the nightly
batch (`arrears lab score --as-of D`), joinable by case for the strategy language."""

from __future__ import annotations

from sqlalchemy import Column, Date, Float, ForeignKey, Integer, String, Table, Text

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
