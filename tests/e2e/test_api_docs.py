"""/api/v1/docs renders in Chromium under the app's own content security policy: Swagger UI's
files come from the installed package (no CDN, no inline script), and the browser reports no
policy violation and no failed request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from arrears.bootstrap import App
from tests.e2e.conftest import Served, serve, shot

pytestmark = pytest.mark.browser


@pytest.fixture
def served(wired: App) -> Iterator[Served]:
    yield from serve(wired)


def test_api_docs_render_under_the_apps_own_policy(served: Served, chromium: Any) -> None:
    context = chromium.new_context()
    page = context.new_page()
    problems: list[str] = []
    outside: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" or "Content Security Policy" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.on(
        "request", lambda r: outside.append(r.url) if not r.url.startswith(served.base) else None
    )
    response = page.goto(f"{served.base}/api/v1/docs")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    # Swagger UI drew the operations from the OpenAPI document
    page.wait_for_selector(".swagger-ui .opblock-tag", timeout=15000)
    tags = page.locator(".swagger-ui .opblock-tag").all_inner_texts()
    assert any("payments" in t for t in tags) and any("cases" in t for t in tags)
    assert page.locator(".swagger-ui .opblock").count() >= 5
    shot(page, "api-docs")
    assert not problems, problems
    assert not outside, f"requests left the app: {outside}"
    context.close()
