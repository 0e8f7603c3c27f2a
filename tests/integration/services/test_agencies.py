"""Agencies, placement rules, what an agency sees and what it may report (SQLite and PostgreSQL):
bad input refused by name and nothing half-written; which cases a rule places (no active plan,
no open dispute, within the DPD band, the first rule by priority); masking when the borrower's
pack does not let the lender share name and phone; a dispute reported by an agency going
through the disputes service; a message the agency asks about judged by the port."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select

from arrears.compliance.officer import map_jurisdiction
from arrears.compliance.port import check_dial
from arrears.compliance.rules import packs
from arrears.engine.run_day import run_day
from arrears.services import agencies as ag
from arrears.services import agency_portal as portal
from arrears.services.disputes import list_disputes
from arrears.services.placement_file import place_and_file
from arrears.store import tables as t
from arrears.store.tables_agency import agencies, agency_tiers
from arrears.store.tables_compliance import disputes
from arrears.web.i18n import word
from tests import factories as f

AS_OF = date(2026, 10, 30)
AT = datetime.combine(AS_OF, time(2), tzinfo=UTC)  # 10:00 in Shanghai
RING = f.RING


def _book(db: Engine, *borrowers: tuple[str, int]) -> None:
    """Borrowers whose one instalment is `dpd` days late on AS_OF; the run opens their cases."""
    with db.begin() as conn:
        for n, (bid, dpd) in enumerate(borrowers):
            f.borrower(conn, bid, phone=f"+86138000000{n:02d}", name=f"张{bid}")
            f.contact(conn, f"C{bid}", bid, phone=f"+86139000000{n:02d}")
            f.account(conn, f"A{bid}", bid, [(AS_OF - timedelta(days=dpd), 300_000, 0)])
    run_day(db, AS_OF)


def _case(db: Engine, borrower: str) -> int:
    with db.connect() as conn:
        return int(conn.scalar(select(t.cases.c.id).where(t.cases.c.borrower_id == borrower)))


def _agency(db: Engine, agency_id: str = "north", **rule: object) -> None:
    with db.begin() as conn:
        ag.add_agency(
            conn, agency_id, agency_id.title(), ag.parse_tiers("0:15"), by="m", at=AT, ring=RING
        )
        ag.add_rule(conn, agency_id, by="m", at=AT, ring=RING, **rule)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("15", "FROM_DAYS:PERCENT"),
        ("120:20", "day 0"),
        ("0:15,0:20", "different day"),
        ("0:150", "between 0 and 100"),
        ("0:abc", "not a tier"),
        ("0:12.345678", "4 decimals"),
    ],
)
def test_bad_tiers_are_named(text: str, words: str) -> None:
    with pytest.raises(ag.TiersInvalid, match=words):
        ag.parse_tiers(text)


def test_tiers_are_read_as_percent_from_each_day() -> None:
    assert ag.parse_tiers(" 120:20 , 0:15%,180:22.5") == (
        ag.Tier(0, Decimal("0.15")),
        ag.Tier(120, Decimal("0.20")),
        ag.Tier(180, Decimal("0.225")),
    )


def test_bad_agencies_and_rules_are_refused_and_nothing_is_half_written(db: Engine) -> None:
    tiers = ag.parse_tiers("0:15")
    with db.begin() as conn:
        with pytest.raises(ag.AgencyInvalid, match="not an agency id"):
            ag.add_agency(conn, "North Rec", "N", tiers, by="m", at=AT, ring=RING)
        with pytest.raises(ag.AgencyInvalid, match="tier basis"):
            ag.add_agency(conn, "north", "N", tiers, basis="weekly", by="m", at=AT, ring=RING)
        with pytest.raises(ag.TiersInvalid):
            ag.add_agency(
                conn, "north", "N", [ag.Tier(5, Decimal("0.1"))], by="m", at=AT, ring=RING
            )
        assert conn.scalar(select(func.count()).select_from(agencies)) == 0
        assert conn.scalar(select(func.count()).select_from(agency_tiers)) == 0
        ag.add_agency(conn, "north", "North", tiers, by="m", at=AT, ring=RING)
        with pytest.raises(ag.AgencyExists):
            ag.add_agency(conn, "north", "North", tiers, by="m", at=AT, ring=RING)
        with pytest.raises(ag.AgencyUnknown, match="south"):
            ag.add_rule(conn, "south", min_dpd=90, by="m", at=AT, ring=RING)
        with pytest.raises(ag.PlacementRuleInvalid, match="below min"):
            ag.add_rule(conn, "north", min_dpd=90, max_dpd=60, by="m", at=AT, ring=RING)
        with pytest.raises(ag.PlacementUnknown, match="one of them"):
            ag.recall(conn, AS_OF, by="m", at=AT, ring=RING)
        with pytest.raises(ag.PlacementUnknown, match="not placed"):
            ag.recall(conn, AS_OF, case_id=1, by="m", at=AT, ring=RING)
        assert [a.id for a in ag.list_agencies(conn)] == ["north"]


def test_rules_place_only_what_they_match(db: Engine) -> None:
    _book(db, ("OK", 95), ("PLAN", 95), ("DISPUTED", 95), ("YOUNG", 89), ("OLD", 170))
    _agency(db, "north", min_dpd=90, max_dpd=180)
    _agency(db, "deep", min_dpd=150, priority=1)
    with db.begin() as conn:
        conn.execute(
            insert(t.plans).values(
                case_id=_case(db, "PLAN"), status="active", proposed_on=AS_OF, currency="CNY",
                instalments=2, first_due_on=AS_OF + timedelta(days=7),
            )
        )  # fmt: skip
        conn.execute(
            insert(disputes).values(
                borrower_id="DISPUTED", raised_on=AS_OF, source="officer", owner="compliance",
                due_on=AS_OF + timedelta(days=30), status="open", recorded_by="c", recorded_at=AT,
            )
        )  # fmt: skip
        placed = ag.place(conn, AS_OF, by="night", at=AT, ring=RING)
    got = {(p.case_id, p.agency_id, p.dpd) for p in placed}
    assert got == {(_case(db, "OK"), "north", 95), (_case(db, "OLD"), "deep", 170)}
    # the day's reminder of a placed case waits in the outbox no more; the others' still do
    o, a = t.outbox.c, t.actions.c
    with db.connect() as conn:
        waiting = dict(
            conn.execute(select(a.case_id, o.status).join(t.actions, a.id == o.action_id)).all()
        )
    assert waiting[_case(db, "OK")] == "blocked" and waiting[_case(db, "YOUNG")] == "pending"


def test_a_pack_that_does_not_share_masks_name_and_phone(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(packs.PACKS, "xa", replace(packs.CN, code="xa", agency_identity=False))
    _book(db, ("SHARED", 95), ("MASKED", 95))
    with db.begin() as conn:
        conn.execute(
            t.borrowers.update().where(t.borrowers.c.id == "MASKED").values(jurisdiction="XA")
        )
        map_jurisdiction(conn, RING, pattern="XA", pack="xa", by="c", reason="test pack", at=AT)
    _agency(db, "north", min_dpd=90)
    with db.begin() as conn:
        done = place_and_file(conn, RING, AS_OF, tmp_path, by="night", at=AT)
        views = {v.case_id: v for v in portal.cases_of(conn, RING, "north")}
    masked, shared = views[_case(db, "MASKED")], views[_case(db, "SHARED")]
    assert (shared.name, shared.phone, shared.identity_shared) == (
        "张SHARED",
        "+8613800000000",
        True,
    )
    assert masked.identity_shared is False
    assert masked.name != "张MASKED" and "MASKED" not in masked.name
    assert masked.phone != "+8613800000001" and masked.phone.endswith("0001")
    csv_path = done["north"][1][0]
    text = csv_path.read_text(encoding="utf-8")
    assert "+8613800000001" not in text and "张MASKED" not in text
    assert "+8613900000" not in text  # no contact person's number, shared pack or not
    assert (csv_path.stat().st_mode & 0o777) == 0o600
    with csv_path.open(encoding="utf-8") as fh:
        shares = {int(r["case_id"]): r["identity_shared"] for r in csv.DictReader(fh)}
    assert shares == {shared.case_id: "yes", masked.case_id: "no"}


def test_an_agency_reports_a_dispute_and_asks_before_a_message(db: Engine) -> None:
    _book(db, ("B1", 95), ("B2", 95))
    _agency(db, "north", min_dpd=90)
    with db.begin() as conn:
        ag.place(conn, AS_OF, by="night", at=AT, ring=RING)
    b1 = _case(db, "B1")
    with db.begin() as conn:
        with pytest.raises(portal.AgencyPaymentInvalid, match="not of case"):
            portal.report_payment(
                conn, "north", b1, reference="R1", account_id="AB2", amount=100, currency="CNY",
                received_on=AS_OF, at=AT,
            )  # fmt: skip
        with pytest.raises(portal.AgencyPaymentInvalid, match="before the case was placed"):
            portal.report_payment(
                conn, "north", b1, reference="R1", account_id="AB1", amount=100, currency="CNY",
                received_on=AS_OF - timedelta(days=1), at=AT,
            )  # fmt: skip
        with pytest.raises(portal.AgencyPaymentInvalid, match="booked in CNY"):
            portal.report_payment(
                conn, "north", b1, reference="R1", account_id="AB1", amount=100, currency="USD",
                received_on=AS_OF, at=AT,
            )  # fmt: skip
        assert conn.scalar(select(func.count()).select_from(t.payments)) == 0
        portal.report_outcome(
            conn, "north", b1, outcome="dispute", note="says it was repaid", business_date=AS_OF,
            at=AT,
        )  # fmt: skip
        (dispute,) = list_disputes(conn)
        disputed = portal.ask(conn, "north", b1, "sms", AT)
        late = portal.ask(conn, "north", _case(db, "B2"), "sms", AT.replace(hour=15))
        statuses = dict(
            conn.execute(
                select(t.actions.c.case_id, t.actions.c.status).where(
                    t.actions.c.template == "agency_sms"
                )
            ).all()
        )
    assert (dispute.case_id, dispute.reason, dispute.status) == (b1, "says it was repaid", "open")
    assert disputed.kind.value == "block" and (disputed.rule_id or "").endswith("flag_dispute")
    assert late.kind.value == "defer" and late.next_allowed_at is not None
    # neither waits as the lender's deferred action: the agency asks again
    assert statuses == {b1: "blocked", _case(db, "B2"): "cancelled"}


def test_only_the_agency_calls_a_placed_case_until_it_is_recalled(db: Engine) -> None:
    _book(db, ("B1", 95))
    _agency(db, "north", min_dpd=90)
    with db.begin() as conn:
        ag.place(conn, AS_OF, by="night", at=AT, ring=RING)
    b1 = _case(db, "B1")
    with db.begin() as conn:
        lender = check_dial(conn, case_id=b1, target="borrower", contact_id=None, at=AT, agent="li")
        agency = portal.ask(conn, "north", b1, "call", AT)
        ag.recall(conn, AS_OF, case_id=b1, by="lead", at=AT, ring=RING)
        after = check_dial(conn, case_id=b1, target="borrower", contact_id=None, at=AT, agent="li")
        with pytest.raises(portal.CaseNotPlaced):
            portal.ask(conn, "north", b1, "call", AT)
    assert (lender.kind.value, lender.rule_id, lender.params) == (
        "block",
        "placed_with_agency",
        {"agency": "north"},
    )
    assert agency.allowed and after.allowed
    assert word("zh", "rule.placed_with_agency").format(agency="north").startswith("案件已委托")
