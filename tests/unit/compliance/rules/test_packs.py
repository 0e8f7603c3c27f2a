"""Boundary tests per rule pack, table-driven. The borrower lives in another time zone than the
server (UTC here): every hour below is the borrower's local time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from arrears.compliance.rules.gate import decide
from arrears.compliance.rules.model import (
    Audience,
    Candidate,
    Channel,
    Flag,
    FlagState,
    History,
    Preferences,
    VerdictKind,
    Window,
)
from arrears.compliance.rules.packs import get_pack
from arrears.compliance.templates import packaged_templates

D = date(2026, 3, 10)  # a Tuesday, no holiday in any pack
ZONES = {"cn": "Asia/Urumqi", "us": "America/Los_Angeles", "uk": "Europe/London"}


def local(pack: str, hh: int, mm: int = 0, day: date = D) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=ZoneInfo(ZONES[pack])).astimezone(UTC)


def call(pack: str, **kw: object) -> Candidate:
    base = Candidate(
        case_id=1,
        borrower_id="B1",
        business_date=D,
        channel=Channel.CALL,
        audience=Audience.BORROWER,
        target_id="B1",
        template="call_borrower",
        timezone=ZONES[pack],
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def contact_call(pack: str, **kw: object) -> Candidate:
    fields: dict[str, object] = dict(
        audience=Audience.CONTACT,
        target_id="C1",
        template="call_contact",
        contact_consent=True,
        unreachable_on=D,
        content=packaged_templates()[("call_contact", "call", "zh-CN")].body,
    )
    fields.update(kw)
    return call(pack, **fields)


WINDOW_CASES = [
    # pack, local hh:mm, verdict, rule
    ("cn", (7, 59), "defer-today", "cn.time_window"),
    ("cn", (8, 0), "allow", None),
    ("cn", (21, 59), "allow", None),
    ("cn", (22, 0), "defer", "cn.time_window"),
    ("us", (7, 59), "defer-today", "us.time_window"),
    ("us", (8, 0), "allow", None),
    ("us", (20, 59), "allow", None),
    ("us", (21, 0), "defer", "us.time_window"),
    ("uk", (7, 59), "defer-today", "uk.time_window"),
    ("uk", (8, 0), "allow", None),
    ("uk", (20, 59), "allow", None),
    ("uk", (21, 0), "defer", "uk.time_window"),
]


@pytest.mark.parametrize(("pack", "hhmm", "expected", "rule"), WINDOW_CASES)
def test_time_window_in_the_borrowers_local_time(
    pack: str, hhmm: tuple[int, int], expected: str, rule: str | None
) -> None:
    at = local(pack, *hhmm)
    decision = decide(call(pack), History(), get_pack(pack), at)
    if expected == "allow":
        assert (decision.verdict, decision.at) == (VerdictKind.ALLOW, at)
    elif expected == "defer-today":
        # before opening time the call is allowed, scheduled at 08:00 the same day
        assert (decision.verdict, decision.at) == (VerdictKind.ALLOW, local(pack, 8))
        assert rule in decision.reason
    else:
        assert (decision.verdict, decision.rule_id) == (VerdictKind.DEFER, rule)
        assert decision.at == local(pack, 8, day=D + timedelta(days=1))


def test_the_server_clock_does_not_matter_only_the_borrowers() -> None:
    # 14:30 UTC is 22:30 in Shanghai (UTC+8) but 20:30 in Urumqi (UTC+6)
    at = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
    shanghai = decide(call("cn", timezone="Asia/Shanghai"), History(), get_pack("cn"), at)
    urumqi = decide(call("cn", timezone="Asia/Urumqi"), History(), get_pack("cn"), at)
    assert (shanghai.verdict, urumqi.verdict) == (VerdictKind.DEFER, VerdictKind.ALLOW)


def test_borrower_agreed_to_an_early_call() -> None:
    agreed = History(preferences=Preferences(agreed=(Window(time(7, 30), time(8)),)))
    decision = decide(call("cn"), agreed, get_pack("cn"), local("cn", 7, 45))
    assert decision.verdict is VerdictKind.ALLOW and decision.at == local("cn", 7, 45)


def test_inconvenient_time_moves_the_call_to_its_end() -> None:
    lunch = History(preferences=Preferences(inconvenient=(Window(time(12), time(14)),)))
    decision = decide(call("uk"), lunch, get_pack("uk"), local("uk", 12, 30))
    assert decision.verdict is VerdictKind.ALLOW and decision.at == local("uk", 14)
    assert "uk.inconvenient_time" in decision.reason


FREQUENCY_CASES = [
    # pack, history, verdict, rule
    ("cn", History(connected_calls_today=2), VerdictKind.ALLOW, None),
    ("cn", History(connected_calls_today=3), VerdictKind.DEFER, "cn.connected_calls_per_day"),
    ("cn", History(attempts_today_on_number=5), VerdictKind.ALLOW, None),
    (
        "cn",
        History(attempts_today_on_number=6),
        VerdictKind.DEFER,
        "cn.attempts_per_number_per_day",
    ),
    ("us", History(attempt_days_on_debt=(D - timedelta(days=1),) * 6), VerdictKind.ALLOW, None),
    (
        "us",
        History(attempt_days_on_debt=(D - timedelta(days=1),) * 7),
        VerdictKind.DEFER,
        "us.attempts_per_debt_7_days",
    ),
    # attempts 7 days ago have left the window
    ("us", History(attempt_days_on_debt=(D - timedelta(days=7),) * 7), VerdictKind.ALLOW, None),
    ("us", History(last_conversation_on=D - timedelta(days=6)), VerdictKind.DEFER, None),
    ("us", History(last_conversation_on=D - timedelta(days=7)), VerdictKind.ALLOW, None),
]


@pytest.mark.parametrize(("pack", "history", "verdict", "rule"), FREQUENCY_CASES)
def test_call_frequency(
    pack: str, history: History, verdict: VerdictKind, rule: str | None
) -> None:
    decision = decide(call(pack), history, get_pack(pack), local(pack, 10))
    assert decision.verdict is verdict
    if rule:
        assert decision.rule_id == rule


def test_fourth_connected_call_waits_for_tomorrow_morning() -> None:
    decision = decide(call("cn"), History(connected_calls_today=3), get_pack("cn"), local("cn", 10))
    assert decision.at == local("cn", 8, day=D + timedelta(days=1))


def test_eighth_call_in_seven_days_waits_until_the_oldest_leaves_the_window() -> None:
    days = (D - timedelta(days=5),) * 3 + (D - timedelta(days=2),) * 4
    decision = decide(
        call("us"), History(attempt_days_on_debt=days), get_pack("us"), local("us", 10)
    )
    # the three calls of D-5 leave the seven-day window on D+2
    assert decision.rule_id == "us.attempts_per_debt_7_days"
    assert decision.at == local("us", 8, day=D + timedelta(days=2))


def test_no_call_within_seven_days_of_a_conversation() -> None:
    history = History(last_conversation_on=D - timedelta(days=3))
    decision = decide(call("us"), history, get_pack("us"), local("us", 10))
    assert decision.rule_id == "us.quiet_after_conversation"
    assert decision.at == local("us", 8, day=D + timedelta(days=4))


CONTACT_CASES = [
    # pack, candidate changes, history, rule (None: allowed)
    ("cn", {}, History(), None),
    ("cn", {"unreachable_on": None}, History(), "cn.contact_only_when_unreachable"),
    (
        "cn",
        {"unreachable_on": D - timedelta(days=1)},
        History(),
        "cn.contact_only_when_unreachable",
    ),
    ("cn", {"unreachable_on": None, "borrower_phone_status": "wrong"}, History(), None),
    (
        "cn",
        {"unreachable_on": None},
        History(flags=(FlagState(Flag.DECEASED, D - timedelta(days=3)),)),
        None,
    ),
    ("cn", {"contact_status": "refused"}, History(), "cn.contact_refused"),
    ("cn", {"contact_consent": False}, History(), "cn.contact_consent"),
    ("cn", {"channel": Channel.EMAIL}, History(), "cn.contact_channel"),
    ("cn", {"content": None}, History(), "cn.contact_content"),
    ("cn", {"content": "请转告他尽快还款 {{ amount }}"}, History(), "cn.contact_content"),
    # no collection outreach to contact persons under the US pack, not even once
    ("us", {}, History(), "us.contact_channel"),
    ("us", {}, History(third_party_communications=1), "us.contact_channel"),
    ("uk", {"content": "Please tell Jane her loan is overdue."}, History(), "uk.contact_content"),
]


@pytest.mark.parametrize(("pack", "changes", "history", "rule"), CONTACT_CASES)
def test_contact_calls(
    pack: str, changes: dict[str, object], history: History, rule: str | None
) -> None:
    decision = decide(contact_call(pack, **changes), history, get_pack(pack), local(pack, 10))
    if rule is None:
        assert decision.verdict is VerdictKind.ALLOW, decision.reason
    else:
        assert (decision.verdict, decision.rule_id) == (VerdictKind.BLOCK, rule)


def test_contact_template_with_the_amount_names_the_offending_part() -> None:
    decision = decide(
        contact_call("cn", content="请转告他尽快还款 {{ amount }}"),
        History(),
        get_pack("cn"),
        local("cn", 10),
    )
    assert "{{ amount }}" in decision.reason and "还款" in decision.reason


@pytest.mark.parametrize("pack", ["cn", "us", "uk"])
def test_opted_out_number_gets_no_sms(pack: str) -> None:
    sms = call(pack, channel=Channel.SMS, template="reminder")
    decision = decide(
        sms, History(opted_out=frozenset({Channel.SMS})), get_pack(pack), local(pack, 10)
    )
    assert (decision.verdict, decision.rule_id) == (VerdictKind.BLOCK, f"{pack}.opt_out")
    # the opt-out is per channel: a call to the same number is still judged on its own
    assert (
        decide(
            call(pack), History(opted_out=frozenset({Channel.SMS})), get_pack(pack), local(pack, 10)
        ).verdict
        is VerdictKind.ALLOW
    )


FLAG_CASES = [
    (Flag.CEASE, Audience.BORROWER, False, VerdictKind.BLOCK),
    (Flag.DISPUTE, Audience.BORROWER, False, VerdictKind.BLOCK),
    (Flag.BANKRUPTCY, Audience.BORROWER, False, VerdictKind.BLOCK),
    (Flag.DECEASED, Audience.BORROWER, False, VerdictKind.BLOCK),
    (Flag.ATTORNEY, Audience.BORROWER, False, VerdictKind.BLOCK),
    (Flag.VULNERABILITY, Audience.BORROWER, False, VerdictKind.BLOCK),
    (Flag.VULNERABILITY, Audience.BORROWER, True, VerdictKind.ALLOW),  # a specialist agent, by hand
    (Flag.BREATHING_SPACE, Audience.BORROWER, False, VerdictKind.DEFER),
]


@pytest.mark.parametrize(("flag", "audience", "by_agent", "verdict"), FLAG_CASES)
def test_flags(flag: Flag, audience: Audience, by_agent: bool, verdict: VerdictKind) -> None:
    history = History(flags=(FlagState(flag, D - timedelta(days=1), D + timedelta(days=58)),))
    decision = decide(
        call("uk", agent_initiated=by_agent), history, get_pack("uk"), local("uk", 10)
    )
    assert decision.verdict is verdict
    if verdict is not VerdictKind.ALLOW:
        assert decision.rule_id == f"uk.flag_{flag}"


def test_breathing_space_defers_to_the_day_after_the_moratorium() -> None:
    start = D - timedelta(days=10)
    history = History(flags=(FlagState(Flag.BREATHING_SPACE, start, start + timedelta(days=59)),))
    decision = decide(call("uk"), history, get_pack("uk"), local("uk", 10))
    assert decision.at == local("uk", 8, day=start + timedelta(days=60))


def test_a_lifted_or_ended_flag_no_longer_holds() -> None:
    ended = History(flags=(FlagState(Flag.CEASE, D - timedelta(days=9), D - timedelta(days=1)),))
    assert decide(call("cn"), ended, get_pack("cn"), local("cn", 10)).verdict is VerdictKind.ALLOW


def test_holiday_defers_calls_but_not_messages() -> None:
    national_day = date(2026, 10, 1)
    at = local("cn", 10, day=national_day)
    holiday_call = decide(call("cn", business_date=national_day), History(), get_pack("cn"), at)
    assert holiday_call.rule_id == "cn.holiday"
    assert holiday_call.at == local("cn", 8, day=date(2026, 10, 8))
    sms = call("cn", business_date=national_day, channel=Channel.SMS, template="reminder")
    assert decide(sms, History(), get_pack("cn"), at).verdict is VerdictKind.ALLOW


def test_every_rule_is_consulted_and_reported() -> None:
    decision = decide(call("cn"), History(), get_pack("cn"), local("cn", 10))
    assert [c.rule_id for c in decision.consulted] == [
        get_pack("cn").rule_id(r.name) for r in get_pack("cn").rules
    ]
    assert all(c.violation is None for c in decision.consulted)


def test_a_task_reaches_nobody_and_is_always_allowed() -> None:
    task = call("cn", channel=Channel.TASK, template="offer_plan")
    decision = decide(task, History(connected_calls_today=9), get_pack("cn"), local("cn", 23))
    assert decision.verdict is VerdictKind.ALLOW


def test_us_collection_waits_for_the_validation_notice() -> None:
    """Regulation F §1006.34: the notice goes first; a collection call the day the notice is
    still unsent waits for the next morning, the notice itself goes, and once it is sent the
    call is judged as any other. Other packs ask for no notice."""
    pending = History(validation_notice_pending=True)
    waiting = decide(call("us"), pending, get_pack("us"), local("us", 10))
    assert (waiting.verdict, waiting.rule_id) == (VerdictKind.DEFER, "us.validation_notice")
    assert waiting.at is not None and waiting.at.date() > D
    notice = call("us", channel=Channel.EMAIL, template="validation_notice")
    assert decide(notice, pending, get_pack("us"), local("us", 10)).verdict is VerdictKind.ALLOW
    assert decide(call("us"), History(), get_pack("us"), local("us", 10)).verdict is (
        VerdictKind.ALLOW
    )
    assert decide(call("cn"), pending, get_pack("cn"), local("cn", 10)).verdict is (
        VerdictKind.ALLOW
    )
