"""SMS text rules: GSM-7 or UCS-2, segment counts, concatenation (UDH), signature, opt-out.

- GSM-7 (data_coding 0): 160 septets in a single message, 153 per part when concatenated;
  characters of the extension table (e.g. `{ } [ ] ~ ^ | € \\`) take two septets.
- UCS-2 (data_coding 8), whenever a character is outside GSM-7 (all Chinese text): 70 UTF-16
  code units single, 67 per part. A part never splits an escape pair or a surrogate pair.
- The sender signature `【…】` and the opt-out phrase are added here, by the channel, not by
  templates; the segment count is therefore known before sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
                 "]": 0x3E, "|": 0x40, "€": 0x65}  # fmt: skip
_GSM_INDEX = {ch: i for i, ch in enumerate(GSM_BASIC)}

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
MAX_PARTS = 255


class DataCoding(IntEnum):
    GSM7 = 0
    UCS2 = 8


class SmsTooLong(ValueError):
    def __init__(self, parts: int) -> None:
        super().__init__(
            f"the message needs {parts} parts; at most {MAX_PARTS} can be concatenated — "
            "shorten the template"
        )


def is_gsm7(text: str) -> bool:
    return all(ch in _GSM_INDEX or ch in GSM_EXTENSION for ch in text)


def coding_of(text: str) -> DataCoding:
    return DataCoding.GSM7 if is_gsm7(text) else DataCoding.UCS2


def _units(text: str, coding: DataCoding) -> list[int]:
    """The size of each character in its coding's units (septets or UTF-16 code units)."""
    if coding is DataCoding.GSM7:
        return [2 if ch in GSM_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def split(text: str) -> tuple[DataCoding, list[str]]:
    """The coding and the parts the text is sent as (one part when it fits a single message)."""
    coding = coding_of(text)
    single, part = (GSM_SINGLE, GSM_PART) if coding is DataCoding.GSM7 else (UCS2_SINGLE, UCS2_PART)
    if max(text, default=" ") <= "\uffff" and (
        coding is DataCoding.UCS2 or not any(ch in GSM_EXTENSION for ch in text)
    ):
        # every character one unit (the usual case): parts are plain slices
        if len(text) <= single:
            return coding, [text]
        return coding, _checked([text[i : i + part] for i in range(0, len(text), part)])
    units = _units(text, coding)
    if sum(units) <= single:
        return coding, [text]
    parts: list[str] = []
    start, used = 0, 0
    for i, size in enumerate(units):
        if used + size > part:
            parts.append(text[start:i])
            start, used = i, 0
        used += size
    parts.append(text[start:])
    return coding, _checked(parts)


def _checked(parts: list[str]) -> list[str]:
    if len(parts) > MAX_PARTS:
        raise SmsTooLong(len(parts))
    return parts


def segment_count(text: str) -> int:
    return len(split(text)[1])


def encode(text: str, coding: DataCoding) -> bytes:
    """GSM-7 unpacked (one septet per octet, as SMPP carries it) or UCS-2 big-endian."""
    if coding is DataCoding.UCS2:
        return text.encode("utf-16-be")
    out = bytearray()
    for ch in text:
        if ch in GSM_EXTENSION:
            out += bytes((0x1B, GSM_EXTENSION[ch]))
        else:
            out.append(_GSM_INDEX[ch])
    return bytes(out)


def decode(data: bytes, coding: int) -> str:
    if coding == DataCoding.UCS2:
        return data.decode("utf-16-be", errors="replace")
    if coding == DataCoding.GSM7:
        reverse_ext = {v: k for k, v in GSM_EXTENSION.items()}
        chars, escape = [], False
        for byte in data:
            if escape:
                chars.append(reverse_ext.get(byte, "?"))
                escape = False
            elif byte == 0x1B:
                escape = True
            else:
                chars.append(GSM_BASIC[byte] if byte < len(GSM_BASIC) else "?")
        return "".join(chars)
    return data.decode("latin-1", errors="replace")


def udh(reference: int, total: int, seq: int) -> bytes:
    """The concatenation header: IEI 0x00 (8-bit reference), length 3."""
    return bytes((0x05, 0x00, 0x03, reference & 0xFF, total, seq))


@dataclass(frozen=True, slots=True)
class SmsPart:
    payload: bytes  # UDH (if concatenated) + encoded text
    coding: DataCoding
    esm_class: int  # 0x40 when a UDH is present


def parts_for(text: str, reference: int) -> list[SmsPart]:
    coding, texts = split(text)
    if len(texts) == 1:
        return [SmsPart(encode(texts[0], coding), coding, 0)]
    total = len(texts)
    return [
        SmsPart(udh(reference, total, i) + encode(chunk, coding), coding, 0x40)
        for i, chunk in enumerate(texts, start=1)
    ]


def decorate(body: str, signature: str | None, opt_out: str | None, language: str = "zh-CN") -> str:
    """`【signature】body opt-out` — the signature leads, as Chinese carriers require; in other
    languages `signature: body`, so that GSM-7 text stays GSM-7."""
    text = body.strip()
    if signature:
        text = f"【{signature}】{text}" if language.startswith("zh") else f"{signature}: {text}"
    if opt_out:
        joined = not text or _wide(text[-1]) or _wide(opt_out[0]) or opt_out[0] in ",. "
        text = f"{text}{'' if joined else ' '}{opt_out}"
    return text


def _wide(ch: str) -> bool:
    return ord(ch) > 0x2E7F  # CJK text and punctuation: no space between phrases


OPT_OUT_WORDS = frozenset({"TD", "退订", "STOP", "UNSUBSCRIBE"})


def is_opt_out(text: str) -> bool:
    """An inbound reply that asks to stop: TD / 退订 / STOP (any case, surrounding punctuation)."""
    word = text.strip().strip("。.!！ ").upper()
    return word in OPT_OUT_WORDS or word.startswith("退订")
