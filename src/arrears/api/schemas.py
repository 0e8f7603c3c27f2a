"""Request and response bodies of the HTTP API. Amounts travel as decimal strings ("1234.50")
in the account's currency; dates as ISO 8601 (YYYY-MM-DD)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from arrears.services.import_formats import no_control

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Amount = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$",
        description="decimal amount in the currency, e.g. 1234.50",
        examples=["1234.50"],
    ),
]
Rate = Annotated[
    str,
    Field(pattern=r"^[0-9]{1,3}(\.[0-9]{1,6})?$", description="annual rate, 0.18 = 18%"),
]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])]
Day = Annotated[date, Field(ge=date(1970, 1, 1), le=date(2200, 12, 31))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        """No text field holds NUL or another control character (a database cannot store NUL)."""
        if isinstance(value, str):
            no_control(value)
        return value


class BorrowerIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    phone: Annotated[str, Field(min_length=5, max_length=32)]
    email: Annotated[str | None, Field(max_length=200)] = None
    id_number: Annotated[str | None, Field(min_length=4, max_length=32)] = None
    address: Annotated[str | None, Field(max_length=500)] = None
    timezone: Annotated[str, Field(max_length=64)] = "Asia/Shanghai"
    language: Literal["zh-CN", "en"] = "zh-CN"
    region: Annotated[str | None, Field(max_length=32)] = None
    risk_score: Annotated[int | None, Field(ge=0, le=1000)] = None
    # chooses the rule pack the borrower's outreach is judged under (docs/rule-packs.md)
    jurisdiction: Annotated[str | None, Field(max_length=16, examples=["CN", "US-CA"])] = None


class BorrowerOut(BaseModel):
    id: str
    name_masked: str
    phone_masked: str
    phone_status: str
    language: str
    region: str | None
    risk_score: int | None
    jurisdiction: str | None = None


class DisputeIn(Strict):
    """The borrower disputes the debt (told the lender by letter, e-mail, in a branch …)."""

    raised_on: date
    account_id: Annotated[str | None, Field(max_length=64)] = None
    reason: Annotated[str | None, Field(max_length=1000)] = None


class DisputeOut(BaseModel):
    id: int
    borrower_id: str
    case_id: int | None
    status: str
    owner: str
    due_on: date


class ContactIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    relationship: Annotated[str, Field(min_length=1, max_length=32, examples=["spouse"])]
    phone: Annotated[str, Field(min_length=5, max_length=32)]
    consent: bool = False
    status: Literal["active", "opted_out"] = "active"


class ContactOut(BaseModel):
    id: str
    borrower_id: str
    name_masked: str
    relationship: str
    phone_masked: str
    consent: bool
    status: str


class AccountIn(Strict):
    borrower_id: Id
    product: Annotated[str, Field(min_length=1, max_length=32, examples=["instalment_loan"])]
    currency: Currency = "CNY"
    principal: Amount
    annual_rate: Rate = "0"
    penalty_rate: Rate = "0"
    opened_on: Day


class AccountOut(BaseModel):
    id: str
    borrower_id: str
    product: str
    currency: str
    principal: str
    status: str
    dpd: int
    bucket: str
    overdue_amount: str
    outstanding: str


class DueItemIn(Strict):
    seq: Annotated[int, Field(ge=1, le=10000)]
    due_on: Day
    principal: Amount = "0"
    interest: Amount = "0"
    fee: Amount = "0"


class DueItemsIn(Strict):
    items: Annotated[list[DueItemIn], Field(min_length=1, max_length=600)]


class DueItemsOut(BaseModel):
    account_id: str
    items: int


class PaymentIn(Strict):
    payment_id: Id | None = None
    account_id: Id
    amount: Amount
    currency: Currency = "CNY"
    received_on: Day


class PaymentOut(BaseModel):
    payment_id: str
    account_id: str
    amount: str
    currency: str
    received_on: date
    replayed: bool = False


class CaseOut(BaseModel):
    id: int
    borrower_id: str
    status: str
    opened_on: date
    closed_on: date | None
    currency: str
    dpd: int
    bucket: str
    overdue_amount: str
    queue: str
    assigned_to: str | None
    strategy: str
    variant: str
    hardship: str | None


class CasePage(BaseModel):
    items: list[CaseOut]
    next_after: int | None = Field(description="pass as after= to read the next page")


class InteractionOut(BaseModel):
    id: int
    occurred_at: str
    business_date: date
    channel: str
    target_type: str
    outcome: str
    hardship: str | None
    agent: str | None


class PromiseOut(BaseModel):
    id: int
    made_on: date
    due_on: date
    amount: str
    currency: str
    status: str
    paid_amount: str


class InstalmentOut(BaseModel):
    seq: int
    due_on: date
    amount: str
    paid_amount: str
    status: str


class PlanOut(BaseModel):
    id: int
    status: str
    proposed_on: date
    activated_on: date | None
    currency: str
    total: str
    waived: str
    instalments: list[InstalmentOut]


WebhookEvent = Literal[
    "case.opened", "case.cured", "promise.broken", "plan.broken", "contact.opted_out"
]


class WebhookIn(Strict):
    url: Annotated[str, Field(pattern=r"^https?://[^\s]{1,2000}$")]
    events: Annotated[list[WebhookEvent], Field(min_length=1)]


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    active: bool
    secret: str | None = Field(
        default=None, description="signing secret; shown only when the webhook is created"
    )
