"""Borrower-page links: a short token of fixed length that round-trips, and fails as invalid when
altered, made with another key ring, or expired; first-format tokens still read; the default
Chinese SMS reminder with a real link keeps its part count."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from arrears.channels.config import DEFAULT_OPT_OUT, CommsConfig
from arrears.channels.sms_text import decorate, segment_count
from arrears.compliance.templates import TemplateBook, packaged_templates
from arrears.privacy.keyring import KeyRing
from arrears.privacy.links import (
    _ALPHABET,
    EXAMPLE_TOKEN,
    LINK_DAYS,
    TOKEN_LENGTH,
    Link,
    LinkInvalid,
    link_maker,
    make_legacy_token,
    make_token,
    read_token,
)

DAY = date(2026, 3, 2)
UNTIL = DAY + timedelta(days=LINK_DAYS)


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.generate()


@pytest.mark.parametrize("case_id", [0, 1, 17, 123456, 2**31, 2**48 - 1])
def test_a_token_round_trips_and_always_has_22_characters(ring: KeyRing, case_id: int) -> None:
    for until in (date(2020, 1, 1), UNTIL, date(2199, 6, 1)):
        token = make_token(ring, case_id, until)
        assert len(token) == TOKEN_LENGTH == 22
        assert set(token) <= set(_ALPHABET)  # URL-safe, nothing to escape
        assert read_token(ring, token, min(until, DAY)) == Link(case_id, None, until)


def test_tokens_are_opaque_and_unlike_each_other(ring: KeyRing) -> None:
    tokens = {make_token(ring, case_id, UNTIL) for case_id in range(1000)}
    assert len(tokens) == 1000
    # neighbouring cases share no visible prefix: nothing to count up from
    assert len({t[:4] for t in tokens}) > 900


def test_what_cannot_be_a_link_is_refused_when_made(ring: KeyRing) -> None:
    for case_id, until in ((-1, UNTIL), (2**48, UNTIL), (1, date(2019, 12, 31))):
        with pytest.raises(ValueError):
            make_token(ring, case_id, until)


def test_flipping_any_character_makes_it_invalid(ring: KeyRing) -> None:
    token = make_token(ring, 4242, UNTIL)
    for i, original in enumerate(token):
        for ch in _ALPHABET + "=.~+/":
            if ch == original:
                continue
            with pytest.raises(LinkInvalid):
                read_token(ring, token[:i] + ch + token[i + 1 :], DAY)


def test_a_shorter_longer_or_guessed_token_is_invalid(ring: KeyRing) -> None:
    token = make_token(ring, 7, UNTIL)
    for bad in (token[:-1], token + "A", "A" * 22, "_" * 22, EXAMPLE_TOKEN, "", "A" * 500):
        with pytest.raises(LinkInvalid):
            read_token(ring, bad, DAY)


def test_another_key_ring_cannot_read_it(ring: KeyRing) -> None:
    token = make_token(ring, 7, UNTIL)
    with pytest.raises(LinkInvalid):
        read_token(KeyRing.generate(), token, DAY)


def test_it_works_through_its_last_day_and_not_after(ring: KeyRing) -> None:
    token = make_token(ring, 7, UNTIL)
    assert read_token(ring, token, UNTIL).valid_until == UNTIL
    with pytest.raises(LinkInvalid):
        read_token(ring, token, UNTIL + timedelta(days=1))


def test_links_survive_a_key_rotation_until_the_key_is_retired(ring: KeyRing) -> None:
    old_key = ring.active
    before = make_token(ring, 7, UNTIL)
    ring.add_key()
    after = make_token(ring, 7, UNTIL)
    assert after != before
    assert read_token(ring, before, DAY).case_id == read_token(ring, after, DAY).case_id == 7
    ring.retire(old_key)
    with pytest.raises(LinkInvalid):
        read_token(ring, before, DAY)
    assert read_token(ring, after, DAY).case_id == 7


def test_a_key_rotated_in_by_another_process_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    web = KeyRing.generate(source=path)
    web.save()
    dispatcher = KeyRing.from_json(path.read_text(), source=path)
    dispatcher.add_key()
    dispatcher.save()
    token = make_token(dispatcher, 9, UNTIL)
    assert read_token(web, token, DAY).case_id == 9


def test_first_format_tokens_already_sent_still_read_until_they_expire(ring: KeyRing) -> None:
    legacy = make_legacy_token(ring, 31, "B31", UNTIL)
    assert len(legacy) > 60
    assert read_token(ring, legacy, DAY) == Link(31, "B31", UNTIL)
    with pytest.raises(LinkInvalid):
        read_token(ring, legacy, UNTIL + timedelta(days=1))
    with pytest.raises(LinkInvalid):
        read_token(KeyRing.generate(), legacy, DAY)
    with pytest.raises(LinkInvalid):
        read_token(ring, legacy[:-3] + ("AAA" if legacy[-3:] != "AAA" else "BBB"), DAY)


def test_link_maker_counts_the_days_from_the_date_it_is_given(ring: KeyRing) -> None:
    link_for = link_maker(ring, "https://pay.example.cn/", today=lambda: DAY)
    url = link_for(55, "B55")
    base, token = url.rsplit("/b/", 1)
    assert base == "https://pay.example.cn"
    assert read_token(ring, token, DAY) == Link(55, None, DAY + timedelta(days=LINK_DAYS))


def test_comms_config_signs_with_the_key_ring_and_link_base(ring: KeyRing) -> None:
    comms = CommsConfig(link_base="https://m.lender.cn")
    unsigned = comms.link(5, "B5")
    assert unsigned == f"https://m.lender.cn/b/{EXAMPLE_TOKEN}" == comms.example_link()
    comms.sign_links(ring, today=lambda: DAY)
    url = comms.link(5, "B5")
    assert url.startswith("https://m.lender.cn/b/") and len(url) == len(unsigned)
    assert read_token(ring, url.rsplit("/", 1)[1], DAY).case_id == 5


def _reminder(link: str) -> str:
    """The default Chinese first-day SMS reminder, as sent: signature, body, opt-out phrase."""
    values = {
        "borrower_name": "王芳",
        "overdue_amount": "¥1,234.50",
        "due_date": "2026年3月1日",
        "lender_name": "示例消费金融",
        "link": link,
    }
    body = TemplateBook(packaged_templates()).render("reminder_day1", "sms", "zh-CN", values).body
    return decorate(body, "示例消费金融", DEFAULT_OPT_OUT["zh-CN"], "zh-CN")


def test_the_default_chinese_reminder_with_a_real_link_takes_two_parts(ring: KeyRing) -> None:
    comms = CommsConfig()
    comms.sign_links(ring, today=lambda: DAY)
    texts = {_reminder(comms.link(case_id, "B")) for case_id in (1, 999, 2**40)}
    assert {segment_count(text) for text in texts} == {2}
    assert len({len(text) for text in texts}) == 1  # every case's message is as long
    # the first-format sealed link needed a third part
    legacy = make_legacy_token(ring, 1, "B1", UNTIL)
    assert segment_count(_reminder(f"https://pay.example.cn/b/{legacy}")) == 3
