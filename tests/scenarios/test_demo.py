"""The demo's story, end to end on a small portfolio: the loop runs, the case study holds."""

from sqlalchemy import Engine

from arrears.bootstrap import App
from arrears.config import Settings
from arrears.sim.demo import run_demo


def test_small_demo_runs_the_loop_and_the_case_study(db: Engine, tmp_path) -> None:
    app = App(Settings(key_file=tmp_path / "keys.json"))
    app.__dict__["engine"] = db  # the fixture's database instead of the configured one
    result = run_demo(app, borrowers=120, days=40, seed=3)
    report = result.report
    assert report.accounts > 120
    assert report.cases_opened > 10
    assert report.day1_reminder_rate == 1
    assert 0 < report.recovered <= report.overdue_at_open
    story = "\n".join(result.timeline)
    # unreachable borrower first, then the contact, the same day; then the plan, paid in full
    assert story.index("borrower call outcome: no_answer") < story.index("contact_reached")
    day1 = [line for line in result.timeline if line.lstrip().startswith("day   1")]
    assert any("contact_reached, hardship: illness" in line for line in day1)
    assert "plan completed" in story and "case closed: paid_off" in story
