"""How synthetic borrowers and their contacts behave: probabilities, not scripts.

The mix of profiles among the borrowers who fall behind is calibrated to a measured history
(`arrears lab simulate` fits it): the share of new delinquencies that is back to current a
month later under the seed strategy is the history's cure rate. How each profile responds to a
reminder, a call or a plan has no history behind it; those figures are priors (docs/lab.md).
The demo keeps its stressed book — many more borrowers fall behind than in the history, so a
small demo has cases to work — and `calibrated(..., keep_volume=False)` gives the history's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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


def cures_in_a_month(profile: Profile, b: Behaviour) -> float:
    """The chance a missed instalment is paid within the month under the seed strategy: the
    day-one reminder works, or else the day-one call is answered and the promise kept. A
    borrower in hardship answers with her hardship, not a promise (sim/floor.py): she cures
    only through a plan, which takes longer than a month."""
    if profile is Profile.HARDSHIP:
        return 0.0
    return 1 - (1 - b.pays_after_reminder) * (1 - b.answers * b.keeps_promise)


@dataclass(frozen=True)
class Measured:
    """Monthly rates of a history, pooled over its segments."""

    entry: float  # share of current accounts delinquent a month later
    cure: float  # share of new delinquencies back to current the month after
    source: str


# arrears lab simulate on the UCI Taiwan book, calibrated on April–August 2005: 106,230
# current account-months, 5,242 of them delinquent a month later; of those, 30.1% cured.
TAIWAN = Measured(entry=0.0493, cure=0.3008, source="UCI Taiwan credit cards, Apr-Aug 2005")

# The response priors of each profile (and the demo's stressed mix, which calibration reshapes).
PRIORS: dict[Profile, Behaviour] = {
    Profile.ON_TIME: Behaviour(0.62, 0.02, 0.85, 0.95, 0.95, 0.95),
    Profile.FORGETFUL: Behaviour(0.18, 0.60, 0.60, 0.70, 0.90, 0.90),
    Profile.PROMISER: Behaviour(0.08, 0.70, 0.70, 0.15, 0.50, 0.60),
    Profile.HARDSHIP: Behaviour(0.07, 1.00, 0.10, 0.00, 0.70, 0.90),
    Profile.NON_PAYER: Behaviour(0.05, 1.00, 0.15, 0.02, 0.10, 0.20),
}


class CalibrationUnreachable(ValueError):
    """The measured cure rate lies outside what the profiles' priors can produce."""


def delinquent_mass(b: dict[Profile, Behaviour]) -> dict[Profile, float]:
    return {p: x.share * x.misses for p, x in b.items()}


def cure_rate(b: dict[Profile, Behaviour]) -> float:
    """The share of missed instalments paid within the month, over the whole mix."""
    mass = delinquent_mass(b)
    return sum(mass[p] * cures_in_a_month(p, b[p]) for p in b) / sum(mass.values())


def responsive(priors: dict[Profile, Behaviour], factor: float) -> dict[Profile, Behaviour]:
    """The priors with every borrower's chance to pay after a reminder and to keep a promise
    scaled by `factor` (capped at 1)."""
    return {
        p: replace(
            b,
            pays_after_reminder=min(1.0, b.pays_after_reminder * factor),
            keeps_promise=min(1.0, b.keeps_promise * factor),
        )
        for p, b in priors.items()
    }


def calibrated(
    measured: Measured, priors: dict[Profile, Behaviour] = PRIORS, *, keep_volume: bool = True
) -> dict[Profile, Behaviour]:
    """Fit how readily borrowers pay — the chance a reminder brings the payment and that a
    promise is kept, one factor for every profile — so that the mix's monthly cure rate is the
    measured one (bisection; the cure rate grows with the factor). The mix of profiles is the
    demo's; its volume of delinquency too (keep_volume), or the measured entry rate, reached by
    scaling how often every profile misses an instalment."""
    low, high = 0.0, 1 / max(max(b.pays_after_reminder, b.keeps_promise) for b in priors.values())
    if (
        not cure_rate(responsive(priors, low))
        <= measured.cure
        <= cure_rate(responsive(priors, high))
    ):
        raise CalibrationUnreachable(
            f"a cure rate of {measured.cure:.3f} is outside what the profiles' priors allow"
        )
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (
            (mid, high) if cure_rate(responsive(priors, mid)) < measured.cure else (low, mid)
        )
    out = responsive(priors, (low + high) / 2)
    if keep_volume:
        return out
    scale = measured.entry / sum(delinquent_mass(out).values())
    return {p: replace(b, misses=min(1.0, b.misses * scale)) for p, b in out.items()}


BEHAVIOURS: dict[Profile, Behaviour] = calibrated(TAIWAN)

CONTACT_PASSES_MESSAGE = 0.70  # a designated contact answers and agrees to pass a message on
CONTACT_REFUSES = 0.08  # ...or asks never to be called again
