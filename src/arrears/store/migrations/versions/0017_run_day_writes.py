"""the daily run's own writes: the foreign keys stay (no schema change)

Revision ID: 0017
Revises: 0016
"""
# Considered for the daily run's speed (docs/scaling.md, "Foreign keys"): dropping or deferring
# the foreign keys of actions.case_id, outbox.action_id and gate_decisions.action_id. They stay
# as they are: each of those tables has writers besides the engine (agents' actions, the
# send-time and dial-time checks, the dispatcher), and a deferred check costs the same look-up
# at commit. The revision is kept so that later revisions keep their numbers.

from __future__ import annotations

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
