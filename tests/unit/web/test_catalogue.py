"""The message catalogue: both languages carry the same keys with the same placeholders, every
key the templates and pages ask for exists, and every code of the known sets has words."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from arrears.compliance.rules.model import Flag
from arrears.compliance.rules.packs import PACKS
from arrears.domain.outcomes import HardshipKind, Outcome
from arrears.domain.products import Product
from arrears.services.users import Role
from arrears.sim.portfolio import RELATIONSHIPS
from arrears.strategy import loader
from arrears.web import i18n

WEB = Path(i18n.__file__).parent
KEY_CALL = re.compile(r"""\b(?:t|word\(\s*[\w.]+\s*,)\(?\s*['"]([a-z][a-z0-9_.]*)['"]\s*\)""")


def fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_both_languages_carry_the_same_keys_and_placeholders() -> None:
    zh, en = i18n.catalogue("zh"), i18n.catalogue("en")
    assert zh.keys() == en.keys(), zh.keys() ^ en.keys()
    # a language may leave a parameter out; neither may ask for one the other does not have
    different = {
        k for k in zh if not (fields(zh[k]) <= fields(en[k]) or fields(en[k]) <= fields(zh[k]))
    }
    assert not different, different


def test_chinese_words_are_chinese_and_english_words_english() -> None:
    cjk = re.compile(r"[\u4e00-\u9fff]")
    zh, en = i18n.catalogue("zh"), i18n.catalogue("en")
    assert not [k for k, v in en.items() if cjk.search(v)]
    # a Chinese entry holds Chinese, unless it is a symbol or a name the languages share
    shared = {"app_short", "zone.UTC"}
    latin_only = [k for k, v in zh.items() if not cjk.search(v) and k not in shared]
    assert all(not re.search(r"[A-Za-z]{3,}", zh[k]) for k in latin_only), latin_only


def test_every_key_the_pages_ask_for_exists() -> None:
    words = i18n.catalogue("zh")
    asked: dict[str, str] = {}
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("pages_*.py"), WEB / "app.py"]:
        for key in KEY_CALL.findall(path.read_text("utf-8")):
            asked.setdefault(key, path.name)
    assert len(asked) > 50  # the pattern finds the calls
    missing = {k: where for k, where in asked.items() if k not in words}
    assert not missing, missing


def _strategy_codes() -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {
        "step": set(),
        "template": set(),
        "queue": set(),
        "variant": set(),
    }
    for name in ("seed", "seed_challenger_day3"):
        s = loader.load(name)
        kinds["variant"] |= {v.name for v in s.variants}
        kinds["queue"] |= {seg.queue for seg in s.segments if seg.queue}
        for step in s.steps:
            kinds["step"].add(step.name)
            kinds["template"] |= {a.template for a in step.actions}
    return kinds


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_known_code_has_words(lang: str) -> None:
    sets: dict[str, set[str]] = {
        "role": {r.value for r in Role},
        "relationship": set(RELATIONSHIPS),
        "product": {p.value for p in Product},
        "outcome": {o.value for o in Outcome},
        "hardship": {h.value for h in HardshipKind},
        "flag": {f.value for f in Flag},
        "channel": {"sms", "email", "push", "letter", "call", "voicemail", "task"},
        **_strategy_codes(),
    }
    untranslated = {
        f"{kind}.{value}"
        for kind, values in sets.items()
        for value in values
        if i18n.code(lang, kind, value) == value
    }
    assert not untranslated, sorted(untranslated)
    rules = {r.split(".", 1)[1] for pack in PACKS.values() for r in pack.rule_ids}
    unknown = i18n.catalogue(lang)["rule.unknown"]
    assert not [r for r in rules if i18n.rule_reason(lang, f"cn.{r}", {}) == unknown]


def test_numbered_steps_and_rule_reasons_read_as_sentences() -> None:
    assert i18n.code("zh", "step", "dpd_reminder_15") == "逾期15天短信提醒"
    assert i18n.code("en", "step", "dpd_call_30") == "Call on day 30 past due"
    assert i18n.code("zh", "step", "my_own_step") == "my_own_step"  # data stays as written
    window = {"window": "08:00-22:00"}
    assert i18n.rule_reason("zh", "cn.time_window", window) == "只能在当地时间08:00-22:00之间联络"
    assert i18n.rule_reason("en", "uk.flag_cease", {}) == (
        "The borrower is flagged: Asked to cease contact"
    )
    # without its parameters a rule still reads as a sentence, not a template
    assert "{" not in i18n.rule_reason("zh", "cn.connected_calls_per_day", {})


def test_form_errors_are_in_the_page_language() -> None:
    from arrears.domain.plans import PlanTermsInvalid

    refusal = i18n.Refusal("error.promise_past")
    assert i18n.error_text("zh", refusal) == "承诺日期须为今天或以后"
    assert i18n.error_text("en", refusal) == str(refusal) == "A promise is for today or a later day"
    exc = PlanTermsInvalid("interval of 0 days; use at least 1")
    assert i18n.error_text("en", exc) == "interval of 0 days; use at least 1"
    assert "还款计划" in i18n.error_text("zh", exc)
    assert i18n.error_text("zh", ValueError("anything")) == i18n.word("zh", "error.ValueError")
    reasons = ["3 instalments exceed the agent's limit of 2"]
    assert i18n.approval_reasons("zh", reasons) == ["3期，超过您的上限2期"]


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_no_key_is_written_twice(locale: str) -> None:
    """Two entries of one key: the reader keeps the last one without a word."""
    path = WEB.parent / "locale" / locale / "LC_MESSAGES" / "messages.po"
    keys = re.findall(r'(?m)^msgid "(.+)"$', path.read_text("utf-8"))
    assert len(keys) == len(set(keys)), sorted({k for k in keys if keys.count(k) > 1})


def test_times_are_on_the_lenders_clock_and_days_stay_days() -> None:
    from datetime import UTC, date, datetime

    moment = datetime(2026, 3, 1, 18, 30, tzinfo=UTC)  # already 2 March in Shanghai
    assert i18n.fmt_date(moment, "zh", "Asia/Shanghai") == "2026年3月2日 02:30"
    assert i18n.fmt_date(moment, "en", "Europe/London") == "1 Mar 2026 18:30"
    assert i18n.fmt_date(moment.replace(tzinfo=None), "zh", "Asia/Shanghai") == (
        "2026年3月2日 02:30"  # a stored moment without a zone is UTC
    )
    assert i18n.fmt_date(date(2026, 3, 1), "zh", "Asia/Shanghai") == "2026年3月1日"  # a day
    assert i18n.code("zh", "zone", "Asia/Shanghai") == "北京时间"
