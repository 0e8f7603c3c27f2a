"""Borrower-page links: short opaque tokens made with the key ring, naming the case and the last
day the link works. A token cannot be guessed or altered; the page still asks the borrower to
prove who they are before it shows anything.

Token (always `TOKEN_LENGTH` = 22 characters, so every message has a known length):

    block  = case id (6 bytes, big-endian) | last valid day (2 bytes, days since 2020-01-01)
             | 8 zero bytes (the check)
    sealed = AES-256 of that one 16-byte block, under a link key derived with HKDF-SHA256 from
             the key ring's active key (never the data key itself)
    token  = URL-safe base64 of the 128 sealed bits followed by 4 format bits (0001): 132 bits,
             22 characters, no padding

Reading tries the ring's keys (the active one first): after `arrears keys rotate` links made with
the previous key keep working until it is retired. Any other token — altered, guessed, made with
another key ring — deciphers to a random block whose 8 check bytes are zero with probability
2^-64 per key. The borrower is not in the token: the page looks them up from the case.

Tokens of the first format (`bp1|case|borrower|valid_until` sealed with AES-GCM, about 90
characters) are still read, so links already sent work until they expire (`LINK_DAYS`); the
fallback can go once the last of them has.

Messages get their link through `link_maker(...)`, which fits the dispatcher's hook
`CommsConfig.link_for(case_id, borrower_id) -> URL` (`CommsConfig.sign_links`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from arrears.privacy.keyring import KeyRing, KeyRingInvalid, KeyUnknown

LINK_DAYS = 14
TOKEN_LENGTH = 22
# what a link looks like where no key ring makes them (template examples, library defaults):
# the length of a real token, and never valid
EXAMPLE_TOKEN = "example-link-not-valid"
assert len(EXAMPLE_TOKEN) == TOKEN_LENGTH

_FORMAT = 0b0001  # the 4 bits after the sealed block
_EPOCH = date(2020, 1, 1)
_CASE_LIMIT = 1 << 48
_DAY_LIMIT = 1 << 16
_CHECK = bytes(8)
_INFO = b"arrears borrower-page link v2"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_DIGIT = {ch: i for i, ch in enumerate(_ALPHABET)}
_LEGACY_PREFIX = "bp1"


class LinkInvalid(LookupError):
    def __init__(self) -> None:
        super().__init__("this link is not valid or has expired; ask for a new one")


@dataclass(frozen=True)
class Link:
    case_id: int
    borrower_id: str | None  # None from a short token: the case's borrower (the page looks it up)
    valid_until: date


@lru_cache(maxsize=32)
def _link_key(key: bytes) -> bytes:
    """The AES key for links, derived from one of the ring's data keys."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(key)


def _ecb(key: bytes) -> Cipher[modes.ECB]:
    # one block, enciphered once: a keyed permutation of the 128 bits, nothing chained
    return Cipher(algorithms.AES(_link_key(key)), modes.ECB())


def make_token(ring: KeyRing, case_id: int, valid_until: date) -> str:
    """The short token for the case's borrower page, working through `valid_until`."""
    days = (valid_until - _EPOCH).days
    if not 0 <= case_id < _CASE_LIMIT:
        raise ValueError(f"case id {case_id} does not fit a link (0 to 2^48 - 1)")
    if not 0 <= days < _DAY_LIMIT:
        raise ValueError(f"{valid_until} is outside the days a link can name")
    block = case_id.to_bytes(6, "big") + days.to_bytes(2, "big") + _CHECK
    encryptor = _ecb(ring.keys[ring.active]).encryptor()
    sealed = encryptor.update(block) + encryptor.finalize()
    bits = int.from_bytes(sealed, "big") << 4 | _FORMAT
    return "".join(_ALPHABET[(bits >> shift) & 63] for shift in range(126, -1, -6))


def _unpack(token: str) -> bytes | None:
    bits = 0
    for ch in token:
        digit = _DIGIT.get(ch)
        if digit is None:
            return None
        bits = bits << 6 | digit
    if bits & 0xF != _FORMAT:
        return None
    return (bits >> 4).to_bytes(16, "big")


def _open(ring: KeyRing, sealed: bytes) -> Link | None:
    tried: set[bytes] = set()
    for attempt in range(2):
        keys = [ring.keys[ring.active], *ring.keys.values()]
        for key in keys:
            if key in tried:
                continue
            tried.add(key)
            decryptor = _ecb(key).decryptor()
            block = decryptor.update(sealed) + decryptor.finalize()
            if block[8:] == _CHECK:
                case_id = int.from_bytes(block[:6], "big")
                until = _EPOCH + timedelta(days=int.from_bytes(block[6:8], "big"))
                return Link(case_id, None, until)
        # made with a key another process added by a rotation since this one loaded the ring?
        try:
            if attempt or not ring.reload():
                return None
        except KeyRingInvalid:
            return None
    return None


def _read_legacy(ring: KeyRing, token: str) -> Link:
    """A first-format token (sealed with AES-GCM), from a message sent before the short ones."""
    try:
        if len(token) > 400:
            raise ValueError
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        plain = ring.decrypt(raw) or ""
        prefix, case_id, borrower_id, until = plain.split("|")
        if prefix != _LEGACY_PREFIX:
            raise ValueError
        return Link(int(case_id), borrower_id, date.fromisoformat(until))
    except (ValueError, binascii.Error, InvalidTag, KeyUnknown, UnicodeDecodeError, IndexError):
        raise LinkInvalid() from None


def make_legacy_token(ring: KeyRing, case_id: int, borrower_id: str, valid_until: date) -> str:
    """A first-format token, as messages carried before the short ones (for tests of reading
    them; new links use `make_token`)."""
    sealed = ring.encrypt(f"{_LEGACY_PREFIX}|{case_id}|{borrower_id}|{valid_until.isoformat()}")
    assert sealed is not None
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def read_token(ring: KeyRing, token: str, today: date) -> Link:
    """The link a token names, if it is genuine and works on `today`; else `LinkInvalid`."""
    if len(token) == TOKEN_LENGTH:
        sealed = _unpack(token)
        link = _open(ring, sealed) if sealed is not None else None
        if link is None:
            raise LinkInvalid()
    else:
        link = _read_legacy(ring, token)
    if link.valid_until < today:
        raise LinkInvalid()
    return link


def link_maker(
    ring: KeyRing,
    base_url: str,
    *,
    today: Callable[[], date],
    days: int = LINK_DAYS,
) -> Callable[[int, str], str]:
    """A `link_for(case_id, borrower_id)` for the message channels: `{base_url}/b/{token}`,
    working through `today() + days` (`today` is the caller's business date; nothing here reads
    the clock)."""
    base = base_url.rstrip("/")

    def link_for(case_id: int, borrower_id: str) -> str:
        return f"{base}/b/{make_token(ring, case_id, today() + timedelta(days=days))}"

    return link_for
