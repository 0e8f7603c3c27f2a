"""Letters: each batch becomes one PDF for the print house (one letter per page range, A4, a CJK
font) with a manifest beside it, in a directory per business day:

    <directory>/2026-03-02/letters-2026-03-02-001.pdf
    <directory>/2026-03-02/letters-2026-03-02-001.json   # key, outbox_id, pages, recipient (masked)

The manifest is what tells which messages a PDF holds; a key found in any complete manifest is
never printed again (`resend_safe`, like the file sink). The manifest is moved into place before
its PDF, and a manifest without its PDF (a crash between the two) is set aside and does not
count, so a letter is printed once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.errors import FPDFException

from arrears.channels.base import (
    Accepted,
    ChannelConfigInvalid,
    ChannelError,
    ChannelEvent,
    ChannelUnavailable,
    MessageRejected,
    OutgoingMessage,
    SendOutcome,
)
from arrears.privacy.masking import mask_address

# Debian packages with a CJK TrueType font, most preferred first
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # fonts-wqy-zenhei
    "/usr/share/fonts/truetype/arphic/uming.ttc",  # fonts-arphic-uming
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",  # fonts-droid-fallback
)


# a `.pdf.part` older than this was left by a worker that died while writing it
STALE_SECONDS = 600


class LetterFontNotFound(ChannelConfigInvalid):
    """No font able to print Chinese: set `font_path` or install a CJK font package."""


def find_font(font_path: Path | None, candidates: Sequence[str] = FONT_CANDIDATES) -> Path:
    """The configured font, else the first CJK font installed in a Debian font path."""
    if font_path is not None:
        if not font_path.is_file():
            raise LetterFontNotFound(
                f"the letter channel's font_path {str(font_path)!r} is not a font file; point "
                "font_path at a TrueType font with Chinese glyphs (.ttf or .ttc)"
            )
        return font_path
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    raise LetterFontNotFound(
        "no CJK font found for letters (looked for " + ", ".join(candidates) + "); install "
        "fonts-wqy-microhei (apt-get install fonts-wqy-microhei) or set font_path in the "
        "letter channel of the channels file"
    )


@dataclass
class LetterSettings:
    directory: Path
    font_path: Path | None = None
    lender_name: Mapping[str, str] = field(default_factory=dict)  # language -> letterhead
    return_address: Mapping[str, str] = field(default_factory=dict)
    timezone: str = "Asia/Shanghai"  # the business day a batch is filed under


@dataclass(frozen=True)
class ManifestEntry:
    key: str
    outbox_id: int
    file: str
    first_page: int
    last_page: int

    @property
    def provider_id(self) -> str:
        return f"{self.file}#p{self.first_page}"


class LetterChannel:
    resend_safe = True

    def __init__(
        self,
        settings: LetterSettings,
        *,
        name: str = "letter",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self.settings = settings
        self.font = find_font(settings.font_path)
        self.clock = clock
        self.directory = Path(settings.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._written: dict[str, ManifestEntry] = {}
        self._read: set[Path] = set()  # manifests already read

    # -- what is already on disk ------------------------------------------------------------

    def written(self) -> dict[str, ManifestEntry]:
        """Every letter in a complete manifest (its PDF beside it), by key. Read again before
        each batch — new manifests only — so letters another worker printed count too."""
        for manifest in sorted(self.directory.glob("*/letters-*.json")):
            if manifest in self._read:
                continue
            pdf = manifest.with_suffix(".pdf")
            if not pdf.exists():
                part = manifest.with_suffix(".pdf.part")
                if part.exists() and time.time() - part.stat().st_mtime < STALE_SECONDS:
                    continue  # another worker is between its two renames
                # the PDF never made it: its letters were not printed
                manifest.rename(manifest.with_suffix(".json.orphan"))
                part.unlink(missing_ok=True)
                continue
            for entry in json.loads(manifest.read_text("utf-8"))["letters"]:
                self._written[entry["key"]] = ManifestEntry(
                    entry["key"],
                    int(entry["outbox_id"]),
                    pdf.name,
                    int(entry["pages"][0]),
                    int(entry["pages"][1]),
                )
            self._read.add(manifest)
        return self._written

    # -- sending ----------------------------------------------------------------------------

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]:
        try:
            written = self.written()
        except (OSError, ValueError, KeyError) as exc:
            reason = f"cannot read the letter manifests in {self.directory}: {exc!r}"
            return [ChannelUnavailable(reason)] * len(messages)
        todo: list[OutgoingMessage] = []
        seen: set[str] = set()
        for msg in messages:
            if msg.key not in written and msg.key not in seen:
                todo.append(msg)
                seen.add(msg.key)
        failed: dict[str, ChannelError] = {}
        while todo:
            try:
                written.update(self._print(todo))
                break
            except _LetterFailed as bad:  # this letter cannot be printed; the rest can
                failed[bad.msg.key] = MessageRejected(f"cannot print the letter: {bad.reason}")
                todo = [m for m in todo if m.key != bad.msg.key]
            except ChannelError as exc:
                for m in todo:
                    failed[m.key] = exc
                break
        return [
            Accepted((written[m.key].provider_id,)) if m.key in written else failed[m.key]
            for m in messages
        ]

    def _business_day(self) -> date:
        return self.clock().astimezone(ZoneInfo(self.settings.timezone)).date()

    def _print(self, messages: Sequence[OutgoingMessage]) -> dict[str, ManifestEntry]:
        day = self._business_day()
        folder = self.directory / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        stem, tmp_pdf = _reserve(folder, f"letters-{day.isoformat()}")
        pdf_path, manifest_path = folder / f"{stem}.pdf", folder / f"{stem}.json"
        try:
            return self._print_into(messages, day, pdf_path, manifest_path, tmp_pdf)
        except BaseException:
            tmp_pdf.unlink(missing_ok=True)  # give the name back
            raise

    def _print_into(
        self,
        messages: Sequence[OutgoingMessage],
        day: date,
        pdf_path: Path,
        manifest_path: Path,
        tmp_pdf: Path,
    ) -> dict[str, ManifestEntry]:
        folder = pdf_path.parent

        pdf = _LetterPdf(self.font)
        entries: list[ManifestEntry] = []
        manifest: list[dict[str, Any]] = []
        for msg in messages:
            first = pdf.page_no() + 1
            try:
                self._letter(pdf, msg, day)
            except (FPDFException, ValueError, TypeError, KeyError) as exc:
                raise _LetterFailed(msg, repr(exc)) from exc
            last = pdf.page_no()
            entries.append(ManifestEntry(msg.key, msg.outbox_id, pdf_path.name, first, last))
            manifest.append(
                {
                    "key": msg.key,
                    "outbox_id": msg.outbox_id,
                    "pages": [first, last],
                    "recipient": mask_address(msg.to),
                    "language": msg.language,
                    "template": msg.template,
                }
            )
        document = {
            "business_date": day.isoformat(),
            "file": pdf_path.name,
            "pages": pdf.page_no(),
            "letters": manifest,
        }
        try:
            pdf.output(str(tmp_pdf))
            tmp_manifest = manifest_path.with_suffix(".json.part")
            tmp_manifest.write_text(json.dumps(document, ensure_ascii=False, indent=1), "utf-8")
            _fsync(tmp_pdf)
            _fsync(tmp_manifest)
            os.replace(tmp_manifest, manifest_path)
            os.replace(tmp_pdf, pdf_path)
        except OSError as exc:
            raise ChannelUnavailable(f"cannot write letters to {folder}: {exc!r}") from exc
        return {e.key: e for e in entries}

    def _letter(self, pdf: _LetterPdf, msg: OutgoingMessage, day: date) -> None:
        s = self.settings
        lang = msg.language
        lender = s.lender_name.get(lang) or next(iter(s.lender_name.values()), "")
        back = s.return_address.get(lang) or next(iter(s.return_address.values()), "")
        _draw(pdf, msg.key, lender, back, msg.to, day, lang, msg.subject, msg.body)

    def poll_events(self) -> list[ChannelEvent]:
        return []

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def _draw(
    pdf: _LetterPdf,
    key: str,
    lender: str,
    back: str,
    to: str,
    day: date,
    lang: str,
    subject: str | None,
    body: str,
) -> None:
    """One letter from a new page: letterhead, return address, the envelope window, the date,
    the subject and the body."""
    pdf.add_page()  # (draws the previous letter's last footer first)
    pdf.current_key = key
    pdf.letter_first_page = pdf.page_no()
    pdf.set_font("cjk", size=14)
    if lender:
        pdf.cell(0, 8, lender, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    if back:
        pdf.multi_cell(0, 5, back, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(10)
    pdf.set_font("cjk", size=11)
    pdf.multi_cell(100, 6, to, new_x="LMARGIN", new_y="NEXT")  # the envelope window
    pdf.ln(8)
    when = (
        f"{day.year}年{day.month}月{day.day}日"
        if lang.startswith("zh")
        else (f"{day.day} {day.strftime('%B')} {day.year}")
    )
    pdf.cell(0, 6, when, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    if subject:
        pdf.set_font("cjk", size=13)
        pdf.multi_cell(0, 8, subject, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    pdf.set_font("cjk", size=11)
    for paragraph in body.split("\n"):
        if paragraph.strip():
            pdf.multi_cell(0, 6.5, paragraph, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.ln(4)


def letter_pdf(
    font: Path,
    *,
    to: str,
    subject: str | None,
    body: str,
    language: str,
    day: date,
    key: str,
    lender_name: str = "",
    return_address: str = "",
) -> bytes:
    """One letter on its own, laid out as the print batches lay theirs out, as PDF bytes (the
    legal team's demand letter)."""
    pdf = _LetterPdf(font)
    _draw(pdf, key, lender_name, return_address, to, day, language, subject, body)
    return bytes(pdf.output())


class _LetterPdf(FPDF):
    """A4 with the font loaded; every page's footer names the letter's key and page."""

    def __init__(self, font: Path) -> None:
        super().__init__(format="A4")
        self.set_margins(20, 20, 20)
        self.set_auto_page_break(True, margin=20)
        self.add_font("cjk", fname=str(font))
        self.current_key = ""
        self.letter_first_page = 1

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("cjk", size=7)
        self.set_text_color(120)
        page = self.page_no() - self.letter_first_page + 1
        self.cell(0, 5, f"{self.current_key} · {page}", align="R")
        self.set_text_color(0)


class _LetterFailed(Exception):
    def __init__(self, msg: OutgoingMessage, reason: str) -> None:
        super().__init__(reason)
        self.msg, self.reason = msg, reason


def _reserve(folder: Path, prefix: str) -> tuple[str, Path]:
    """The next free `<prefix>-NNN` in the folder, claimed by creating its `.pdf.part` file
    exclusively (two workers printing into one directory never take the same name)."""
    taken = {p.name.split(".")[0] for p in folder.glob(f"{prefix}-*")}
    seq = 1
    while True:
        stem = f"{prefix}-{seq:03d}"
        if stem not in taken:
            part = folder / f"{stem}.pdf.part"
            try:
                os.close(os.open(part, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                pass
            else:
                return stem, part
        seq += 1


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
