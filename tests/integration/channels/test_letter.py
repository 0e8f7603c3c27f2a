"""Letters into a PDF per business day and batch, with a manifest: read back with pypdf (the
Chinese and English bodies are really in the text layer), page ranges, masked recipients, a key
never printed twice, the font setting — and the dispatcher sending letter outbox rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fpdf.errors import FPDFException
from pypdf import PdfReader
from sqlalchemy import Engine, select

from arrears.channels.base import Accepted, MessageRejected, OutgoingMessage
from arrears.channels.config import parse_channels
from arrears.channels.letter import (
    FONT_CANDIDATES,
    LetterChannel,
    LetterFontNotFound,
    LetterSettings,
    find_font,
)
from arrears.privacy.keyring import KeyRing
from arrears.services.dispatch import AllowAll, dispatch_once
from arrears.store import tables as t
from tests.integration.channels.outbox import AT, queue_messages

# 17:30 UTC on 1 March is already 2 March in Shanghai: the business day of the batch
EVENING = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)

ZH = (
    "尊敬的王芳：\n\n您在示例消费金融的账户自2026年3月1日起有¥1,234.50尚未还清。\n\n"
    "如果您已经还款，请忽略本函。"
)
EN = "Dear Alice Smith,\n\nCN¥1,234.50 on your account has been unpaid since 1 Mar 2026."
LONG = "\n\n".join(f"第{i}段：我们愿意与您一起商量合适的还款安排。" * 3 for i in range(40))


def letter(outbox_id: int, body: str, *, language: str = "zh-CN", to: str | None = None):
    return OutgoingMessage(
        outbox_id=outbox_id,
        channel="letter",
        to=to or f"上海市浦东新区世纪大道{outbox_id}号 200120",
        language=language,
        audience="borrower",
        template="reminder",
        body=body,
        subject="还款提醒函" if language == "zh-CN" else "Payment reminder",
    )


def channel(directory: Path, **kw) -> LetterChannel:
    settings = LetterSettings(
        directory=directory,
        lender_name={"zh-CN": "示例消费金融", "en": "Example Consumer Finance"},
        return_address={"zh-CN": "上海市黄浦区中山东一路1号", "en": "1 Zhongshan Rd E, Shanghai"},
        **kw,
    )
    return LetterChannel(settings, clock=lambda: EVENING)


def pages_text(pdf: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(pdf).pages]


def test_a_batch_becomes_one_pdf_with_a_manifest(tmp_path: Path):
    letters = channel(tmp_path)
    out = letters.send_batch(
        [
            letter(11, ZH),
            letter(12, EN, language="en", to="12 Nanjing Road West, Shanghai 200041"),
            letter(13, LONG),
        ]
    )
    day = tmp_path / "2026-03-02"
    assert sorted(p.name for p in day.iterdir()) == [
        "letters-2026-03-02-001.json",
        "letters-2026-03-02-001.pdf",
    ]
    manifest = json.loads((day / "letters-2026-03-02-001.json").read_text("utf-8"))
    assert manifest["business_date"] == "2026-03-02"
    entries = manifest["letters"]
    assert [(e["key"], e["outbox_id"]) for e in entries] == [
        ("arrears-11", 11),
        ("arrears-12", 12),
        ("arrears-13", 13),
    ]
    assert entries[0]["pages"] == [1, 1] and entries[1]["pages"] == [2, 2]
    first, last = entries[2]["pages"]
    assert first == 3 and last > first  # the long letter runs over several pages
    assert manifest["pages"] == last
    # recipients are masked in the manifest, never in clear
    assert entries[0]["recipient"] == "上海市浦东新****"
    assert entries[1]["recipient"] == "12 Nanjing R****"
    assert "世纪大道11号" not in json.dumps(manifest, ensure_ascii=False)
    assert out == [
        Accepted(("letters-2026-03-02-001.pdf#p1",)),
        Accepted(("letters-2026-03-02-001.pdf#p2",)),
        Accepted(("letters-2026-03-02-001.pdf#p3",)),
    ]
    text = pages_text(day / "letters-2026-03-02-001.pdf")
    assert len(text) == last
    compact = [p.replace("\n", "").replace(" ", "") for p in text]
    # the Chinese letter: letterhead, window address, date, subject, body, key in the footer
    for fragment in (
        "示例消费金融",
        "上海市浦东新区世纪大道11号",
        "2026年3月2日",
        "还款提醒函",
        "尊敬的王芳：",
        "¥1,234.50尚未还清",
        "如果您已经还款，请忽略本函。",
        "arrears-11·1",
    ):
        assert fragment in compact[0], fragment
    assert "Dear Alice Smith," in text[1] and "CN¥1,234.50" in text[1]
    assert "Example Consumer Finance" in text[1] and "2 March 2026" in text[1]
    assert "12 Nanjing Road West" in text[1]
    assert "第0段" in compact[2] and "第39段" in compact[last - 1]
    assert f"arrears-13·{last - 2}" in compact[last - 1]


def test_a_key_is_never_printed_twice(tmp_path: Path):
    letters = channel(tmp_path)
    first = letters.send_batch([letter(1, ZH), letter(2, ZH)])
    # a re-send after a crash (even from a new worker) and a new message in the same batch
    again = channel(tmp_path).send_batch([letter(2, ZH), letter(3, ZH), letter(3, ZH)])
    day = tmp_path / "2026-03-02"
    assert sorted(p.name for p in day.glob("*.pdf")) == [
        "letters-2026-03-02-001.pdf",
        "letters-2026-03-02-002.pdf",
    ]
    second = json.loads((day / "letters-2026-03-02-002.json").read_text("utf-8"))
    assert [e["key"] for e in second["letters"]] == ["arrears-3"]
    assert again[0] == first[1]  # the letter already printed answers with where it is
    assert again[1] == again[2] == Accepted(("letters-2026-03-02-002.pdf#p1",))
    assert len(PdfReader(day / "letters-2026-03-02-002.pdf").pages) == 1
    # nothing new: no file at all
    assert channel(tmp_path).send_batch([letter(1, ZH)]) == [first[0]]
    assert len(list(day.glob("*.pdf"))) == 2
    assert channel(tmp_path).resend_safe


def test_a_letter_another_worker_printed_is_not_printed_again(tmp_path: Path):
    a, b = channel(tmp_path), channel(tmp_path)
    assert b.send_batch([letter(1, ZH)]) == [Accepted(("letters-2026-03-02-001.pdf#p1",))]
    # worker b died before recording; the lease ran out and worker a, running all along, has it
    assert a.send_batch([letter(1, ZH), letter(2, ZH)]) == [
        Accepted(("letters-2026-03-02-001.pdf#p1",)),
        Accepted(("letters-2026-03-02-002.pdf#p1",)),
    ]
    manifest = json.loads((tmp_path / "2026-03-02" / "letters-2026-03-02-002.json").read_text())
    assert [e["key"] for e in manifest["letters"]] == ["arrears-2"]


def test_a_name_being_written_by_another_worker_is_not_taken(tmp_path: Path):
    day = tmp_path / "2026-03-02"
    day.mkdir()
    (day / "letters-2026-03-02-001.pdf.part").write_bytes(b"")  # another worker, mid-write
    out = channel(tmp_path).send_batch([letter(1, ZH)])
    assert out == [Accepted(("letters-2026-03-02-002.pdf#p1",))]
    assert (day / "letters-2026-03-02-001.pdf.part").exists()
    assert not list(day.glob("letters-2026-03-02-002*.part"))


class OneBadLetter(LetterChannel):
    """A letter the PDF library cannot lay out (stands in for any such failure)."""

    def _letter(self, pdf, msg, day):
        if msg.outbox_id == 2:
            raise FPDFException("Not enough horizontal space to render a single character")
        super()._letter(pdf, msg, day)


def test_a_letter_that_cannot_be_printed_is_rejected_alone(tmp_path: Path):
    letters = OneBadLetter(LetterSettings(directory=tmp_path), clock=lambda: EVENING)
    out = letters.send_batch([letter(1, ZH), letter(2, ZH), letter(3, EN, language="en")])
    assert out[0] == Accepted(("letters-2026-03-02-001.pdf#p1",))
    assert isinstance(out[1], MessageRejected) and "horizontal space" in out[1].reason
    assert out[2] == Accepted(("letters-2026-03-02-001.pdf#p2",))
    [pdf] = (tmp_path / "2026-03-02").glob("*.pdf")
    assert len(PdfReader(pdf).pages) == 2
    assert not list((tmp_path / "2026-03-02").glob("*.part"))


def test_a_manifest_without_its_pdf_does_not_count(tmp_path: Path):
    channel(tmp_path).send_batch([letter(1, ZH)])
    day = tmp_path / "2026-03-02"
    (day / "letters-2026-03-02-001.pdf").unlink()  # a crash between the two renames
    out = channel(tmp_path).send_batch([letter(1, ZH)])
    assert out == [Accepted(("letters-2026-03-02-002.pdf#p1",))]
    assert (day / "letters-2026-03-02-001.json.orphan").exists()


def test_font_setting(tmp_path: Path):
    with pytest.raises(LetterFontNotFound, match="font_path"):
        channel(tmp_path, font_path=tmp_path / "missing.ttf")
    with pytest.raises(LetterFontNotFound, match=r"fonts-wqy-microhei.*font_path"):
        find_font(None, candidates=[str(tmp_path / "nothing.ttc")])
    installed = next(p for p in FONT_CANDIDATES if Path(p).is_file())
    assert find_font(None) == Path(installed)
    built = parse_channels(
        {
            "channels": {
                "letter": {"kind": "letter", "directory": str(tmp_path), "font_path": installed}
            }
        }
    ).build()
    adapter = built.get("letter")
    assert isinstance(adapter, LetterChannel) and adapter.font == Path(installed)
    assert adapter.settings.lender_name["zh-CN"] == "示例消费金融"


def test_dispatcher_prints_letter_outbox_rows(db: Engine, keyring: KeyRing, tmp_path: Path):
    with db.begin() as conn:
        ids = queue_messages(conn, keyring, 2, channel="letter", template="reminder", name="王芳")
    letters = channel(tmp_path / "letters")
    report = dispatch_once(
        db, keyring, {"letter": letters}, AT + timedelta(minutes=5), gate=AllowAll()
    )
    assert report.sent == 2
    [pdf] = (tmp_path / "letters").glob("*/*.pdf")
    compact = [p.replace("\n", "").replace(" ", "") for p in pages_text(pdf)]
    assert "尊敬的王芳0：" in compact[0] and "尊敬的王芳1：" in compact[1]
    assert "上海市浦东新区世纪大道0号" in compact[0]
    manifest = json.loads(pdf.with_suffix(".json").read_text("utf-8"))
    assert [e["outbox_id"] for e in manifest["letters"]] == ids
    with db.connect() as conn:
        rows = conn.execute(
            select(t.outbox.c.status, t.outbox.c.provider_id).order_by(t.outbox.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("sent", f"{pdf.name}#p1"),
        ("sent", f"{pdf.name}#p2"),
    ]
