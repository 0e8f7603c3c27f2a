"""Layouts that hold: every page, as every role, in Chinese and in English, at 1280 and 1920
pixels wide (and the borrower's pages at a phone's 390): no card, and not the page itself, is
wider inside than out. A wide table may scroll inside a wrapper of its own (.table-wrap); long
lists page. Screenshots of every page go to test-artifacts/e2e/layout/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.crawl import OVERFLOW, ROLES, Site, Visit, crawl, served_site

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from served_site(tmp_path_factory.mktemp("layout"))


@pytest.mark.parametrize("width", [1280, 1920])
def test_nothing_spills_out_of_its_card(site: Site, chromium: Any, width: int) -> None:
    spills: dict[str, list[str]] = {}

    def check(page: Any, visit: Visit) -> None:
        found = page.evaluate(OVERFLOW)
        if found:
            spills[f"{visit.lang} {visit.name} ({visit.url})"] = found

    result = crawl(site, chromium, suite="layout", width=width, check=check)
    names = {v.name for v in result.visits}
    for role in ROLES:
        assert any(n.startswith(f"{role}-") for n in names), role
    assert {"borrower-home", "borrower-home-phone"} <= names  # the phone width too
    report = "\n".join(f"{page}:\n  " + "\n  ".join(found) for page, found in spills.items())
    assert not spills, f"{len(spills)} pages spill at {width}px:\n{report}"


def test_the_overflow_check_sees_a_spilling_card(site: Site, chromium: Any) -> None:
    page = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(f"{site.served.base}/login")
    assert page.evaluate(OVERFLOW) == []
    # a word too long for the card, as a careless template would print it
    page.locator("h1").evaluate(
        "h => { h.textContent = 'x'.repeat(400); h.style.whiteSpace = 'nowrap'; }"
    )
    assert any("card" in s for s in page.evaluate(OVERFLOW))
    page.context.close()
