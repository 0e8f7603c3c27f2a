"""One language at a time: every page, as every role, in Chinese and in English. A Chinese page
shows no raw code (a status, role, relationship, product, channel, outcome, strategy step or
template id, queue, variant or rule id) and no English word; an English page no Chinese and no
identifier-shaped code. What is data — personal names, usernames, text people typed — is marked
on the page (data-i18n-ignore) and is the only thing left out of the reading. Screenshots of every
page in both languages go to test-artifacts/e2e/language/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.crawl import (
    PAGE_TEXT,
    ROLES,
    Site,
    Visit,
    crawl,
    known_codes,
    served_site,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CODES = known_codes()
TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*[A-Za-z0-9]|[A-Za-z]")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
# Latin words a Chinese page may carry: the payment app's own name, currency codes
ZH_LATIN = {"App", "CNY", "USD", "HKD", "EUR", "GBP", "JPY", "ID"}
EXPECTED_STATUS = {
    "error-404": {404},
    "error-case": {403, 404},
    "error-403": {403},
    "error-422": {422},
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from served_site(tmp_path_factory.mktemp("crawl"))


def untranslated(text: str, lang: str) -> list[str]:
    """What on a page is not in its language: raw codes, and English words on a Chinese page or
    Chinese on an English one."""
    found: list[str] = []
    for match in TOKEN.finditer(text):
        token = match.group(0)
        line = text[max(0, match.start() - 30) : match.end() + 30].replace("\n", " ⏎ ")
        is_code = token in CODES or (token.lower() in CODES and "_" in token)
        if is_code and (lang == "zh" or re.search(r"[_.\d]", token)):
            found.append(f"raw code {token!r} in …{line}…")
            continue
        if lang == "zh" and re.fullmatch(r"[A-Za-z]{2,}", token) and token not in ZH_LATIN:
            found.append(f"English {token!r} in …{line}…")
    if lang == "en":
        for match in CJK.finditer(text):
            line = text[max(0, match.start() - 30) : match.end() + 30].replace("\n", " ⏎ ")
            found.append(f"Chinese {match.group(0)!r} in …{line}…")
    return found


def test_the_checker_catches_what_it_is_for() -> None:
    assert untranslated("状态 open · 关系 colleague", "zh") == [
        "raw code 'open' in …状态 open · 关系 colleague…",
        "raw code 'colleague' in …状态 open · 关系 colleague…",
    ]
    assert untranslated("首日 dpd1_sms；规则 cn.time_window", "zh")
    assert untranslated("无法联系 outside the hours", "zh")
    assert untranslated("Relationship: 同事", "en")
    assert untranslated("Step: dpd_reminder_7 · role team_lead", "en")
    assert not untranslated("Status: open · Relationship: Colleague", "en")
    assert not untranslated("逾期 M1 · 账户 B000318-A1 · ¥1,603.65 · App", "zh")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_speaks_one_language(site: Site, chromium: Any, lang: str) -> None:
    problems: dict[str, list[str]] = {}

    def check(page: Any, visit: Visit) -> None:
        expected = next((s for k, s in EXPECTED_STATUS.items() if visit.name.endswith(k)), None)
        if visit.status not in (expected or range(200, 400)):
            problems.setdefault(visit.name, []).append(f"status {visit.status} at {visit.url}")
        html_lang = page.evaluate("() => document.documentElement.lang")
        if html_lang != ("zh-CN" if lang == "zh" else "en"):
            problems.setdefault(visit.name, []).append(f"page in {html_lang} at {visit.url}")
        found = untranslated(page.evaluate(PAGE_TEXT), lang)
        if found:
            problems.setdefault(f"{visit.name} ({visit.url})", []).extend(found)

    result = crawl(site, chromium, suite="language", langs=(lang,), check=check)

    # the crawl reached what it is for: every role's pages, cases, the borrower and the errors
    names = [v.name for v in result.visits]
    for role in ROLES:
        assert sum(n.startswith(f"{role}-") for n in names) >= 5, (role, names)
    for role in ("agent", "lead", "manager", "compliance"):  # each opens a case
        assert any(
            v.role == role and re.fullmatch(r"/cases/\d+", v.url) and "error" not in v.name
            for v in result.visits
        ), role
    assert any(n.endswith("plan-preview") for n in names)
    assert "borrower-home" in names and "unsubscribe" in names
    for role in ("strategist", "manager"):  # the optimiser's report, from the menu
        assert any(v.role == role and v.url == "/lab/optimiser" for v in result.visits), role
    report = "\n".join(
        f"{page}:\n  " + "\n  ".join(dict.fromkeys(found)) for page, found in problems.items()
    )
    assert not problems, f"{len(problems)} pages not in {lang}:\n{report}"
