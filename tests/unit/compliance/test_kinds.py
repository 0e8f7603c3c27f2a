"""The gate sorts a night's actions into kinds in SQL and decides only the calls that share a
number or a debt one by one (`compliance/kinds.py`). That holds while the counters a call
allowed tonight adds to — attempts on its number today, call days on its debt — and the other
call counters are read by voice rules only, and call days on a debt by rules about calls to
the borrower only. These tests hold every pack to it: a message, or a call to a contact, is
decided the same whatever those counters say."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.compliance.rules.gate import decide
from arrears.compliance.rules.model import VOICE_CHANNELS, Audience, Candidate, Channel, History
from arrears.compliance.rules.packs import PACKS

D = date(2026, 3, 10)
ZONE = "Asia/Shanghai"
AT = datetime.combine(D, time(1, 0), tzinfo=UTC)  # 09:00 in Shanghai

days = st.lists(st.integers(min_value=0, max_value=9), max_size=6).map(
    lambda xs: tuple(sorted(D - timedelta(days=x) for x in xs))
)
counters = st.fixed_dictionaries(
    {
        "connected_calls_today": st.integers(min_value=0, max_value=5),
        "attempts_today_on_number": st.integers(min_value=0, max_value=12),
        "attempt_days_on_debt": days,
        "last_conversation_on": st.none() | st.integers(0, 9).map(lambda x: D - timedelta(x)),
    }
)


def _candidate(channel: Channel, audience: Audience) -> Candidate:
    contact = audience is Audience.CONTACT
    return Candidate(
        case_id=1,
        borrower_id="B1",
        business_date=D,
        channel=channel,
        audience=audience,
        target_id="C1" if contact else "B1",
        template="reminder_day1",
        timezone=ZONE,
        contact_consent=contact,
    )


@settings(max_examples=60, deadline=None)
@given(
    counters=counters,
    channel=st.sampled_from(sorted(set(Channel) - VOICE_CHANNELS)),
    audience=st.sampled_from(list(Audience)),
)
def test_a_message_is_decided_alike_whatever_the_call_counters(
    counters: dict[str, object], channel: Channel, audience: Audience
) -> None:
    c = _candidate(channel, audience)
    for pack in PACKS.values():
        quiet = decide(c, History(), pack, AT)
        busy = decide(c, replace(History(), **counters), pack, AT)  # type: ignore[arg-type]
        assert (busy.verdict, busy.at, busy.rule_id) == (quiet.verdict, quiet.at, quiet.rule_id)


@settings(max_examples=60, deadline=None)
@given(debt_days=days, channel=st.sampled_from(sorted(VOICE_CHANNELS)))
def test_a_call_to_a_contact_is_decided_alike_whatever_the_debt_s_call_days(
    debt_days: tuple[date, ...], channel: Channel
) -> None:
    c = _candidate(channel, Audience.CONTACT)
    for pack in PACKS.values():
        quiet = decide(c, History(), pack, AT)
        busy = decide(c, History(attempt_days_on_debt=debt_days), pack, AT)
        assert (busy.verdict, busy.at, busy.rule_id) == (quiet.verdict, quiet.at, quiet.rule_id)


def test_a_call_to_the_borrower_does_read_the_debt_s_call_days() -> None:
    """The counter matters where it should: the tests above would pass on a gate that read
    nothing."""
    c = _candidate(Channel.CALL, Audience.BORROWER)
    pack = PACKS["us"]  # Regulation F: seven attempts in seven days
    assert pack.attempts_per_debt_7_days is not None
    full = History(attempt_days_on_debt=(D,) * pack.attempts_per_debt_7_days)
    assert decide(c, History(), pack, AT).verdict != decide(c, full, pack, AT).verdict
