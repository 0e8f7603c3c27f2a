# ruff: noqa: E501  (messages and SQL read better unbroken)
"""The documented fields a strategy condition may read, one value per open case on the date."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Type(StrEnum):
    INT = "integer"
    MONEY = "money"
    STRING = "text"
    BOOL = "boolean"
    PROBABILITY = "probability"  # 0 to 1, e.g. a score; compared with decimals such as 0.6
    NUMBER = "number literal"  # a literal not yet tied to integer or money


@dataclass(frozen=True)
class Field:
    name: str
    type: Type
    nullable: bool
    doc: str
    values: tuple[str, ...] = ()  # allowed values of a text field; empty = any
    pattern: str | None = None  # or a pattern the values follow

    def accepts(self, value: str) -> bool:
        if self.values:
            return value in self.values
        if self.pattern is not None:
            return re.fullmatch(self.pattern, value) is not None
        return True

    def allowed(self) -> str:
        if self.values:
            return ", ".join(repr(v) for v in self.values)
        return f"values matching {self.pattern}"


PTP_STATUSES = ("none", "open", "kept", "partly_kept", "broken")
PLAN_STATUSES = ("none", "proposed", "active", "completed", "broken", "cancelled")
PHONE_STATUSES = ("ok", "wrong", "out_of_service")

FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("dpd", Type.INT, False, "days past due of the case (its worst account; re-aged under a plan)"),
        Field("bucket", Type.STRING, False, "delinquency bucket: M0, M1 (1-30), M2 (31-60) ... M7+", pattern=r"M\d+\+?"),
        Field("overdue_amount", Type.MONEY, False, "amount overdue over the borrower's accounts"),
        Field("balance", Type.MONEY, False, "outstanding over all the borrower's accounts"),
        Field("product", Type.STRING, False, "product of the borrower's worst account (highest DPD, then overdue)"),
        Field("accounts", Type.INT, False, "number of the borrower's accounts"),
        Field("delinquent_accounts", Type.INT, False, "number of the borrower's accounts with DPD > 0"),
        Field("risk_score", Type.INT, True, "the borrower's risk score (null when not scored)"),
        Field("language", Type.STRING, False, "the borrower's language, e.g. zh-CN"),
        Field("region", Type.STRING, True, "the borrower's region (null when unknown)"),
        Field("phone_status", Type.STRING, False, "the borrower's own number", values=PHONE_STATUSES),
        Field("days_since_last_contact", Type.INT, True, "days since the last contact (null: never)"),
        Field("days_open", Type.INT, False, "days since the case was opened (0 on the first day)"),
        Field("contacts_reachable", Type.INT, False, "designated contacts with consent and status active"),
        Field("ptp_status", Type.STRING, False, "'open' while a promise is open, else the latest promise's status", values=PTP_STATUSES),
        Field("plan_status", Type.STRING, False, "'active' while a plan is active, else the latest plan's status", values=PLAN_STATUSES),
        Field("hardship", Type.STRING, True, "hardship recorded on the case (null: none)"),
        Field("unreachable", Type.BOOL, False, "the borrower proved unreachable today"),
        Field("variant", Type.STRING, False, "the case's experiment variant"),
        Field("p_pay_30", Type.PROBABILITY, True, "today's score: chance of a payment within 30 days (null: not scored today)"),
        Field("p_self_cure", Type.PROBABILITY, True, "today's score: chance of curing by next month (null: not scored today)"),
    )
}  # fmt: skip


def suggest(name: str, choices: list[str]) -> str:
    """' (did you mean x?)' for the closest choice, or ''."""
    import difflib

    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
