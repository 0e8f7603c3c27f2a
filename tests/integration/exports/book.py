"""A small book every export reads: two borrowers (one with a formula-like name), their cases,
an action, interactions, promises, a plan, a charged-off account with a recovery, an agency
with a placement and a payment, and users of each role."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine, insert

from arrears.privacy.keyring import KeyRing
from arrears.services.users import add_team, add_user
from arrears.store import tables as t
from arrears.store.tables_agency import agencies, agency_tiers, placements
from arrears.store.tables_late import write_offs

AS_OF = date(2026, 3, 2)
DAY_BEFORE = date(2026, 3, 1)
WANG_PHONE = "13812345678"
WANG_ID = "110101199003071234"
WANG_ADDRESS = "北京市朝阳区建国路88号"
EVIL_NAME = '=HYPERLINK("http://evil.example","x")'
PASSWORD = "correct horse battery"
USERS = {
    "li.manager": "manager",
    "zhao.lead": "team_lead",
    "chen.agent": "agent",
    "qian.compliance": "compliance",
    "sun.strategist": "strategist",
}


def _borrower(conn: Connection, ring: KeyRing, bid: str, name: str, phone: str) -> None:
    conn.execute(
        insert(t.borrowers).values(
            id=bid,
            name_enc=ring.encrypt(name),
            phone_enc=ring.encrypt(phone),
            phone_index=ring.blind_index(phone),
            id_number_enc=ring.encrypt(WANG_ID),
            address_enc=ring.encrypt(WANG_ADDRESS),
        )
    )


def build(db: Engine, ring: KeyRing) -> None:
    at = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    with db.begin() as conn:
        add_team(conn, "team-early", "Early collections", ["early"])
        for name, role in USERS.items():
            team = "team-early" if role == "team_lead" else None
            add_user(conn, name, PASSWORD, role, team_id=team, at=at)
        _borrower(conn, ring, "B1", "王芳", WANG_PHONE)
        _borrower(conn, ring, "B2", EVIL_NAME, "+447700900123")
        _borrower(conn, ring, "B3", "刘洋", "13700000003")
        for aid, bid, cur in (("A1", "B1", "CNY"), ("A2", "B2", "USD"), ("A3", "B3", "CNY")):
            conn.execute(
                insert(t.accounts).values(
                    id=aid,
                    borrower_id=bid,
                    product="instalment_loan",
                    currency=cur,
                    principal=300000,
                    opened_on=date(2025, 6, 1),
                )
            )
        cases = [
            dict(
                borrower_id="B1",
                opened_on=date(2026, 2, 16),
                currency="CNY",
                dpd=15,
                bucket="M1",
                overdue_amount=104500,
            ),
            dict(
                borrower_id="B2",
                opened_on=date(2026, 2, 20),
                currency="USD",
                dpd=11,
                bucket="M1",
                overdue_amount=4750,
                queue="late",  # worked by another team than the team lead's
            ),
            # closed before the date: not in the cases export
            dict(
                borrower_id="B3",
                opened_on=date(2026, 1, 2),
                closed_on=date(2026, 2, 1),
                status="cured",
                currency="CNY",
                dpd=0,
                bucket="M0",
                overdue_amount=0,
            ),
        ]
        ids = [conn.execute(insert(t.cases).values(**c)).inserted_primary_key[0] for c in cases]
        conn.execute(
            insert(t.actions).values(
                case_id=ids[0],
                business_date=AS_OF,
                step="day15_call",
                target_type="borrower",
                target_id="B1",
                channel="call",
                template="call_script",
                status="planned",
            )
        )
        for day, outcome in ((DAY_BEFORE, "no_answer"), (AS_OF, "promise"), (AS_OF, "refused")):
            conn.execute(
                insert(t.interactions).values(
                    case_id=ids[0],
                    occurred_at=at,
                    business_date=day,
                    channel="call",
                    target_type="borrower",
                    target_id="B1",
                    outcome=outcome,
                    note="王芳 said she will pay",
                    agent="chen.agent",
                )
            )
        conn.execute(
            insert(t.promises).values(
                case_id=ids[0],
                made_on=AS_OF,
                due_on=date(2026, 3, 9),
                amount=104500,
                currency="CNY",
                made_by="chen.agent",
            )
        )
        conn.execute(
            insert(t.promises).values(
                case_id=ids[1],
                made_on=DAY_BEFORE,
                due_on=date(2026, 3, 5),
                amount=4750,
                currency="USD",
                made_by="chen.agent",
            )
        )
        conn.execute(
            insert(t.plans).values(
                case_id=ids[1],
                proposed_on=AS_OF,
                currency="USD",
                total=4750,
                waived=250,
                instalments=3,
                first_due_on=date(2026, 3, 15),
                proposed_by="chen.agent",
            )
        )
        # A3 charged off on 1 Feb; 200.00 CNY came in on 2 Mar (a recovery)
        conn.execute(
            insert(write_offs).values(
                account_id="A3",
                reason="charge_off",
                business_date=date(2026, 2, 1),
                case_id=ids[2],
                currency="CNY",
                amount=250000,
                dpd=181,
            )
        )
        conn.execute(
            insert(t.payments).values(
                id="P3",
                account_id="A3",
                amount=20000,
                currency="CNY",
                received_on=AS_OF,
                posted_on=AS_OF,
            )
        )
        # the USD case placed with an agency on 25 Feb; 47.50 USD paid on 2 Mar
        conn.execute(
            insert(agencies).values(
                id="acme",
                name="Acme Recoveries",
                tier_basis="dpd",
                created_by="li.manager",
                created_at=at,
            )
        )
        conn.execute(insert(agency_tiers).values(agency_id="acme", from_days=0, rate_ppm=150000))
        conn.execute(
            insert(placements).values(
                case_id=ids[1],
                agency_id="acme",
                placed_on=date(2026, 2, 25),
                dpd_at_placement=5,
                currency="USD",
                overdue_at_placement=4750,
                placed_by="li.manager",
            )
        )
        conn.execute(
            insert(t.payments).values(
                id="P2",
                account_id="A2",
                amount=4750,
                currency="USD",
                received_on=AS_OF,
            )
        )
