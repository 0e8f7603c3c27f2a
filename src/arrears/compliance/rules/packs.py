"""The three rule packs: cn, us, uk. Data (hours, caps, flags, phrases, retention) plus the rules
they consult, in order. Sources of every rule: docs/rule-packs.md."""

from __future__ import annotations

from datetime import date, time, timedelta

from arrears.compliance.rules import (
    content,
    frequency,
    suppression,
    third_party,
    timing,
    validation,
)
from arrears.compliance.rules.flags import flag_rule, rule_name
from arrears.compliance.rules.model import Channel, Flag, Window
from arrears.compliance.rules.pack import FlagEffect, Pack, PackUnknown, Rule


def _span(first: date, days: int) -> frozenset[date]:
    return frozenset(first + timedelta(days=n) for n in range(days))


# Public holidays on which the lender makes no collection calls (lender policy; extend in the
# compliance_holidays table). China 2026: State Council holiday notice.
CN_HOLIDAYS_2026 = (
    _span(date(2026, 1, 1), 3)
    | _span(date(2026, 2, 15), 9)
    | _span(date(2026, 4, 4), 3)
    | _span(date(2026, 5, 1), 5)
    | _span(date(2026, 6, 19), 3)
    | _span(date(2026, 9, 25), 3)
    | _span(date(2026, 10, 1), 7)
)
US_HOLIDAYS_2026 = frozenset(
    {
        date(2026, 1, 1),
        date(2026, 1, 19),
        date(2026, 2, 16),
        date(2026, 5, 25),
        date(2026, 6, 19),
        date(2026, 7, 3),
        date(2026, 9, 7),
        date(2026, 10, 12),
        date(2026, 11, 11),
        date(2026, 11, 26),
        date(2026, 12, 25),
    }
)
UK_HOLIDAYS_2026 = frozenset(
    {
        date(2026, 1, 1),
        date(2026, 4, 3),
        date(2026, 4, 6),
        date(2026, 5, 4),
        date(2026, 5, 25),
        date(2026, 8, 31),
        date(2026, 12, 25),
        date(2026, 12, 28),
    }
)

ALL_FLAGS_BLOCK_BORROWER = {
    Flag.CEASE: FlagEffect.BLOCK,
    Flag.DISPUTE: FlagEffect.BLOCK,
    Flag.BANKRUPTCY: FlagEffect.BLOCK,
    Flag.DECEASED: FlagEffect.BLOCK_BORROWER,
    Flag.INCAPACITATED: FlagEffect.BLOCK_BORROWER,
    Flag.VULNERABILITY: FlagEffect.BLOCK_AUTOMATED,
    Flag.BREATHING_SPACE: FlagEffect.DEFER_UNTIL_END,
    Flag.ATTORNEY: FlagEffect.BLOCK_BORROWER,
    Flag.COMPLAINT: FlagEffect.BLOCK,
}

# Legal absolutes no one may override for a single action.
_ABSOLUTE = {
    third_party.CONTACT_REFUSED,
    third_party.CONTACT_CONSENT,
    suppression.OPT_OUT,
    rule_name(Flag.CEASE),
    rule_name(Flag.BANKRUPTCY),
    rule_name(Flag.DECEASED),
    rule_name(Flag.BREATHING_SPACE),
    rule_name(Flag.ATTORNEY),
}


def _rules(*named: tuple[str, object]) -> tuple[Rule, ...]:
    return tuple(Rule(name, check, name not in _ABSOLUTE) for name, check in named)  # type: ignore[arg-type]


_FLAG_RULES = [(rule_name(f), flag_rule(f)) for f in Flag]

_COMMON_FIRST = [
    *_FLAG_RULES,
    (suppression.OPT_OUT, suppression.opt_out),
    (suppression.CHANNEL_PREFERENCE, suppression.channel_preference),
    (third_party.CONTACT_CHANNEL, third_party.contact_channel),
    (third_party.CONTACT_CONSENT, third_party.contact_consent),
    (third_party.CONTACT_REFUSED, third_party.contact_refused),
    (third_party.CONTACT_ONLY_WHEN_UNREACHABLE, third_party.contact_only_when_unreachable),
]
_COMMON_LAST = [
    (third_party.CONTACT_CONTENT, third_party.contact_content),
    (content.BANNED_CONTENT, content.banned_content),
    (timing.HOLIDAY, timing.holiday),
    (timing.TIME_WINDOW, timing.time_window),
    (timing.INCONVENIENT_TIME, timing.inconvenient_time),
]

CN = Pack(
    code="cn",
    title="China — GB/T 45251-2025 and the banking association's 2026 collection guideline",
    window=Window(time(8), time(22)),
    honours_agreed_hours=True,
    connected_calls_per_day=3,
    attempts_per_number_per_day=6,
    attempts_per_debt_7_days=None,
    quiet_days_after_conversation=None,
    third_party_channels=frozenset({Channel.CALL, Channel.SMS}),
    third_party_once=False,
    flag_effects=ALL_FLAGS_BLOCK_BORROWER,
    holiday_channels=frozenset({Channel.CALL}),
    holidays=CN_HOLIDAYS_2026,
    banned_phrases=content.BANNED_PHRASES,
    limited_content_channels=frozenset({Channel.VOICEMAIL}),
    retention_years=5,
    agency_identity=True,  # placed with an agency under contract: it needs whom to call
    complaint_response_days=15,
    sources={
        "complaint_response_days": "银行业保险业消费投诉处理管理办法 (CBIRC order 2020 no. 3), "
        "art. 20: a decision within 15 days of receiving the complaint",
    },
    rules=_rules(
        *_COMMON_FIRST,
        (frequency.CONNECTED_PER_DAY, frequency.connected_calls_per_day),
        (frequency.ATTEMPTS_PER_NUMBER, frequency.attempts_per_number_per_day),
        *_COMMON_LAST,
    ),
)

US = Pack(
    code="us",
    title="United States — Regulation F (12 CFR part 1006)",
    window=Window(time(8), time(21)),
    honours_agreed_hours=True,
    connected_calls_per_day=None,
    attempts_per_number_per_day=None,
    attempts_per_debt_7_days=7,
    quiet_days_after_conversation=7,
    # no collection outreach to contact persons (third parties) under this pack
    third_party_channels=frozenset(),
    third_party_once=True,
    flag_effects=ALL_FLAGS_BLOCK_BORROWER,
    holiday_channels=frozenset({Channel.CALL}),
    holidays=US_HOLIDAYS_2026,
    banned_phrases=content.BANNED_PHRASES,
    limited_content_channels=frozenset({Channel.VOICEMAIL}),
    retention_years=3,
    agency_identity=True,  # placed with an agency under contract: it needs whom to call
    rules=_rules(
        *_COMMON_FIRST,
        (third_party.CONTACT_ONCE, third_party.contact_once),
        (validation.VALIDATION_NOTICE, validation.validation_notice),
        (frequency.ATTEMPTS_PER_DEBT_7D, frequency.attempts_per_debt_7_days),
        (frequency.AFTER_CONVERSATION, frequency.quiet_after_conversation),
        *_COMMON_LAST,
    ),
    validation_notice=True,
    validation_period_days=30,
    complaint_response_days=15,
    sources={
        "complaint_response_days": "CFPB company complaint process: a response within 15 "
        "calendar days of the complaint being sent to the company",
    },
)

UK = Pack(
    code="uk",
    title="United Kingdom — FCA CONC 7 and the Debt Respite Scheme (breathing space)",
    window=Window(time(8), time(21)),
    honours_agreed_hours=True,
    connected_calls_per_day=1,
    attempts_per_number_per_day=3,
    attempts_per_debt_7_days=None,
    quiet_days_after_conversation=None,
    third_party_channels=frozenset({Channel.CALL}),
    third_party_once=False,
    flag_effects=ALL_FLAGS_BLOCK_BORROWER,
    holiday_channels=frozenset({Channel.CALL}),
    holidays=UK_HOLIDAYS_2026,
    banned_phrases=content.BANNED_PHRASES,
    limited_content_channels=frozenset({Channel.VOICEMAIL}),
    retention_years=6,
    agency_identity=True,  # placed with an agency under contract: it needs whom to call
    complaint_response_days=56,
    sources={
        "complaint_response_days": "FCA DISP 1.6.2R: a final response within eight weeks of "
        "receiving the complaint",
    },
    rules=_rules(
        *_COMMON_FIRST,
        (frequency.CONNECTED_PER_DAY, frequency.connected_calls_per_day),
        (frequency.ATTEMPTS_PER_NUMBER, frequency.attempts_per_number_per_day),
        *_COMMON_LAST,
    ),
)

PACKS: dict[str, Pack] = {p.code: p for p in (CN, US, UK)}


def get_pack(code: str) -> Pack:
    try:
        return PACKS[code]
    except KeyError:
        raise PackUnknown(code, sorted(PACKS)) from None
