"""How synthetic borrowers and their contacts behave: probabilities, not scripts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Profile(StrEnum):
    ON_TIME = "on_time"
    FORGETFUL = "forgetful"
    PROMISER = "promiser"
    HARDSHIP = "hardship"
    NON_PAYER = "non_payer"


@dataclass(frozen=True)
class Behaviour:
    share: float  # of the portfolio
    misses: float  # chance an instalment in the window is not paid on its due date
    answers: float  # chance the borrower picks up an agent's call
    pays_after_reminder: float  # chance an SMS reminder alone brings the payment
    keeps_promise: float
    keeps_plan: float


BEHAVIOURS: dict[Profile, Behaviour] = {
    Profile.ON_TIME: Behaviour(0.62, 0.02, 0.85, 0.95, 0.95, 0.95),
    Profile.FORGETFUL: Behaviour(0.18, 0.60, 0.60, 0.70, 0.90, 0.90),
    Profile.PROMISER: Behaviour(0.08, 0.70, 0.70, 0.15, 0.50, 0.60),
    Profile.HARDSHIP: Behaviour(0.07, 1.00, 0.10, 0.00, 0.70, 0.90),
    Profile.NON_PAYER: Behaviour(0.05, 1.00, 0.15, 0.02, 0.10, 0.20),
}

CONTACT_PASSES_MESSAGE = 0.70  # a designated contact answers and agrees to pass a message on
CONTACT_REFUSES = 0.08  # ...or asks never to be called again
