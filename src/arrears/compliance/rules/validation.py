"""The validation notice (US, Regulation F §1006.34): before collecting, the collector gives the
borrower a notice of the debt and of the right to dispute it within the validation period.
Collection calls and messages other than the notice wait until it is sent."""

from __future__ import annotations

from datetime import datetime, timedelta

from arrears.compliance.rules.clock import day_start, local_date
from arrears.compliance.rules.model import Audience, Candidate, History, Violation
from arrears.compliance.rules.pack import Pack

VALIDATION_NOTICE = "validation_notice"  # the rule, and the template and step of the notice
NOTICE_TEMPLATE = "validation_notice"


def validation_notice(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
    if not pack.validation_notice or c.template == NOTICE_TEMPLATE:
        return None
    if not h.validation_notice_pending:
        return None
    day = local_date(at, c.timezone)
    if day > c.business_date:  # re-judged then, with the notice sent meanwhile or not
        return None
    until = day_start(c.business_date + timedelta(days=1), c.timezone)
    who = "the borrower" if c.audience is Audience.BORROWER else "anyone"
    return pack.defer(
        VALIDATION_NOTICE,
        until,
        f"the validation notice (Regulation F §1006.34) has not been sent yet; {who} is not "
        "contacted to collect before it is",
    )
