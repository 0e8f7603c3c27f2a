"""Borrower-page links: opaque tokens sealed with the key ring (AES-GCM), naming the case, the
borrower and the last day the link works. A token cannot be guessed or altered; the page still
asks the borrower to prove who they are before it shows anything.

Messages get their link through `link_maker(...)`, which fits the dispatcher's hook
`CommsConfig.link_for(case_id, borrower_id) -> URL`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cryptography.exceptions import InvalidTag

from arrears.privacy.keyring import KeyRing, KeyUnknown

LINK_DAYS = 14
_PREFIX = "bp1"


class LinkInvalid(LookupError):
    def __init__(self) -> None:
        super().__init__("this link is not valid or has expired; ask for a new one")


@dataclass(frozen=True)
class Link:
    case_id: int
    borrower_id: str
    valid_until: date


def make_token(ring: KeyRing, case_id: int, borrower_id: str, valid_until: date) -> str:
    sealed = ring.encrypt(f"{_PREFIX}|{case_id}|{borrower_id}|{valid_until.isoformat()}")
    assert sealed is not None
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def read_token(ring: KeyRing, token: str, today: date) -> Link:
    try:
        if len(token) > 400:
            raise ValueError
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        plain = ring.decrypt(raw) or ""
        prefix, case_id, borrower_id, until = plain.split("|")
        if prefix != _PREFIX:
            raise ValueError
        link = Link(int(case_id), borrower_id, date.fromisoformat(until))
    except (ValueError, binascii.Error, InvalidTag, KeyUnknown, UnicodeDecodeError, IndexError):
        raise LinkInvalid() from None
    if link.valid_until < today:
        raise LinkInvalid()
    return link


def link_maker(
    ring: KeyRing,
    base_url: str,
    *,
    days: int = LINK_DAYS,
    today: Callable[[], date] = lambda: datetime.now(UTC).date(),
) -> Callable[[int, str], str]:
    """A `link_for(case_id, borrower_id)` for the message channels."""

    def link_for(case_id: int, borrower_id: str) -> str:
        token = make_token(ring, case_id, borrower_id, today() + timedelta(days=days))
        return f"{base_url.rstrip('/')}/b/{token}"

    return link_for
