"""The demo's story, end to end on a small portfolio: the loop runs under the champion /
challenger experiment, the report has a row per variant, the case study holds."""

import json
import re
from datetime import date

from sqlalchemy import Engine, select, text

from arrears.analytics.experiments import render
from arrears.bootstrap import App
from arrears.config import Settings
from arrears.privacy.links import TOKEN_LENGTH, read_token
from arrears.sim.demo import deliver_to_files, run_demo
from arrears.sim.story import STORY_BORROWER
from arrears.store import tables as t
from arrears.store.tables_strategy import strategy_assignments


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
    # each reminder links to the borrower page of its own case, as `arrears demo --serve` serves it
    first = lines[0]
    token = re.search(r"http://127\.0\.0\.1:8000/b/(\S+)", first["body"])
    assert token is not None, first["body"]
    assert len(token.group(1)) == TOKEN_LENGTH
    link = read_token(app.keyring, token.group(1), result.start)
    assert str(link.case_id) == first["meta"]["case_id"]
    with db.connect() as conn:
        owner = conn.scalar(select(t.cases.c.borrower_id).where(t.cases.c.id == link.case_id))
    assert owner == first["meta"]["borrower_id"]
    assert 0 < report.recovered <= report.overdue_at_open
    story = "\n".join(result.timeline)
    # unreachable borrower first, then the contact, the same day; then the plan, paid in full
    assert story.index("borrower call outcome: no_answer") < story.index("contact_reached")
    day1 = [line for line in result.timeline if line.lstrip().startswith("day   1")]
    assert any("contact_reached, hardship: illness" in line for line in day1)
    assert "plan completed" in story and "case closed: paid_off" in story

    # champion against challenger: both variants got cases, the report has a row per variant
    experiment = result.experiment
    assert experiment.strategy == "seed_challenger_day3"
    assert [v.variant for v in experiment.variants] == ["champion", "challenger_day3"]
    assert all(v.cases > 0 for v in experiment.variants)
    champion_result, challenger_result = experiment.variants
    assert challenger_result.reached_day_one.value == 0  # no call before day 3
    assert (champion_result.reached_day_one.value or 0) > 0
    assert experiment.pinned == 1
    with db.connect() as conn:
        opened = {
            variant: n
            for variant, n in conn.execute(
                text(
                    "SELECT variant, COUNT(*) FROM cases WHERE opened_on <= :end GROUP BY variant"
                ),
                {"end": result.end},
            ).all()
        }
    # the cohort is every case opened during the experiment but the pinned one, each counted
    # under its variant (the morning after the demo opens more)
    assert sum(v.cases for v in experiment.variants) == sum(opened.values()) - 1
    rendered = render(experiment)
    cases_row = next(line for line in rendered.splitlines() if line.startswith("cases "))
    assert cases_row.split()[1:] == [str(v.cases) for v in experiment.variants]
    assert "challenger_day3 against champion" in rendered
    assert "cured within 30 days" in rendered and "promises kept in full" in rendered

    # the challenger waits: no call to the borrower before DPD 3 (opened at DPD 1)
    first_call = _first_borrower_call(db)
    challenger = [days for (variant, days) in first_call if variant == "challenger_day3"]
    champion = [days for (variant, days) in first_call if variant == "champion"]
    assert challenger and min(challenger) >= 2
    assert champion and min(champion) == 0  # the champion calls on the day the case opens

    # the case study is the champion's day-one call: pinned, and recorded as pinned
    with db.connect() as conn:
        story = conn.execute(
            select(t.cases.c.variant, strategy_assignments.c.salt)
            .join(strategy_assignments, strategy_assignments.c.case_id == t.cases.c.id)
            .where(t.cases.c.borrower_id == STORY_BORROWER)
        ).one()
    assert tuple(story) == ("champion", "pinned")


def _first_borrower_call(db: Engine) -> list[tuple[str, int]]:
    """(variant, days from opening to the first call to the borrower) per case: planned calls
    and calls made, whatever the rule pack then decided."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT c.id, c.variant, c.opened_on, a.business_date FROM cases c
                   JOIN actions a ON a.case_id = c.id
                   WHERE a.channel = 'call' AND a.target_type = 'borrower'
                   UNION ALL
                   SELECT c.id, c.variant, c.opened_on, i.business_date FROM cases c
                   JOIN interactions i ON i.case_id = c.id
                   WHERE i.channel = 'call' AND i.target_type = 'borrower'"""
            )
        ).all()
    first: dict[int, tuple[str, int]] = {}
    for case_id, variant, opened_on, on in rows:
        days = (_date(on) - _date(opened_on)).days
        if case_id not in first or days < first[case_id][1]:
            first[case_id] = (variant, days)
    return list(first.values())


def _date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
