"""Phone numbers: normalised to E.164 before they are stored, indexed or dialled."""

from __future__ import annotations

import re

from arrears.domain.errors import DomainError

_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


class PhoneInvalid(DomainError):
    pass


def normalise_phone(text: str, default_country: str = "CN") -> str:
    """Return the number in E.164 (+8613812345678); a number that cannot be one is an error."""
    raw = re.sub(r"[\s\-().]", "", text or "")
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if _E164.match(raw):
        return raw
    if default_country == "CN" and _CN_MOBILE.match(raw):
        return "+86" + raw
    if default_country == "CN" and raw.startswith("86") and _CN_MOBILE.match(raw[2:]):
        return "+" + raw  # country code without the plus, as host extracts often write it
    raise PhoneInvalid(
        f"{text!r} is not a phone number; write an 11-digit mainland mobile or +<country><number>"
    )


def mask_phone(e164: str) -> str:
    """138****5678: keep the first three and last four digits of the national number."""
    national = e164[3:] if e164.startswith("+86") else e164.lstrip("+")
    if len(national) <= 7:
        return "*" * len(national)
    return national[:3] + "*" * (len(national) - 7) + national[-4:]


def mask_name(name: str) -> str:
    """张** / J*** S****: the first character of each part stays."""
    if not name:
        return ""
    if all(ord(ch) > 0x2E7F for ch in name.replace(" ", "")):
        return name[0] + "*" * (len(name) - 1)
    return " ".join(part[:1] + "*" * (len(part) - 1) for part in name.split())


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return (local[:1] + "***@" + domain) if domain else "***"
