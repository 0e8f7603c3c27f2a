"""Importing host extracts: all or nothing, every problem listed, re-runs safe (both databases)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update
from typer.testing import CliRunner

from arrears.privacy.keyring import KeyRing
from arrears.services import importing
from arrears.services.importing import (
    FileCounts,
    ImportProblem,
    ImportRejected,
    import_directory,
    import_rows,
)
from arrears.store import migrate
from arrears.store import tables as t
from arrears.store.db import make_engine

GOOD = Path(__file__).parent.parent / "fixtures" / "import" / "good"
TABLES = (t.borrowers, t.contacts, t.accounts, t.due_items, t.payments)


def counts(db: Engine) -> dict[str, int]:
    with db.connect() as conn:
        return {
            tab.name: conn.execute(select(func.count()).select_from(tab)).scalar_one()
            for tab in TABLES
        }


def snapshot(db: Engine) -> list[object]:
    with db.connect() as conn:
        return [sorted(conn.execute(select(tab)).all(), key=repr) for tab in TABLES]


def extracts(tmp_path: Path, **files: str) -> Path:
    """A copy of the good extracts with some files replaced (text) or removed (empty string)."""
    target = tmp_path / "extracts"
    shutil.copytree(GOOD, target)
    for name, text in files.items():
        path = target / f"{name}.csv"
        if text:
            path.write_text(text, encoding="utf-8")
        else:
            path.unlink()
    return target


def only(tmp_path: Path, **files: str) -> Path:
    """A new directory holding just the given extracts."""
    n = len(list(tmp_path.glob("only*")))
    target = tmp_path / f"only{n}"
    target.mkdir()
    for name, text in files.items():
        (target / f"{name}.csv").write_text(text, encoding="utf-8")
    return target


def rejected(db: Engine, keyring: KeyRing, directory: Path) -> list[str]:
    before = snapshot(db)
    with pytest.raises(ImportRejected) as exc:
        import_directory(db, keyring, directory)
    assert snapshot(db) == before, "a rejected import wrote something"
    return [str(p) for p in exc.value.problems]


def edit(name: str, old: str, new: str) -> str:
    text = (GOOD / f"{name}.csv").read_text(encoding="utf-8")
    assert old in text, old
    return text.replace(old, new)


# -- a good import -----------------------------------------------------------------------------


def test_good_import_writes_every_file_in_table_units(db: Engine, keyring: KeyRing) -> None:
    report = import_directory(db, keyring, GOOD)

    assert report.files == {
        "borrowers.csv": FileCounts(inserted=3),
        "contacts.csv": FileCounts(inserted=3),
        "accounts.csv": FileCounts(inserted=3),
        "due_items.csv": FileCounts(inserted=7),
        "payments.csv": FileCounts(inserted=3),
    }
    with db.connect() as conn:
        a = conn.execute(select(t.accounts).order_by(t.accounts.c.id)).all()
        assert [
            (r.id, r.currency, r.principal, r.annual_rate_ppm, r.penalty_rate_ppm) for r in a
        ] == [
            ("A1", "CNY", 300000, 180000, 50000),
            ("A2", "USD", 120000, 239900, 0),
            ("A3", "CNY", 60000, 0, 100000),
        ]
        assert a[0].opened_on == date(2025, 12, 1)
        item = conn.execute(select(t.due_items).where(t.due_items.c.account_id == "A2")).one()
        assert (item.due_on, item.principal, item.interest, item.fee) == (
            date(2026, 1, 10),
            3500,
            1250,
            0,
        )
        p = conn.execute(select(t.payments).order_by(t.payments.c.id)).all()
        assert [(r.id, r.amount, r.currency, r.received_on, r.posted_on) for r in p] == [
            ("P1", 104500, "CNY", date(2026, 1, 14), None),
            ("P2", 4750, "USD", date(2026, 1, 10), None),
            ("P3", 10000, "CNY", date(2026, 1, 22), None),
        ]
        b = {r.id: r for r in conn.execute(select(t.borrowers))}
        assert (b["B1"].timezone, b["B1"].language, b["B1"].region, b["B1"].risk_score) == (
            "Asia/Shanghai",
            "zh-CN",
            "east",
            620,
        )
        assert (b["B2"].region, b["B2"].risk_score, b["B3"].email_enc) == (None, None, None)
        assert keyring.decrypt(b["B2"].phone_enc) == "+447700900123"
        c = {r.id: r for r in conn.execute(select(t.contacts))}
        assert {k: (r.borrower_id, r.relationship, r.consent) for k, r in c.items()} == {
            "C1": ("B1", "sibling", True),
            "C2": ("B1", "friend", False),
            "C3": ("B3", "spouse", True),
        }


def test_reimport_is_a_no_op_and_never_posts_a_payment_twice(db: Engine, keyring: KeyRing) -> None:
    import_directory(db, keyring, GOOD)
    before = snapshot(db)

    again = import_directory(db, keyring, GOOD)

    assert again.files["payments.csv"] == FileCounts(skipped=3)
    assert all(c.inserted == 0 and c.updated == 0 for c in again.files.values())
    # nothing rewritten, not even the ciphertext of unchanged personal data
    assert snapshot(db) == before


def test_new_payments_go_in_beside_payments_already_seen(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    import_directory(db, keyring, GOOD)
    more = edit(
        "payments",
        "P3,A3,100.00,CNY,2026-01-22\n",
        "P3,A3,100.00,CNY,2026-01-22\nP4,A3,105.00,CNY,2026-02-20\n",
    )

    report = import_directory(db, keyring, only(tmp_path, payments=more))

    assert report.files == {"payments.csv": FileCounts(inserted=1, skipped=3)}
    assert counts(db)["payments"] == 4


# -- every kind of problem, exactly, and nothing written ---------------------------------------


BAD = [
    pytest.param(
        {"due_items": edit("due_items", "A1,2,2026-02-15", "A1,2,2026-02-30")},
        ["due_items.csv:3: due_on: '2026-02-30' is not a calendar date; check the day and month"],
        id="impossible-date",
    ),
    pytest.param(
        {"payments": edit("payments", "2026-01-22", "22/01/2026")},
        [
            "payments.csv:4: received_on: '22/01/2026' is not a date; write YYYY-MM-DD, "
            "e.g. 2026-01-31"
        ],
        id="date-format",
    ),
    pytest.param(
        {"payments": edit("payments", "P3,A3,100.00", "P3,A3,-100.00")},
        ["payments.csv:4: amount: -100.00 is negative; amounts are never negative"],
        id="negative-amount",
    ),
    pytest.param(
        {"due_items": edit("due_items", "A2,1,2026-01-10,35.00", "A2,1,2026-01-10,35.001")},
        ["due_items.csv:5: principal: '35.001' has more decimals than USD allows (2)"],
        id="too-many-decimals",
    ),
    pytest.param(
        {"payments": edit("payments", "P3,A3,", "P3,A9,")},
        [
            "payments.csv:4: account_id: unknown account A9: in neither accounts.csv nor the "
            "database; add the account to accounts.csv"
        ],
        id="unknown-account",
    ),
    pytest.param(
        {"due_items": edit("due_items", "A3,3,", "A7,3,")},
        [
            "due_items.csv:8: account_id: unknown account A7: in neither accounts.csv nor the "
            "database; add the account to accounts.csv"
        ],
        id="due-item-unknown-account",
    ),
    pytest.param(
        {"borrowers": edit("borrowers", "138-0013-8000", "12345")},
        [
            "borrowers.csv:4: phone: '12345' is not a phone number; write an 11-digit mainland "
            "mobile or +<country><number>"
        ],
        id="bad-phone",
    ),
    pytest.param(
        {"payments": edit("payments", "P2,A2,47.50,USD", "P2,A2,47.50,CNY")},
        [
            "payments.csv:3: currency: CNY differs from account A2's currency USD; convert the "
            "payment in the host system first"
        ],
        id="currency-mismatch",
    ),
    pytest.param(
        {"contacts": edit("contacts", "C3,B3,", "C3,B8,")},
        [
            "contacts.csv:4: borrower_id: unknown borrower B8: in neither borrowers.csv nor the "
            "database; add the borrower to borrowers.csv"
        ],
        id="contact-of-unknown-borrower",
    ),
    pytest.param(
        {"accounts": edit("accounts", "0.18,0.05", "0.1812345,-0.05")},
        [
            "accounts.csv:2: annual_rate: 0.1812345 has more than 6 decimals; rates are kept to "
            "0.000001",
            "accounts.csv:2: penalty_rate: -0.05 is negative; rates are never negative",
        ],
        id="bad-rates",
    ),
    pytest.param(
        {"accounts": edit("accounts", "0.2399,0", "23.99,0")},
        [
            "accounts.csv:3: annual_rate: 23.99 is above 1 (100% a year); write rates as "
            "fractions, 0.18 for 18% a year"
        ],
        id="rate-as-percent",
    ),
    pytest.param(
        {"payments": edit("payments", "P3,", "P2,")},
        ["payments.csv:4: payment_id: P2 also appears on line 3; one row per id"],
        id="duplicate-payment-id",
    ),
    pytest.param(
        {"borrowers": edit("borrowers", "Asia/Urumqi,zh-CN", "Asia/Beijing,fr")},
        [
            "borrowers.csv:4: language: 'fr' is not one of zh-CN, en",
            "borrowers.csv:4: timezone: 'Asia/Beijing' is not an IANA time zone; write e.g. "
            "Asia/Shanghai or Asia/Urumqi",
        ],
        id="timezone-language",
    ),
    pytest.param(
        {"contacts": edit("contacts", "friend,13900000002,no", "neighbour,13900000002,maybe")},
        [
            "contacts.csv:3: consent: 'maybe' is not a yes/no value; write true/false, 1/0 or "
            "yes/no",
            "contacts.csv:3: relationship: 'neighbour' is not one of spouse, parent, child, "
            "sibling, relative, friend, colleague, other",
        ],
        id="consent-relationship",
    ),
    pytest.param(
        {"accounts": edit("accounts", "credit_card", "mortgage")},
        [
            "accounts.csv:3: product: 'mortgage' is not one of instalment_loan, credit_card, "
            "instalment_purchase"
        ],
        id="product",
    ),
    pytest.param(
        {"due_items": edit("due_items", "A1,1,2026-01-15", "A1,1,2025-11-15")},
        [
            "due_items.csv:2: due_on: 2025-11-15 is before account A1 was opened (2025-12-01); "
            "check the schedule"
        ],
        id="due-before-opening",
    ),
    pytest.param(
        {
            "borrowers": edit("borrowers", "phone,email,", "email,")
            .replace(",13812345678,", ",")
            .replace(",+44 7700 900123,", ",")
            .replace(",138-0013-8000,", ",")
        },
        [
            "borrowers.csv:1: phone: required column is missing; the header needs borrower_id, "
            "name, phone, email, timezone, language"
        ],
        id="missing-column",
    ),
    pytest.param(
        {
            "contacts": edit("contacts", "consent\n", "consent,nickname\n")
            .replace("true\n", "true,x\n")
            .replace("no\n", "no,y\n")
            .replace("yes\n", "yes,z\n")
        },
        [
            "contacts.csv:1: nickname: unknown column; the columns are contact_id, borrower_id, "
            "name, relationship, phone, consent"
        ],
        id="unknown-column",
    ),
    pytest.param(
        {"payments": edit("payments", "P3,A3,100.00,CNY,2026-01-22", "P3,A3,100.00")},
        ["payments.csv:4: -: has 3 fields but the header has 5; check delimiters and quoting"],
        id="short-line",
    ),
    pytest.param(
        {"borrowers": edit("borrowers", "B2,John Smith", "B2,")},
        ["borrowers.csv:3: name: is empty; this column needs a value"],
        id="empty-required-cell",
    ),
]


@pytest.mark.parametrize(("files", "expected"), BAD)
def test_each_problem_is_listed_exactly_and_nothing_is_written(
    db: Engine, keyring: KeyRing, tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    assert rejected(db, keyring, extracts(tmp_path, **files)) == expected
    assert set(counts(db).values()) == {0}


def test_all_problems_across_all_files_are_listed_together(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    directory = extracts(
        tmp_path,
        borrowers=edit("borrowers", "13812345678", "1381234"),
        accounts=edit("accounts", "2025-11-15", "2025-13-15"),
        payments=edit("payments", "P1,A1,1045.00", "P1,A1,-5").replace("P3,A3", "P3,A4"),
    )
    assert rejected(db, keyring, directory) == [
        "borrowers.csv:2: phone: '1381234' is not a phone number; write an 11-digit mainland "
        "mobile or +<country><number>",
        "accounts.csv:3: opened_on: '2025-13-15' is not a calendar date; check the day and month",
        "payments.csv:2: amount: -5 is negative; amounts are never negative",
        "payments.csv:4: account_id: unknown account A4: in neither accounts.csv nor the "
        "database; add the account to accounts.csv",
    ]


def test_a_rejected_import_leaves_an_earlier_import_untouched(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    import_directory(db, keyring, GOOD)
    bad = extracts(
        tmp_path,
        borrowers=edit("borrowers", "Europe/London", "Asia/Tokyo"),  # a valid change ...
        payments=edit("payments", "2026-01-22\n", "2026-01-22\nP4,A2,0.00,USD,2026-02-10\n"),
    )
    assert rejected(db, keyring, bad) == [
        "payments.csv:5: amount: is zero; a payment moves money",
    ]


def test_a_payment_id_seen_before_with_other_content_is_a_correction_needing_a_new_id(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    import_directory(db, keyring, GOOD)
    again = only(tmp_path, payments=edit("payments", "P1,A1,1045.00", "P1,A1,1000.00"))
    assert rejected(db, keyring, again) == [
        "payments.csv:2: payment_id: P1 was already received with amount 1045.00 on "
        "2026-01-14; a correction needs a new id",
    ]


def test_references_resolve_against_the_database_as_well_as_the_same_import(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    import_directory(db, keyring, GOOD)
    later = only(
        tmp_path,
        contacts="contact_id,borrower_id,name,relationship,phone,consent\n"
        "C9,B2,Mary Smith,spouse,+44 7700 900999,1\n",
        due_items="account_id,seq,due_on,principal,interest,fee\nA2,2,2026-02-10,40.00,11,0\n",
        payments="payment_id,account_id,amount,currency,received_on\n"
        "P9,A2,20.00,USD,2026-02-01\nP10,A2,5,CNY,2026-02-02\n",
    )
    assert rejected(db, keyring, later) == [
        "payments.csv:3: currency: CNY differs from account A2's currency USD; convert the "
        "payment in the host system first",
    ]
    fixed = only(
        tmp_path,
        payments="payment_id,account_id,amount,currency,received_on\nP9,A2,20.00,USD,2026-02-01\n",
    )
    assert import_directory(db, keyring, fixed).files["payments.csv"] == FileCounts(inserted=1)


def test_an_account_keeps_its_currency(db: Engine, keyring: KeyRing, tmp_path: Path) -> None:
    import_directory(db, keyring, GOOD)
    changed = only(
        tmp_path, accounts=edit("accounts", "A2,B2,credit_card,USD", "A2,B2,credit_card,HKD")
    )
    assert rejected(db, keyring, changed) == [
        "accounts.csv:3: currency: account A2 is booked in USD; a different currency needs a "
        "new account id",
    ]


def test_unknown_and_empty_files_are_problems(db: Engine, keyring: KeyRing, tmp_path: Path) -> None:
    directory = extracts(tmp_path)
    (directory / "loans.csv").write_text("loan_id\nL1\n")
    (directory / "payments.csv").write_text("")
    assert rejected(db, keyring, directory) == [
        "payments.csv:0: -: is empty; the first line is the header: payment_id,account_id,"
        "amount,currency,received_on",
        "loans.csv:0: -: is not a host extract; name the files borrowers.csv, contacts.csv, "
        "accounts.csv, due_items.csv, payments.csv",
    ]


def test_a_file_that_is_not_utf8_is_a_problem(db: Engine, keyring: KeyRing, tmp_path: Path) -> None:
    directory = extracts(tmp_path)
    (directory / "borrowers.csv").write_bytes(
        (GOOD / "borrowers.csv").read_text(encoding="utf-8").encode("gb18030")
    )
    problems = rejected(db, keyring, directory)
    assert problems == ["borrowers.csv:2: -: is not UTF-8 text; export the extract as UTF-8"]


# -- atomicity -----------------------------------------------------------------------------------


def test_a_crash_while_writing_leaves_nothing(
    db: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(conn: object, rows: object) -> None:
        raise RuntimeError("disk full")

    # borrowers, contacts, accounts and due items are written before payments
    monkeypatch.setitem(importing.WRITERS, importing.ExtractFile.payments, crash)
    with pytest.raises(RuntimeError, match="disk full"):
        import_directory(db, keyring, GOOD)
    assert set(counts(db).values()) == {0}


def test_dry_run_validates_and_writes_nothing(db: Engine, keyring: KeyRing) -> None:
    report = import_directory(db, keyring, GOOD, dry_run=True)
    assert report.dry_run and report.files["due_items.csv"] == FileCounts(inserted=7)
    assert set(counts(db).values()) == {0}


# -- personal data -------------------------------------------------------------------------------


def test_personal_data_is_stored_encrypted_never_in_plain_text(
    db: Engine, keyring: KeyRing
) -> None:
    import_directory(db, keyring, GOOD)
    plain = [
        "王芳",
        "13812345678",
        "wang.fang@example.cn",
        "John Smith",
        "7700900123",
        "john.smith@example.com",
        "李伟",
        "13800138000",
        "王强",
        "13900000001",
        "赵敏",
        "李娜",
    ]
    with db.connect() as conn:
        for table in (t.borrowers, t.contacts):
            for row in conn.execute(select(table)):
                raw = b"|".join(
                    bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row
                )
                leaked = [p for p in plain if p.encode() in raw]
                assert leaked == [], f"{table.name} {row.id} stores {leaked} in plain text"
        b1 = conn.execute(select(t.borrowers).where(t.borrowers.c.id == "B1")).one()
        assert keyring.decrypt(b1.name_enc) == "王芳"
        assert keyring.decrypt(b1.phone_enc) == "+8613812345678"
        assert keyring.decrypt(b1.email_enc) == "wang.fang@example.cn"
        c3 = conn.execute(select(t.contacts).where(t.contacts.c.id == "C3")).one()
        assert keyring.decrypt(c3.name_enc) == "李娜"
    # another key ring cannot read it
    with pytest.raises(Exception):  # noqa: B017 - AES-GCM refuses a foreign key
        KeyRing.generate().decrypt(b1.name_enc)


def test_optional_id_number_and_address_are_encrypted(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    directory = only(
        tmp_path,
        borrowers="borrower_id,name,phone,email,timezone,language,id_number,address\n"
        'B1,王芳,13812345678,,Asia/Shanghai,zh-CN,110101199003074512,"北京市东城区1号, 2单元"\n',
    )
    import_directory(db, keyring, directory)
    with db.connect() as conn:
        row = conn.execute(select(t.borrowers)).one()
    assert b"110101199003074512" not in bytes(row.id_number_enc)
    assert keyring.decrypt(row.id_number_enc) == "110101199003074512"
    assert keyring.decrypt(row.address_enc) == "北京市东城区1号, 2单元"


@pytest.mark.parametrize(
    ("typed", "borrower"),
    [("13812345678", "B1"), ("+86 138 1234 5678", "B1"), ("0086-138-0013-8000", "B3")],
)
def test_a_phone_number_finds_its_borrower_by_blind_index(
    db: Engine, keyring: KeyRing, typed: str, borrower: str
) -> None:
    from arrears.domain.phone import normalise_phone

    import_directory(db, keyring, GOOD)
    index = keyring.blind_index(normalise_phone(typed))
    with db.connect() as conn:
        found = (
            conn.execute(select(t.borrowers.c.id).where(t.borrowers.c.phone_index == index))
            .scalars()
            .all()
        )
        contact = (
            conn.execute(
                select(t.contacts.c.id).where(
                    t.contacts.c.phone_index == keyring.blind_index("+8613900000003")
                )
            )
            .scalars()
            .all()
        )
    assert found == [borrower]
    assert contact == ["C3"]


# -- upserts -------------------------------------------------------------------------------------


def test_reimport_updates_a_borrowers_timezone_and_nothing_else(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    import_directory(db, keyring, GOOD)
    with db.connect() as conn:
        b1_before = conn.execute(select(t.borrowers).where(t.borrowers.c.id == "B1")).one()
    moved = only(tmp_path, borrowers=edit("borrowers", "Europe/London", "Asia/Hong_Kong"))

    report = import_directory(db, keyring, moved)

    assert report.files == {"borrowers.csv": FileCounts(updated=1, skipped=2)}
    with db.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(t.borrowers))}
    assert rows["B2"].timezone == "Asia/Hong_Kong"
    assert keyring.decrypt(rows["B2"].name_enc) == "John Smith"
    assert rows["B1"] == b1_before


def test_a_new_phone_number_clears_the_wrong_number_mark(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    import_directory(db, keyring, GOOD)
    with db.begin() as conn:
        conn.execute(update(t.borrowers).values(phone_status="wrong"))
        conn.execute(
            update(t.contacts).where(t.contacts.c.id == "C1").values(status="wrong_number")
        )
        conn.execute(update(t.contacts).where(t.contacts.c.id == "C3").values(status="refused"))
    directory = only(
        tmp_path,
        borrowers=edit("borrowers", "13812345678", "13812340000"),
        contacts=edit("contacts", "13900000001", "13900000011").replace(
            "+8613900000003", "+8613900000033"
        ),
    )
    import_directory(db, keyring, directory)
    with db.connect() as conn:
        phone = dict(conn.execute(select(t.borrowers.c.id, t.borrowers.c.phone_status)).all())
        status = dict(conn.execute(select(t.contacts.c.id, t.contacts.c.status)).all())
    assert phone == {"B1": "ok", "B2": "wrong", "B3": "wrong"}
    # a new number for C1 is worth a try; C3 refused as a person, whatever the number
    assert status == {"C1": "active", "C2": "active", "C3": "refused"}


def test_due_item_reimport_keeps_the_paid_parts(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    import_directory(db, keyring, GOOD)
    key = (t.due_items.c.account_id == "A1") & (t.due_items.c.seq == 1)
    with db.begin() as conn:  # what the daily run's posting would have done
        conn.execute(
            update(t.due_items)
            .where(key)
            .values(paid_principal=100000, paid_interest=4500, penalty=120, paid_penalty=120)
        )
    rescheduled = only(
        tmp_path,
        due_items=edit(
            "due_items", "A1,1,2026-01-15,1000.00,45.00,0", "A1,1,2026-01-16,1000.00,45.00,2.00"
        ),
    )

    report = import_directory(db, keyring, rescheduled)

    assert report.files == {"due_items.csv": FileCounts(updated=1, skipped=6)}
    with db.connect() as conn:
        item = conn.execute(select(t.due_items).where(key)).one()
    assert (item.due_on, item.principal, item.interest, item.fee) == (
        date(2026, 1, 16),
        100000,
        4500,
        200,
    )
    assert (item.paid_principal, item.paid_interest, item.penalty, item.paid_penalty) == (
        100000,
        4500,
        120,
        120,
    )


def test_a_due_item_cannot_shrink_below_what_was_paid(
    db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    import_directory(db, keyring, GOOD)
    with db.begin() as conn:
        conn.execute(
            update(t.due_items)
            .where((t.due_items.c.account_id == "A1") & (t.due_items.c.seq == 1))
            .values(paid_principal=100000)
        )
    shrunk = only(
        tmp_path, due_items=edit("due_items", "A1,1,2026-01-15,1000.00", "A1,1,2026-01-15,900.00")
    )
    assert rejected(db, keyring, shrunk) == [
        "due_items.csv:2: principal: 900.00 is less than the 1000.00 already paid on item 1 "
        "of A1; a due item cannot shrink below what was paid",
    ]


# -- rows without files (simulator, API) ---------------------------------------------------------


def test_rows_as_dicts_share_the_validation(db: Engine, keyring: KeyRing) -> None:
    from decimal import Decimal

    rows = {
        "borrowers": [
            {
                "borrower_id": "B1",
                "name": "王芳",
                "phone": "13812345678",
                "email": None,
                "timezone": "Asia/Shanghai",
                "language": "zh-CN",
            },
        ],
        "accounts.csv": [
            {
                "account_id": "A1",
                "borrower_id": "B1",
                "product": "instalment_loan",
                "currency": "CNY",
                "principal": Decimal("3000"),
                "annual_rate": "0.18",
                "penalty_rate": 0.05,
                "opened_on": date(2025, 12, 1),
            },
        ],
    }
    with pytest.raises(ImportRejected) as exc:
        import_rows(db, keyring, rows)
    assert exc.value.problems == [
        ImportProblem(
            "accounts.csv", 2, "penalty_rate", "0.05 is a float; pass amounts as str or Decimal"
        )
    ]
    rows["accounts.csv"][0]["penalty_rate"] = "0.05"
    report = import_rows(db, keyring, rows)
    assert report.files["accounts.csv"] == FileCounts(inserted=1)
    with db.connect() as conn:
        assert conn.execute(select(t.accounts.c.principal)).scalar_one() == 300000


# -- the command line ----------------------------------------------------------------------------


def test_cli_prints_the_report_or_every_problem_with_exit_1(tmp_path: Path) -> None:
    from arrears.cli import build

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    env = {"ARREARS_KEY_FILE": str(tmp_path / "keys.json"), "ARREARS_KEYS": ""}
    runner = CliRunner()

    ok = runner.invoke(build(), ["--database", url, "import", str(GOOD)], env=env)
    assert ok.exit_code == 0, ok.output
    assert "due_items.csv            7         0         0" in ok.stdout

    bad = extracts(tmp_path, payments=edit("payments", "P2,A2,47.50,USD", "P5,A2,-1,HKD"))
    result = runner.invoke(build(), ["--database", url, "import", str(bad)], env=env)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "payments.csv:3: amount: -1 is negative; amounts are never negative",
        "payments.csv:3: currency: HKD differs from account A2's currency USD; convert the "
        "payment in the host system first",
        "import rejected: 2 problem(s); nothing was written",
    ]


def test_imported_payments_wait_for_the_daily_run_to_post_them(
    db: Engine, keyring: KeyRing
) -> None:
    from arrears.engine.run_day import run_day

    import_directory(db, keyring, GOOD)
    run_day(db, date(2026, 1, 16))
    with db.connect() as conn:
        posted = dict(conn.execute(select(t.payments.c.id, t.payments.c.posted_on)).all())
        item = conn.execute(
            select(t.due_items).where((t.due_items.c.account_id == "A1") & (t.due_items.c.seq == 1))
        ).one()
    # P3 arrives on 2026-01-22: still waiting
    assert posted == {"P1": date(2026, 1, 16), "P2": date(2026, 1, 16), "P3": None}
    assert (item.paid_principal, item.paid_interest) == (100000, 4500)


def test_changed_instalment_of_a_paid_up_account_is_assessed_again(
    db: Engine, keyring: KeyRing
) -> None:
    """Day 1: a paid-up account is assessed and left alone after. Day 2: the host reschedules its
    next instalment; the run that follows sees the new outstanding amount."""
    from arrears.engine.run_day import run_day
    from tests import factories as f

    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.account(
            conn, "A1", "B1", [(date(2026, 1, 15), 10_000, 500), (date(2026, 3, 15), 10_000, 500)]
        )
        f.payment(conn, "P1", "A1", 10_500, date(2026, 1, 10))
    run_day(db, date(2026, 2, 1))
    run_day(db, date(2026, 2, 2))

    def outstanding() -> int:
        with db.connect() as conn:
            return conn.execute(select(t.accounts.c.outstanding)).scalar_one()

    assert outstanding() == 10_500
    row = {"account_id": "A1", "seq": 2, "due_on": "2026-03-15", "principal": "120.00"}
    import_rows(db, keyring, {"due_items": [{**row, "interest": "5.00", "fee": "0"}]})
    run_day(db, date(2026, 2, 3))
    assert outstanding() == 12_500


def test_a_new_instalment_brings_its_figures_and_a_changed_one_queues_its_account(
    db: Engine, keyring: KeyRing
) -> None:
    """A new item adds what it owes to its account as it is imported, with no assessment; a
    stored item changed queues its account to be assessed again."""
    from tests import factories as f

    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.account(conn, "A1", "B1", [(date(2026, 3, 15), 10_000, 500)])

    def figures() -> tuple[int, list[str]]:
        with db.connect() as conn:
            queued = conn.execute(select(t.unassessed_accounts.c.account_id)).scalars()
            return conn.execute(select(t.accounts.c.outstanding)).scalar_one(), list(queued)

    assert figures() == (10_500, [])
    row = {"account_id": "A1", "due_on": "2026-04-15", "interest": "5.00", "fee": "0"}
    import_rows(db, keyring, {"due_items": [{**row, "seq": "2", "principal": "100.00"}]})
    assert figures() == (21_000, [])
    import_rows(db, keyring, {"due_items": [{**row, "seq": "2", "principal": "120.00"}]})
    assert figures() == (21_000, ["A1"])  # the night refigures it from its items
