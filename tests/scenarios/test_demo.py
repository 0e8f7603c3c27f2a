"""The demo's story, end to end on a small portfolio: the loop runs, the case study holds."""

import json

from sqlalchemy import Engine, text

from arrears.bootstrap import App
from arrears.config import Settings
from arrears.sim.demo import deliver_to_files, run_demo


def test_small_demo_runs_the_loop_and_the_case_study(db: Engine, tmp_path) -> None:
    app = App(Settings(key_file=tmp_path / "keys.json"))
    app.__dict__["engine"] = db  # the fixture's database instead of the configured one
    outbox = tmp_path / "outbox"
    result = run_demo(app, borrowers=120, days=40, seed=3, deliver=deliver_to_files(outbox))
    report = result.report
    assert report.accounts > 120
    assert report.cases_opened > 10
    # every case gets its day-one SMS, unless the rule pack held it (opt-out, dispute, holiday)
    with db.connect() as conn:
        without_reminder = conn.execute(
            text(
                """SELECT COUNT(*) FROM cases c WHERE NOT EXISTS (
                     SELECT 1 FROM actions a WHERE a.case_id = c.id AND a.channel = 'sms'
                       AND a.business_date = c.opened_on
                       AND (a.status IN ('queued', 'sent', 'delivered')
                            OR a.rule_id IS NOT NULL))"""
            )
        ).scalar_one()
        sent = conn.execute(text("SELECT COUNT(*) FROM outbox WHERE status = 'sent'")).scalar_one()
    assert without_reminder == 0
    assert 0.8 <= report.day1_reminder_rate <= 1
    lines = [json.loads(x) for x in (outbox / "sms.jsonl").read_text().splitlines()]
    assert len(lines) == sent > 0
    assert all(m["audience"] == "borrower" for m in lines)
    assert 0 < report.recovered <= report.overdue_at_open
    story = "\n".join(result.timeline)
    # unreachable borrower first, then the contact, the same day; then the plan, paid in full
    assert story.index("borrower call outcome: no_answer") < story.index("contact_reached")
    day1 = [line for line in result.timeline if line.lstrip().startswith("day   1")]
    assert any("contact_reached, hardship: illness" in line for line in day1)
    assert "plan completed" in story and "case closed: paid_off" in story
