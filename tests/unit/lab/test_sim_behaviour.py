"""The demo's borrowers behave as calibrated: the mix pays within a month as often as the
history's new delinquencies cured, and the figures behind it are the Taiwan fit's."""

from __future__ import annotations

import pytest

from arrears.sim import behaviour as bh


def test_the_demo_behaviour_cures_at_the_measured_rate() -> None:
    assert bh.cure_rate(bh.BEHAVIOURS) == pytest.approx(bh.TAIWAN.cure, abs=1e-6)
    # the hand-picked priors alone cure far more often than the history: calibration matters
    assert bh.cure_rate(bh.PRIORS) > bh.TAIWAN.cure + 0.1
    # the demo's mix and volume stay, so a small demo still has cases to work
    assert {p: b.share for p, b in bh.BEHAVIOURS.items()} == {
        p: b.share for p, b in bh.PRIORS.items()
    }


def test_the_measured_volume_when_asked() -> None:
    measured = bh.calibrated(bh.TAIWAN, keep_volume=False)
    assert sum(bh.delinquent_mass(measured).values()) == pytest.approx(bh.TAIWAN.entry)
    assert bh.cure_rate(measured) == pytest.approx(bh.TAIWAN.cure, abs=1e-6)


@pytest.mark.parametrize("cure", [0.999, 1.0])
def test_a_cure_rate_the_priors_cannot_reach_is_refused(cure: float) -> None:
    with pytest.raises(bh.CalibrationUnreachable, match="outside what the profiles"):
        bh.calibrated(bh.Measured(0.05, cure, "made up"))
