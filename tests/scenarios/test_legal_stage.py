"""The legal stage, date by date, through the daily run and the real gate (SQLite and
PostgreSQL).

Four borrowers fall behind. The lender's legal rule refers cases at DPD ≥ 120 owing at least
¥1,000.00. A late-stage strategy calls every case from DPD 60 daily, so what the lender plans for
each case is plain to see.

- 28 Nov (DPD 119): nothing is referred; the late call is planned for everyone.
- 29 Nov (DPD 120): the run refers 王建国 (zh, ¥5,000.00) and Alice Smith (en, ¥3,000.00); 李小红
  owes ¥500.00 (below the minimum) and 陈明 is at DPD 89. The referred cases move to the legal
  queue, their late call of yesterday is called off, none is planned today, and the dial check
  blocks the lender's calls (`in_legal`). Running the day again refers nobody twice.
- 1 Dec: the legal team's agent asks for 王建国's demand letter at 23:00 Shanghai time: the rule
  pack defers it, nothing is made. At 10:00 it is allowed: a PDF in Chinese naming him, the
  balance written by the money formatter and the deadline 15 Dec; Alice Smith's is in English.
- 20 Dec: the team lead files 王建国's case; enforcement before a judgment is refused and
  changes nothing; an agent of another team may not move it.
- 21 Dec: Alice Smith's case is withdrawn: it returns to its queue, the next run plans the
  lender's call for it again, the dial check lets it through, and the rule never takes it again.
- The team lead refers 陈明 by hand (DPD 112); an agent may not.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine, func, select

from arrears.compliance.batch import gate_planned_actions
from arrears.compliance.port import IN_LEGAL, check_dial
from arrears.compliance.rules.model import VerdictKind
from arrears.domain.legal import LegalStatus, LegalTransitionInvalid
from arrears.engine.run_day import run_day
from arrears.services import legal
from arrears.services.users import seed_demo_users
from arrears.store import tables as t
from arrears.store.tables_compliance import audit_log
from arrears.store.tables_legal import legal_events
from tests import factories as f

DUE = date(2026, 8, 1)
NOV28, NOV29, DEC1 = date(2026, 11, 28), date(2026, 11, 29), date(2026, 12, 1)
DEC20, DEC21, DEC22, DEC23 = (date(2026, 12, d) for d in (20, 21, 22, 23))
STRATEGY = """
strategy: late_stage
version: 1
currency: CNY
salt: late
variants:
  - name: champion
    share: 100
segments:
  - name: late
    when: true
    queue: late
steps:
  - name: late_call
    on: daily
    when: dpd >= 60
    action: {channel: call, template: call_borrower, target: borrower, priority: 40}
"""
RING = f.RING


def _at(d: date, hour_utc: int = 2) -> datetime:  # 10:00 in Shanghai
    return datetime.combine(d, time(hour_utc), tzinfo=UTC)


def _book(db: Engine) -> None:
    with db.begin() as conn:
        seed_demo_users(conn)
        for bid, name, lang, due, amount in (
            ("B1", "王建国", "zh-CN", DUE, 500_000),
            ("B2", "Alice Smith", "en", DUE, 300_000),
            ("B3", "李小红", "zh-CN", DUE, 50_000),
            ("B4", "陈明", "zh-CN", DUE + timedelta(days=31), 400_000),
        ):
            f.borrower(
                conn,
                bid,
                phone=f"+86138000000{bid[1:]}0",
                name=name,
                language=lang,
                address_enc=RING.encrypt(f"{bid} 上海市浦东新区世纪大道100号"),
            )
            f.account(conn, f"A{bid}", bid, [(due, amount, 0)])
        legal.add_rule(
            conn,
            min_dpd=120,
            currency="CNY",
            min_balance="1000.00",
            by="manager",
            at=_at(NOV28),
            ring=RING,
        )


def _run(db: Engine, d: date, strategy: Path) -> int:
    return run_day(db, d, gate=gate_planned_actions, strategy=str(strategy)).cases_referred_to_legal


def _late_calls(db: Engine, d: date) -> dict[str, str]:
    a, c = t.actions.c, t.cases.c
    with db.connect() as conn:
        rows = conn.execute(
            select(c.borrower_id, a.status)
            .join(t.cases, c.id == a.case_id)
            .where(a.business_date == d, a.step == "late_call")
        ).all()
    return {r.borrower_id: r.status for r in rows}


def _case(db: Engine, borrower: str) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(select(t.cases.c.id).where(t.cases.c.borrower_id == borrower)).scalar_one()
        )


def _queue(db: Engine, case_id: int) -> str:
    with db.connect() as conn:
        return str(conn.scalar(select(t.cases.c.queue).where(t.cases.c.id == case_id)))


def _dial(db: Engine, case_id: int, at: datetime) -> tuple[VerdictKind, str | None]:
    with db.begin() as conn:
        v = check_dial(
            conn, case_id=case_id, target="borrower", contact_id=None, at=at, record=False
        )
    return v.kind, v.rule_id


def _text(pdf: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def test_a_case_at_dpd_120_goes_to_legal_gets_a_demand_letter_and_comes_back_withdrawn(
    db: Engine, tmp_path: Path
) -> None:
    strategy = tmp_path / "late.yaml"
    strategy.write_text(STRATEGY, encoding="utf-8")
    _book(db)

    # --- 28 Nov, DPD 119: nobody referred ------------------------------------------------------
    assert _run(db, NOV28, strategy) == 0
    assert _late_calls(db, NOV28) == {
        "B1": "planned",
        "B2": "planned",
        "B3": "planned",
        "B4": "planned",
    }
    b1, b2, b3, b4 = (_case(db, b) for b in ("B1", "B2", "B3", "B4"))
    queue_before = _queue(db, b2)

    # --- 29 Nov, DPD 120: the run refers B1 and B2 --------------------------------------------
    assert _run(db, NOV29, strategy) == 2
    with db.connect() as conn:
        live = legal.list_cases(conn)
    assert sorted(c.case_id for c in live) == [b1, b2]  # B3 below ¥1,000, B4 at DPD 89
    first = next(c for c in live if c.case_id == b1)
    assert (first.status, first.referred_by, first.dpd_at_referral) == ("referred", "nightly", 120)
    assert (first.balance_at_referral, first.currency) == (500_000, "CNY")
    assert _queue(db, b1) == _queue(db, b2) == "legal"
    assert _late_calls(db, NOV29) == {"B3": "planned", "B4": "planned"}  # none for B1, B2
    assert _late_calls(db, NOV28) == {
        "B1": "cancelled",
        "B2": "cancelled",
        "B3": "planned",
        "B4": "planned",
    }
    assert _dial(db, b1, _at(NOV29)) == (VerdictKind.BLOCK, IN_LEGAL)
    assert _dial(db, b3, _at(NOV29))[0] is VerdictKind.ALLOW
    assert _run(db, NOV29, strategy) == 0  # the day again: nobody twice
    with db.connect() as conn:
        assert len(legal.list_cases(conn)) == 2

    # --- 1 Dec: the demand letters -------------------------------------------------------------
    with db.begin() as conn:
        late = legal.send_demand_letter(
            conn, b1, DEC1, by="agent3", at=_at(DEC1, 15), ring=RING
        )  # 23:00 in Shanghai
    assert late.verdict.kind is VerdictKind.DEFER and late.document is None
    assert late.verdict.rule_id == "cn.time_window"
    with db.connect() as conn:
        assert legal.get_case(conn, b1).status is LegalStatus.REFERRED
    with db.begin() as conn:
        zh = legal.send_demand_letter(conn, b1, DEC1, by="agent3", at=_at(DEC1), ring=RING)
        en = legal.send_demand_letter(conn, b2, DEC1, by="agent3", at=_at(DEC1), ring=RING)
    assert zh.verdict.allowed and zh.document is not None and en.document is not None
    with db.begin() as conn:
        doc, pdf = legal.document_pdf(conn, zh.document.id, by="agent3", at=_at(DEC1), ring=RING)
        _, pdf_en = legal.document_pdf(conn, en.document.id, by="agent3", at=_at(DEC1), ring=RING)
    assert pdf.startswith(b"%PDF") and hashlib.sha256(pdf).hexdigest() == doc.sha256
    text = _text(pdf)
    assert "王建国" in text and "欠款金额：¥5,000.00" in text and "还款期限：2026年12月15日" in text
    assert "催告函" in text and "示例消费金融" in text and "上海市浦东新区" in text
    assert doc.language == "zh-CN" and doc.kind == "demand_letter"
    text_en = _text(pdf_en)
    assert "Dear Alice Smith" in text_en and "Amount owed: CN¥3,000.00" in text_en
    assert "Pay by: 15 Dec 2026" in text_en
    assert "Example Consumer Finance" in text_en and "催告" not in text_en
    with db.connect() as conn:
        assert legal.get_case(conn, b1).status is LegalStatus.DEMAND_LETTER_SENT
        assert (
            conn.scalar(select(t.actions.c.status).where(t.actions.c.id == zh.verdict.action_id))
            == "done"
        )

    # --- 20 Dec: filed; an illegal move refused ------------------------------------------------
    with db.begin() as conn:
        filed = legal.advance(conn, b1, "filed", DEC20, by="lead2", at=_at(DEC20), ring=RING)
    assert filed.status is LegalStatus.FILED
    with db.connect() as conn:
        moves = conn.scalar(select(func.count()).select_from(legal_events))
    illegal = pytest.raises(LegalTransitionInvalid, match="filed cannot move to enforcement")
    with illegal, db.begin() as conn:
        legal.advance(conn, b1, "enforcement", DEC20, by="lead2", at=_at(DEC20), ring=RING)
    with pytest.raises(legal.LegalUserRefused), db.begin() as conn:
        legal.advance(conn, b1, "judgment", DEC20, by="agent", at=_at(DEC20), ring=RING)
    with db.connect() as conn:
        assert legal.get_case(conn, b1).status is LegalStatus.FILED
        assert conn.scalar(select(func.count()).select_from(legal_events)) == moves
        history = legal.get_case(conn, b1).events
    assert [(e.from_status, e.to_status, e.by) for e in history] == [
        (None, "referred", "nightly"),
        ("referred", "demand_letter_sent", "agent3"),
        ("demand_letter_sent", "filed", "lead2"),
    ]
    assert history[2].at == _at(DEC20) and history[2].business_date == DEC20

    # --- 21 Dec: B2 withdrawn returns to the lender --------------------------------------------
    with db.begin() as conn:
        back = legal.advance(conn, b2, "withdrawn", DEC21, by="lead2", at=_at(DEC21), ring=RING)
    assert back.status is LegalStatus.WITHDRAWN and back.ended_on == DEC21
    assert _queue(db, b2) == queue_before
    assert _run(db, DEC22, strategy) == 0  # withdrawn: the rule does not take it again
    calls = _late_calls(db, DEC22)
    assert calls.get("B2") in ("planned", "queued") and "B1" not in calls
    assert _dial(db, b2, _at(DEC22))[0] is VerdictKind.ALLOW
    assert _dial(db, b1, _at(DEC22)) == (VerdictKind.BLOCK, IN_LEGAL)
    with db.connect() as conn:
        assert sorted(c.case_id for c in legal.list_cases(conn)) == [b1]

    # --- the team lead refers B4 by hand; an agent may not -------------------------------------
    with pytest.raises(legal.LegalUserRefused), db.begin() as conn:
        legal.refer(conn, b4, DEC23, by="agent3", at=_at(DEC23), ring=RING)
    with db.begin() as conn:
        by_hand = legal.refer(
            conn, b4, DEC23, by="lead2", at=_at(DEC23), ring=RING, note="no response to calls"
        )
    assert (by_hand.status, by_hand.referred_by, by_hand.rule_id) == ("referred", "lead2", None)
    assert by_hand.events[0].note == "no response to calls"
    assert _queue(db, b4) == "legal"
    twice = pytest.raises(legal.LegalReferralRefused, match="in legal already")
    with twice, db.begin() as conn:
        legal.refer(conn, b4, DEC23, by="lead2", at=_at(DEC23), ring=RING)
    with db.connect() as conn:
        kinds = conn.scalars(select(audit_log.c.kind).where(audit_log.c.kind == "legal")).all()
    assert len(kinds) >= 7  # rule, 2 letters, 2 reads, 2 moves, 1 referral
