"""The calibrated simulator: the out-of-sample printout against a hand computation on a tiny
history; the fit reproduced by the simulated seed strategy (and broken by a wrong fit); and
invariants of any run."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.lab import optimise as opt
from arrears.lab import simulate as sim
from arrears.lab.history import History, read_history

MONTHS = ("2005-04", "2005-05", "2005-06")


def _tiny() -> History:
    """Four accounts, three months (balance 1,000.00 each: one balance band).
    Apr→May: A M0→M1, B M0→M0, C M1→M0, D M1→M2.  May→Jun: A M1→M0, B M0→M1, C M0→M0, D M2→M2."""
    paths = {"A": "M0 M1 M0", "B": "M0 M0 M1", "C": "M1 M0 M0", "D": "M1 M2 M2"}
    lines = ["account_id,month,dpd_bucket,balance,paid,currency"]
    for acc, path in paths.items():
        for month, bucket in zip(MONTHS, path.split(), strict=True):
            lines.append(f"{acc},{month},{bucket},1000.00,0.00,TWD")
    return read_history(iter(lines), "tiny.csv")


def test_out_of_sample_matches_the_hand_computation() -> None:
    check = sim.check(_tiny(), "2005-05", "2005-06")
    # by hand: Apr→May gives M0 → {M0 1/2, M1 1/2} and M1 → {M0 1/2, M2 1/2}; M2 is unseen and
    # stays. May's counts M0 2, M1 1, M2 1 predict June: M0→M0 1, M0→M1 1, M1→M0 .5, M1→M2 .5,
    # M2→M2 1.
    expected = np.zeros((8, 8))
    expected[0, 0] = expected[0, 1] = 1.0
    expected[1, 0] = expected[1, 2] = 0.5
    expected[2, 2] = 1.0
    assert np.allclose(check.predicted, expected)
    observed = np.zeros((8, 8), dtype=np.int64)
    observed[0, 0] = observed[0, 1] = observed[1, 0] = observed[2, 2] = 1
    assert (check.observed == observed).all()
    err = check.error_pp()
    assert err[1, 0] == pytest.approx(-50.0) and err[1, 2] == pytest.approx(50.0)
    assert err[0, 0] == pytest.approx(0.0) and err[2, 2] == pytest.approx(0.0)
    # rows of sizes 2, 1, 1: |errors| per row / 2 = 0, 50, 0 → weighted mean 12.5 pp
    assert check.mean_abs_error_pp() == pytest.approx(12.5)
    text = sim.render_check(check)
    assert "calibrated on 2005-04..2005-05; predicted 2005-05 -> 2005-06" in text
    assert " 50.0/100.0/-50.0" in text and " 50.0/  0.0/+50.0" in text
    assert "mean absolute error 12.5 pp" in text


def test_predicting_inside_the_window_is_refused() -> None:
    with pytest.raises(sim.CalibrationInvalid, match="inside the calibration window"):
        sim.check(_tiny(), "2005-05", "2005-05")


def _synthetic(seed: int = 1, accounts: int = 6000) -> History:
    """A book with known monthly rolls by balance band: low bands cure more."""
    rng = np.random.default_rng(seed)
    cure = {0: 0.45, 1: 0.30, 2: 0.20}
    lines = ["account_id,month,dpd_bucket,balance,paid,currency"]
    months = ("2005-01", "2005-02", "2005-03", "2005-04", "2005-05", "2005-06")
    for n in range(accounts):
        band = n % 3
        balance = (5_000, 20_000, 80_000)[band]
        bucket = 0
        for month in months:
            lines.append(f"A{n},{month},M{bucket},{balance}.00,{balance // 50}.00,TWD")
            u = rng.random()
            if bucket == 0:
                bucket = 2 if u < 0.10 else 0
            elif u < cure[band]:
                bucket = 0
            else:
                bucket = min(bucket + (u > 0.8), 7)
    return read_history(iter(lines), "synthetic.csv")


def _worst_gap(model: sim.Model, fitted: sim.Fit) -> float:
    out = sim.simulate(model, sim.SEED, cases=20_000, days=90, seed=123)
    rows = out.cells.sum(axis=2)
    got = sim._cure_of(out.cells)
    enough = (rows >= 300) & (fitted.rows() >= 300)
    enough[:, 0] = False
    assert enough.sum() >= 3  # the cells compared: at least M2 in every band
    return float(np.abs(got - fitted.cure())[enough].max())


def test_the_calibrated_seed_reproduces_the_cure_rates_it_was_fitted_to() -> None:
    fitted = sim.fit(_synthetic(), "2005-06")
    assert fitted.cure()[0, 2] == pytest.approx(0.45, abs=0.03)  # the fit reads the book
    model = sim.calibrate(fitted)
    assert _worst_gap(model, fitted) < 0.03
    # a wrong fit — the hazard that ignores the seed's actions — misses by far more
    naive = sim.calibrate(fitted, rounds=0)
    assert _worst_gap(naive, fitted) > 0.06


def test_the_month_end_rolls_follow_the_fit() -> None:
    fitted = sim.fit(_synthetic(), "2005-06")
    model = sim.calibrate(fitted)
    out = sim.simulate(model, sim.SEED, cases=20_000, days=90, seed=7)
    s, i = 1, 2  # mid band, M2: of those not cured, the share that rolled on to M3
    row = out.cells[s, i]
    rolled = row[3] / row[1:].sum()
    expected = fitted.counts[s, i, 3] / fitted.counts[s, i, 1:].sum()
    assert rolled == pytest.approx(expected, abs=0.03)


@pytest.fixture(scope="module")
def model() -> sim.Model:
    return sim.calibrate(sim.fit(_synthetic(accounts=1500), "2005-06"), cases=3000, rounds=2)


SPACE = opt.space()


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(SPACE), st.integers(0, 10_000))
def test_any_run_keeps_its_books(model: sim.Model, params: sim.Params, seed: int) -> None:
    out = sim.simulate(model, params, cases=200, days=45, seed=seed)
    again = sim.simulate(model, params, cases=200, days=45, seed=seed)
    assert (out.recovered, out.calls, out.complaints) == (
        again.recovered,
        again.calls,
        again.complaints,
    )
    assert out.contact_outreaches <= out.calls
    if params.contact_from_day is None:
        assert out.contact_outreaches == 0
    floor = model.floor
    cost = out.sms * floor.sms_cost + out.calls * floor.call_cost
    assert out.cost >= cost and (out.cost - cost) % floor.plan_cost == 0
    assert out.net == out.recovered - out.cost
