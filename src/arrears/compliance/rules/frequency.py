"""Rules of frequency: connected calls per borrower per day, attempts per number per day,
attempts per debt in seven days, and the quiet period after a conversation."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from arrears.compliance.rules.clock import day_start, local_date, next_day_start
from arrears.compliance.rules.model import VOICE_CHANNELS, Audience, Candidate, History, Violation
from arrears.compliance.rules.pack import Pack

CONNECTED_PER_DAY = "connected_calls_per_day"
ATTEMPTS_PER_NUMBER = "attempts_per_number_per_day"
ATTEMPTS_PER_DEBT_7D = "attempts_per_debt_7_days"
AFTER_CONVERSATION = "quiet_after_conversation"


def _is_call(c: Candidate) -> bool:
    return c.channel in VOICE_CHANNELS


def connected_calls_per_day(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
    cap = pack.connected_calls_per_day
    if cap is None or not _is_call(c) or c.audience is not Audience.BORROWER:
        return None
    if local_date(at, c.timezone) != c.business_date or h.connected_calls_today < cap:
        return None
    until = next_day_start(at, c.timezone)
    return pack.defer(
        CONNECTED_PER_DAY,
        until,
        f"the borrower has had {h.connected_calls_today} connected calls today, the most "
        f"allowed is {cap} a day across the lender and its agencies; "
        f"next call from {until:%Y-%m-%d}",
    )


def attempts_per_number_per_day(
    c: Candidate, h: History, pack: Pack, at: datetime
) -> Violation | None:
    cap = pack.attempts_per_number_per_day
    if cap is None or not _is_call(c):
        return None
    if local_date(at, c.timezone) != c.business_date or h.attempts_today_on_number < cap:
        return None
    until = next_day_start(at, c.timezone)
    return pack.defer(
        ATTEMPTS_PER_NUMBER,
        until,
        f"this number has been called {h.attempts_today_on_number} times today, the most "
        f"allowed is {cap} attempts a day; next attempt from {until:%Y-%m-%d}",
    )


def first_day_under_cap(days: tuple[date, ...], start: date, cap: int, span: int = 7) -> date:
    """The first day from `start` whose trailing `span` days hold fewer than `cap` attempts."""
    day = start
    while sum(1 for d in days if day - timedelta(days=span - 1) <= d <= day) >= cap:
        day += timedelta(days=1)
    return day


def attempts_per_debt_7_days(
    c: Candidate, h: History, pack: Pack, at: datetime
) -> Violation | None:
    cap = pack.attempts_per_debt_7_days
    if cap is None or not _is_call(c) or c.audience is not Audience.BORROWER:
        return None
    today = local_date(at, c.timezone)
    free = first_day_under_cap(h.attempt_days_on_debt, today, cap)
    if free == today:
        return None
    recent = sum(1 for d in h.attempt_days_on_debt if today - timedelta(days=6) <= d <= today)
    until = day_start(free, c.timezone)
    return pack.defer(
        ATTEMPTS_PER_DEBT_7D,
        until,
        f"{recent} call attempts on this debt in the last 7 days; an attempt beyond {cap} in "
        f"7 days is not allowed; next call from {free}",
    )


def quiet_after_conversation(
    c: Candidate, h: History, pack: Pack, at: datetime
) -> Violation | None:
    days = pack.quiet_days_after_conversation
    if days is None or not _is_call(c) or c.audience is not Audience.BORROWER:
        return None
    if h.last_conversation_on is None:
        return None
    free = h.last_conversation_on + timedelta(days=days)
    if local_date(at, c.timezone) >= free:
        return None
    until = day_start(free, c.timezone)
    return pack.defer(
        AFTER_CONVERSATION,
        until,
        f"the borrower spoke with us on {h.last_conversation_on}; no call within {days} days "
        f"of a conversation, next call from {free}",
    )
