"""Rules for reaching a borrower's designated contacts (third parties).

A contact is reached only with consent, while active (a refusal is final), only when the borrower
cannot be reached (or is deceased / incapacitated), only on the pack's channels, only with a text
that discloses nothing about the debt, and — where the pack says so — once per person.
"""

from __future__ import annotations

from datetime import datetime

from arrears.compliance.rules.content import check_content, describe
from arrears.compliance.rules.model import Audience, Candidate, Flag, History, Violation
from arrears.compliance.rules.pack import Pack

CONTACT_CHANNEL = "contact_channel"
CONTACT_CONSENT = "contact_consent"
CONTACT_REFUSED = "contact_refused"
CONTACT_ONLY_WHEN_UNREACHABLE = "contact_only_when_unreachable"
CONTACT_ONCE = "contact_once"
CONTACT_CONTENT = "contact_content"

UNREACHABLE_PHONE = frozenset({"wrong", "out_of_service"})
_STATUS_SENTENCE = {
    "refused": "refused to be called again; a refusal is final",
    "wrong_number": "has a wrong number on file",
    "opted_out": "opted out of being contacted",
}


def _for_contact(c: Candidate) -> bool:
    return c.audience is Audience.CONTACT


def contact_channel(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
    if not _for_contact(c) or c.channel in pack.third_party_channels:
        return None
    if not pack.third_party_channels:
        return pack.block(
            CONTACT_CHANNEL,
            f"the {pack.code} rule pack allows no collection outreach to contact persons",
        )
    allowed = ", ".join(sorted(pack.third_party_channels))
    return pack.block(
        CONTACT_CHANNEL, f"contacts may be reached only by {allowed}, not {c.channel}"
    )


def contact_consent(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
    if not _for_contact(c) or c.contact_consent:
        return None
    return pack.block(
        CONTACT_CONSENT, f"contact {c.target_id} did not consent to be contacted about the borrower"
    )


def contact_refused(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
    if not _for_contact(c) or c.contact_status == "active":
        return None
    why = _STATUS_SENTENCE.get(c.contact_status, f"is {c.contact_status}")
    return pack.block(CONTACT_REFUSED, f"contact {c.target_id} {why}")


def borrower_unreachable(c: Candidate, h: History) -> bool:
    if c.unreachable_on == c.business_date or c.borrower_phone_status in UNREACHABLE_PHONE:
        return True
    return any(
        f.flag in (Flag.DECEASED, Flag.INCAPACITATED) for f in h.active_flags(c.business_date)
    )


def contact_only_when_unreachable(
    c: Candidate, h: History, pack: Pack, at: datetime
) -> Violation | None:
    if not _for_contact(c) or borrower_unreachable(c, h):
        return None
    return pack.block(
        CONTACT_ONLY_WHEN_UNREACHABLE,
        f"contacts are reached only when the borrower cannot be; the borrower was not found "
        f"unreachable on {c.business_date} (try the borrower first)",
    )


def contact_once(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
    if not _for_contact(c) or not pack.third_party_once or h.third_party_communications == 0:
        return None
    return pack.block(
        CONTACT_ONCE,
        f"contact {c.target_id} was already spoken to once; a third party is contacted once only, "
        "for location information",
    )


def contact_content(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
    limited = c.channel in pack.limited_content_channels
    if not (_for_contact(c) or limited):
        return None
    if c.content is None:
        return pack.block(
            CONTACT_CONTENT,
            f"no reviewed text for template {c.template!r}; contacts and voicemails get only "
            "texts checked to disclose nothing about the debt",
        )
    found = check_content(c.content, Audience.CONTACT, limited=True, phrases=pack.banned_phrases)
    if not found:
        return None
    return pack.block(
        CONTACT_CONTENT, f"template {c.template!r} would disclose the debt: {describe(found)}"
    )
