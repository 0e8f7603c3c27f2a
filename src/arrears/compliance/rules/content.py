"""Content checks for templates and call scripts, when saved and when used.

Two kinds: phrases no collection text may use (threats, impersonating authorities, fake
"blacklists", pressure to borrow elsewhere), and — for texts addressed to a contact or left as a
limited-content voicemail — any debt field or collection wording, since the contact must learn
nothing about the debt. Each finding names the offending part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from arrears.compliance.rules.model import Audience, Candidate, History, Violation
from arrears.compliance.rules.pack import Pack

BANNED_PHRASE = "banned_phrase"
DEBT_DISCLOSURE = "debt_disclosure"

# Threats, impersonation of authorities, fake blacklists, pressure to borrow elsewhere.
BANNED_PHRASES: tuple[str, ...] = (
    # zh
    "黑名单",
    "公安",
    "警察",
    "派出所",
    "法院传票",
    "检察院",
    "立案",
    "坐牢",
    "拘留",
    "判刑",
    "通缉",
    "曝光",
    "通讯录",
    "上门",
    "后果自负",
    "以贷养贷",
    "借钱还",
    "借款还款",
    "网贷还",
    # en
    "blacklist",
    "police",
    "arrest",
    "jail",
    "prison",
    "warrant",
    "criminal",
    "court summons",
    "expose you",
    "tell your employer",
    "borrow from",
    "take out another loan",
)

# Template slots that carry the debt.
DEBT_FIELDS: tuple[str, ...] = (
    "amount",
    "overdue_amount",
    "outstanding",
    "balance",
    "total_due",
    "minimum_due",
    "instalment_amount",
    "dpd",
    "days_overdue",
    "days_past_due",
    "product",
    "account_id",
    "account_number",
    "loan_id",
    "due_on",
    "due_date",
    "plan",
    "promise",
    "penalty",
    "interest",
)

# Collection wording a contact must not hear or read.
COLLECTION_WORDS: tuple[str, ...] = (
    "欠款",
    "欠钱",
    "逾期",
    "催收",
    "还款",
    "贷款",
    "借款",
    "债务",
    "欠费",
    "分期",
    "罚息",
    "违约",
    "debt",
    "overdue",
    "arrears",
    "repay",
    "loan",
    "collection",
    "owe",
    "payment",
    "instalment",
    "installment",
    "past due",
    "delinquen",
    "credit card",
)

_SLOT = re.compile(
    r"\{\{\s*([A-Za-z_][\w.]*)[^}]*\}\}|\{([A-Za-z_][\w.]*)\}|\$\{([A-Za-z_][\w.]*)\}"
)
_AMOUNT = re.compile(
    r"(?:[¥￥$£€]\s?\d[\d,]*(?:\.\d+)?|\d[\d,]*(?:\.\d+)?\s?(?:元|块|CNY|RMB|USD|GBP))"
)


@dataclass(frozen=True, slots=True)
class ContentViolation:
    kind: str  # banned_phrase | debt_disclosure
    fragment: str
    message: str


def _contains(lowered: str, word: str) -> bool:
    """Chinese words anywhere; English words at a word start (repayment: yes; however: no)."""
    if word.isascii():
        return re.search(r"\b" + re.escape(word.lower()), lowered) is not None
    return word in lowered


def _slots(text: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _SLOT.finditer(text)]


def banned_phrases(text: str, phrases: tuple[str, ...] = BANNED_PHRASES) -> list[ContentViolation]:
    return list(_banned_phrases(text, phrases))


@lru_cache(maxsize=1024)
def _banned_phrases(text: str, phrases: tuple[str, ...]) -> tuple[ContentViolation, ...]:
    """Cached: the night's actions share a few dozen texts."""
    lowered = text.lower()
    return tuple(
        ContentViolation(
            BANNED_PHRASE,
            phrase,
            f"uses {phrase!r}: no threats, impersonation of authorities, blacklists or pressure "
            "to borrow elsewhere",
        )
        for phrase in phrases
        if _contains(lowered, phrase)
    )


def debt_disclosures(text: str) -> list[ContentViolation]:
    found: list[ContentViolation] = []
    for slot in _slots(text):
        leaf = slot.split(".")[-1].lower()
        if leaf in DEBT_FIELDS:
            found.append(
                ContentViolation(
                    DEBT_DISCLOSURE,
                    f"{{{{ {slot} }}}}",
                    f"uses the debt field {slot!r}; a contact may not learn the amount, product "
                    "or days overdue",
                )
            )
    lowered = text.lower()
    for word in COLLECTION_WORDS:
        if _contains(lowered, word):
            found.append(
                ContentViolation(
                    DEBT_DISCLOSURE,
                    word,
                    f"uses the collection wording {word!r}; a contact may only be asked for the "
                    "borrower's number or to pass on a message",
                )
            )
    for m in _AMOUNT.finditer(text):
        found.append(
            ContentViolation(
                DEBT_DISCLOSURE, m.group(0), f"states an amount {m.group(0)!r} to a contact"
            )
        )
    return found


def check_content(
    text: str,
    audience: Audience,
    *,
    limited: bool = False,
    phrases: tuple[str, ...] = BANNED_PHRASES,
) -> list[ContentViolation]:
    """Everything wrong with a template or script for its audience; empty when it may be used.

    `limited`: a limited-content message (voicemail) — it must not reveal the debt either.
    """
    found = banned_phrases(text, phrases)
    if audience is Audience.CONTACT or limited:
        found += debt_disclosures(text)
    return found


def check_contact_template(text: str) -> list[ContentViolation]:
    """A template or script addressed to a contact: what it must not say (empty: it may be used)."""
    return check_content(text, Audience.CONTACT)


def describe(found: list[ContentViolation]) -> str:
    return "; ".join(f"{v.fragment!r}: {v.message}" for v in found)


BANNED_CONTENT = "banned_content"


def banned_content(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
    """When used: the text about to go out carries none of the pack's banned phrases."""
    if c.content is None:
        return None
    found = banned_phrases(c.content, pack.banned_phrases)
    if not found:
        return None
    return pack.block(BANNED_CONTENT, f"template {c.template!r}: {describe(found)}")
