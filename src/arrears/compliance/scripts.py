"""Call scripts: one source. The script an agent reads is the call template (the packaged
`templates/<lang>/call/*.j2`, or its approved newer version), rendered with the case's values —
the lender's configured name and call-back number, the borrower's full name (the agent must ask
for them by name) — and the rule pack's content check runs on exactly that text. The agent's
page shows `call_script(...)`; nothing else writes a script.

A contact's script discloses nothing of the debt: its template may use only the contact slots
(the contact's name, the borrower's given name, the call-back number), and the rendered text is
checked again for debt wording before anyone reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from arrears.compliance.loading import borrower_pack, load_pack, portfolio_pack
from arrears.compliance.rules.content import ContentViolation, check_content, describe
from arrears.compliance.templates import TemplateBook, first_name
from arrears.config import Lender
from arrears.domain.outcomes import Target
from arrears.formats import format_day, format_minor
from arrears.privacy.keyring import KeyRing
from arrears.store import tables as t

CALL = "call"


class CallScriptUnknown(LookupError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what}; a script is for the case's borrower or one of their contacts")


class CallScriptDiscloses(ValueError):
    """The rendered script fails the rule pack's content check: no one reads it."""

    def __init__(self, template: str, found: list[ContentViolation]) -> None:
        self.template = template
        super().__init__(
            f"call script {template!r} fails the content check ({describe(found)}); fix the "
            "template with `arrears templates save` and have it approved"
        )


@dataclass(frozen=True)
class ReviewedScript:
    """A rendered call script and what the content check found in exactly that text."""

    template: str
    language: str
    audience: Target
    text: str
    findings: tuple[ContentViolation, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


def template_language(lang: str) -> str:
    """The templates' language for a user's ("zh", "zh-CN" → zh-CN; anything else → en)."""
    return "zh-CN" if lang.lower().startswith("zh") else "en"


def script_template(target: Target, template: str | None = None) -> str:
    """The script for a call: a contact always hears the contact script; the borrower the
    action's call template (a broken promise, a missed instalment) or the first-call one."""
    if target is Target.CONTACT:
        return "call_contact"
    return template if template and template.startswith("call_") else "call_borrower"


def _values(
    conn: Connection,
    keyring: KeyRing,
    lender: Lender,
    case_id: int,
    target: Target,
    contact_id: str | None,
    lang: str,
) -> dict[str, Any]:
    c, b = t.cases, t.borrowers
    row = conn.execute(
        select(c.c.borrower_id, c.c.currency, c.c.overdue_amount, c.c.dpd, b.c.name_enc)
        .join(b, b.c.id == c.c.borrower_id)
        .where(c.c.id == case_id)
    ).first()
    if row is None:
        raise CallScriptUnknown(f"no case {case_id}")
    borrower_name = keyring.decrypt(row.name_enc) or ""
    values: dict[str, Any] = {
        "borrower_first_name": first_name(borrower_name, lang),
        "callback_number": lender.callback_number,
    }
    if target is Target.CONTACT:
        contact = conn.execute(
            select(t.contacts.c.name_enc).where(
                t.contacts.c.id == contact_id, t.contacts.c.borrower_id == row.borrower_id
            )
        ).first()
        if contact is None:
            raise CallScriptUnknown(f"contact {contact_id} is not a contact of case {case_id}")
        values["contact_name"] = keyring.decrypt(contact.name_enc) or ""
        return values
    values.update(
        borrower_name=borrower_name,
        overdue_amount=format_minor(int(row.overdue_amount), row.currency, lang),
        currency=row.currency,
        dpd=row.dpd,
        lender_name=lender.name_in(lang),
    )
    plan = conn.execute(
        select(
            t.plan_instalments.c.due_on,
            (t.plan_instalments.c.amount - t.plan_instalments.c.paid_amount).label("amount"),
            t.plans.c.currency,
        )
        .join(t.plans, t.plans.c.id == t.plan_instalments.c.plan_id)
        .where(
            t.plans.c.case_id == case_id,
            t.plans.c.status == "active",
            t.plan_instalments.c.status.in_(["pending", "missed"]),
        )
        .order_by(t.plan_instalments.c.due_on)
        .limit(1)
    ).first()
    if plan is not None:
        values["instalment_due"] = format_day(plan.due_on, lang)
        values["instalment_amount"] = format_minor(int(plan.amount), plan.currency, lang)
    promise = conn.execute(
        select(t.promises.c.due_on, t.promises.c.amount, t.promises.c.currency)
        .where(t.promises.c.case_id == case_id)
        .order_by(t.promises.c.made_on.desc(), t.promises.c.id.desc())
        .limit(1)
    ).first()
    if promise is not None:
        values["promise_due"] = format_day(promise.due_on, lang)
        values["promise_amount"] = format_minor(int(promise.amount), promise.currency, lang)
    return values


def review_call_script(
    conn: Connection,
    keyring: KeyRing,
    lender: Lender,
    *,
    case_id: int,
    target: str,
    contact_id: int | str | None,
    lang: str,
    template: str | None = None,
    book: TemplateBook | None = None,
) -> ReviewedScript:
    """Render the call script for the person on the line and run the content check on it."""
    try:
        who = Target(target)
    except ValueError:
        raise CallScriptUnknown(f"unknown call target {target!r}") from None
    language = template_language(lang)
    name = script_template(who, template)
    book = book or TemplateBook.load(conn)
    values = _values(
        conn,
        keyring,
        lender,
        case_id,
        who,
        None if contact_id is None else str(contact_id),
        language,
    )
    text = book.render(name, CALL, language, values).body
    # the borrower's pack's phrases; a pack that cannot load shows no script (fails closed)
    borrower = conn.execute(select(t.cases.c.borrower_id).where(t.cases.c.id == case_id)).scalar()
    code = borrower_pack(conn, str(borrower)) if borrower is not None else portfolio_pack(conn)
    phrases = load_pack(code).banned_phrases
    found = check_content(text, who, phrases=phrases)
    return ReviewedScript(name, language, who, text, tuple(found))


def call_script(
    conn: Connection,
    keyring: KeyRing,
    lender: Lender,
    *,
    case_id: int,
    target: str,
    contact_id: int | str | None,
    lang: str,
    template: str | None = None,
) -> str:
    """The script the agent reads to the person on the line — exactly the text the content
    check passed; `CallScriptDiscloses` when it does not pass (nothing is shown)."""
    reviewed = review_call_script(
        conn,
        keyring,
        lender,
        case_id=case_id,
        target=target,
        contact_id=contact_id,
        lang=lang,
        template=template,
    )
    if not reviewed.ok:
        raise CallScriptDiscloses(reviewed.template, list(reviewed.findings))
    return reviewed.text
