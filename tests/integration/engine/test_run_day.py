from datetime import date

from sqlalchemy import Engine, select

from arrears.engine.run_day import run_day
from arrears.store import tables as t
from tests import factories as f

JAN = [date(2026, 1, 15), date(2026, 2, 15), date(2026, 3, 15)]


def _portfolio(db: Engine) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.contact(conn, "C1", "B1")
        f.account(conn, "A1", "B1", [(d, 10000, 500) for d in JAN], penalty_rate_ppm=100000)
        f.borrower(conn, "B2", phone="+8613800000009")
        f.account(conn, "A2", "B2", [(d, 10000, 500) for d in JAN])
        f.payment(conn, "P2", "A2", 10500, date(2026, 1, 15))


def test_day_one_opens_case_plans_sms_and_call(db: Engine) -> None:
    _portfolio(db)
    report = run_day(db, date(2026, 1, 16))
    assert report.cases_opened == 1
    with db.connect() as conn:
        acct = conn.execute(select(t.accounts).where(t.accounts.c.id == "A1")).one()
        # one day of penalty: 100.00 x 10% / 365 = 0.0274 -> 0.03
        assert (acct.dpd, acct.bucket, acct.overdue_amount) == (1, "M1", 10500 + 3)
        paid = conn.execute(select(t.accounts).where(t.accounts.c.id == "A2")).one()
        assert (paid.dpd, paid.overdue_amount) == (0, 0)
        steps = sorted(conn.execute(select(t.actions.c.step, t.actions.c.channel)).all())
        assert steps == [("dpd1_call", "call"), ("dpd1_sms", "sms")]
        assert conn.execute(select(t.outbox.c.template)).scalars().all() == ["reminder_day1"]


def test_rerunning_a_date_changes_nothing(db: Engine) -> None:
    _portfolio(db)
    run_day(db, date(2026, 1, 16))

    def snapshot() -> list[object]:
        with db.connect() as conn:
            return [
                conn.execute(select(tab)).all()
                for tab in (t.accounts, t.due_items, t.cases, t.actions, t.outbox, t.allocations)
            ]

    before = snapshot()
    again = run_day(db, date(2026, 1, 16))
    assert again.cases_opened == 0 and again.actions_planned == 0
    assert snapshot() == before


def test_each_message_is_queued_in_its_borrowers_language(db: Engine) -> None:
    """The night's messages take the language the plan staged with them (each borrower's own),
    and a message the day had already is queued in its borrower's language too."""
    with db.begin() as conn:
        f.borrower(conn, "B1", language="en")
        f.account(conn, "A1", "B1", [(d, 10000, 500) for d in JAN])
        f.borrower(conn, "B2", phone="+8613800000009", language="zh-CN")
        f.account(conn, "A2", "B2", [(d, 10000, 500) for d in JAN])
    run_day(db, date(2026, 1, 16))
    with db.connect() as conn:
        queued = conn.execute(
            select(t.outbox.c.target_id, t.outbox.c.language).order_by(t.outbox.c.target_id)
        ).all()
    assert [tuple(r) for r in queued] == [("B1", "en"), ("B2", "zh-CN")]
