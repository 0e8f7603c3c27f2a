"""The optimiser on the simulator calibrated to the Taiwan book (the committed subset always,
the full file where present): its strategy file passes `arrears strategy check` and plans as
its parameters say; and a hand-made parameter set of every kind round-trips too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arrears.cli import build
from arrears.lab import optimise as opt
from arrears.lab import simulate as sim
from arrears.lab import taiwan
from arrears.lab.history import load_history
from arrears.strategy import loader


def _check(tmp_path: Path, path: Path) -> str:
    db = f"sqlite:///{tmp_path / 'unused.db'}"
    result = CliRunner().invoke(build(), ["--database", db, "strategy", "check", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def model(taiwan_raw: Path, tmp_path: Path) -> sim.Model:
    path = tmp_path / "history.csv"
    taiwan.convert(taiwan_raw, path)
    return sim.calibrate(sim.fit(load_history(path), "2005-08"), cases=4000, rounds=3)


def test_the_optimised_strategy_passes_strategy_check(model: sim.Model, tmp_path: Path) -> None:
    result = opt.search(model, seeds=[1, 2, 3], cases=400, days=40, candidates=12, screen_seeds=2)
    assert result.best in result.front
    assert all(len(e.runs) == 3 for e in result.front)
    text = opt.to_yaml(result.best.params, "lab_best", "TWD", opt.describe(result.best.params))
    path = tmp_path / "lab_best.yaml"
    path.write_text(text, encoding="utf-8")
    out = _check(tmp_path, path)
    assert "strategy 'lab_best' v1 is valid" in out
    strategy = loader.load(path)
    contact = [s for s in strategy.steps if s.name == "contact_call"]
    assert bool(contact) == (result.best.params.contact_from_day is not None)
    # the report as a PDF: the front and the comparison, readable as text
    from pypdf import PdfReader

    pdf = tmp_path / "front.pdf"
    opt.write_pdf(result, opt.compare(result.best, result.seed), "TWD", str(pdf))
    words = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "Pareto front" in words and "best against seed over 3 seeds" in words


def test_every_kind_of_parameter_reads_back(tmp_path: Path) -> None:
    params = sim.Params(
        first_call_day=4,
        call_days=(5, 10, 20),
        sms_days=(0, 3, 9),
        contact_from_day=14,
        contact_min_band=2,
        plan_from_day=30,
    )
    path = tmp_path / "s.yaml"
    path.write_text(opt.to_yaml(params, "lab_x", "TWD", 'a "quoted" note'), encoding="utf-8")
    _check(tmp_path, path)
    s = loader.load(path)
    steps = {st.name: st for st in s.steps}
    # days since opening + 1 = dpd; the first call is one of the dpd calls when not on day 0
    assert {n for n in steps if n.startswith("dpd_call_")} == {
        "dpd_call_5",
        "dpd_call_6",
        "dpd_call_11",
        "dpd_call_21",
    }
    assert {n for n in steps if n.startswith("dpd_reminder_")} == {
        "dpd_reminder_4",
        "dpd_reminder_10",
    }
    assert "dpd1_sms" in steps and "dpd1_call" not in steps
    assert steps["contact_call"].source == "dpd >= 15 and balance >= 50000"
    assert "dpd >= 31" in steps["offer_plan"].source
    assert s.description == 'a "quoted" note'


def test_never_reaching_contacts_leaves_no_contact_step(tmp_path: Path) -> None:
    params = sim.Params(contact_from_day=None)
    s = loader.loads(opt.to_yaml(params, "lab_quiet", "TWD", "quiet"))
    assert all(a.target.value != "contacts" for st in s.steps for a in st.actions)


def test_the_lab_commands_end_to_end(taiwan_subset: Path, tmp_path: Path) -> None:
    history = tmp_path / "history.csv"
    taiwan.convert(taiwan_subset, history)
    db = f"sqlite:///{tmp_path / 'unused.db'}"
    common = ["--history", str(history), "--cases", "200", "--days", "30"]
    sim_run = CliRunner().invoke(
        build(), ["--database", db, "lab", "simulate", *common, "--seeds", "2"]
    )
    assert sim_run.exit_code == 0, sim_run.output
    assert "calibrated on 2005-04..2005-08; predicted 2005-08 -> 2005-09" in sim_run.output
    assert "cure within a month: fitted" in sim_run.output
    assert sim_run.output.count("x  ") >= 4  # a row per contact prior
    out = tmp_path / "best.yaml"
    report = tmp_path / "lab" / "optimise.json"
    args = [*common, "--seeds", "3", "--candidates", "6", "--out", str(out)]
    args += ["--report", str(report)]
    opt_run = CliRunner().invoke(build(), ["--database", db, "lab", "optimise", *args])
    assert opt_run.exit_code == 0, opt_run.output
    assert "best against seed over 3 seeds" in opt_run.output
    data = json.loads(report.read_text(encoding="utf-8"))  # the strategist's page reads it
    assert data["seeds"] == 3 and data["strategy_file"] == str(out)
    assert sum(r["chosen"] for r in data["front"]) == 1 and any(r["seed"] for r in data["front"])
    for row in data["front"]:
        iv = row["net_per_case"]
        assert iv["low"] <= iv["mean"] <= iv["high"]
    assert "strategy 'lab_best' v1 is valid" in _check(tmp_path, out)
