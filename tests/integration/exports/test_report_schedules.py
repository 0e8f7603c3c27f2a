"""Adding, listing and removing scheduled reports (both databases): what is refused and why,
nothing stored from a refused schedule, each change audited; which are due on a date."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select

from arrears.privacy.keyring import KeyRing
from arrears.privacy.masking import RevealRefused
from arrears.services import exports as ex
from arrears.services import report_schedules as svc
from arrears.store.tables_compliance import audit_log
from arrears.store.tables_reports import report_schedules

AT = datetime(2026, 2, 15, 9, 0, tzinfo=UTC)
MONDAY, TUESDAY = date(2026, 2, 16), date(2026, 2, 17)


def _add(db: Engine, ring: KeyRing, **kw: str) -> svc.Schedule:
    given = {
        "kind": "promises",
        "fmt": "csv",
        "recipients": "risk@example.cn",
        "every": "daily",
        "role": "manager",
    }
    given.update(kw)
    with db.begin() as conn:
        return svc.add_schedule(conn, ring, by="li.manager", at=AT, **given)


def test_schedules_are_checked_stored_listed_and_removed(db: Engine, keyring: KeyRing) -> None:
    daily = _add(db, keyring, recipients=" risk@example.cn , lead@example.cn ")
    weekly = _add(db, keyring, kind="agent_performance", fmt="xlsx", every="Fri", role="team_lead")
    assert daily.recipients == ("risk@example.cn", "lead@example.cn")
    assert (weekly.cadence, weekly.weekday, weekly.every) == (svc.Cadence.WEEKLY, 4, "friday")
    assert daily.due_on(MONDAY) and daily.due_on(TUESDAY)
    friday = date(2026, 2, 20)
    assert weekly.due_on(friday) and not weekly.due_on(MONDAY)
    assert weekly.period_start(friday) == date(2026, 2, 14) and daily.period_start(friday) == friday

    refused = [
        ({"kind": "debts"}, ex.ExportKindUnknown, "no export 'debts'"),
        ({"fmt": "pdf"}, ex.ExportFormatUnknown, "no format 'pdf'"),
        ({"role": "agent"}, ex.ExportRefused, "the role agent may not export promises"),
        ({"role": "boss"}, RevealRefused, "unknown role 'boss'"),
        ({"kind": "cases", "role": "compliance"}, svc.ScheduleInvalid, "no personal data"),
        ({"every": "fortnightly"}, svc.ScheduleInvalid, "daily, or a weekday"),
        ({"every": "mo"}, svc.ScheduleInvalid, "daily, or a weekday"),
        ({"recipients": "risk@example.cn,not-an-address"}, svc.ScheduleInvalid, "not-an-address"),
        ({"recipients": " , "}, svc.ScheduleInvalid, "at least one"),
    ]
    for kw, error, said in refused:
        with pytest.raises(error, match=said):
            _add(db, keyring, **kw)
    # a personal-data export is fine by e-mail when masked; a clear role for one without it too
    _add(db, keyring, kind="cases", role="team_lead")
    _add(db, keyring, kind="recoveries", role="compliance")

    with db.begin() as conn:
        svc.remove_schedule(conn, keyring, daily.id, by="li.manager", at=AT)
    with db.begin() as conn, pytest.raises(svc.ScheduleUnknown, match="no scheduled report"):
        svc.remove_schedule(conn, keyring, daily.id, by="li.manager", at=AT)
    with db.connect() as conn:
        listed = [s.id for s in svc.list_schedules(conn)]
        stored = conn.scalar(select(func.count()).select_from(report_schedules))
        audited = conn.execute(
            select(audit_log.c.subject, audit_log.c.detail)
            .where(audit_log.c.subject.like("report_schedule:%"))
            .order_by(audit_log.c.seq)
        ).all()
    assert listed == [weekly.id, weekly.id + 1, weekly.id + 2]
    assert stored == 4  # the removed one stays, marked; none of the refused was stored
    assert [s for s, _ in audited] == [f"report_schedule:{n}" for n in (1, 2, 3, 4, 1)]
    assert '"removed": true' in audited[-1].detail
