"""Error pages speak the user's language: a page that fails (500), one that is not there (404),
one the role may not open (403) and a form the server refuses (422, field by field), in Chinese
and in English; an API path keeps its problem+json."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from arrears.bootstrap import App
from arrears.web.app import create_app
from tests.integration.web.conftest import DAY1, NOW, csrf_of, sign_in


@pytest.fixture
def loose(app: App) -> TestClient:
    """The app with a page that fails, served as a browser would see it (no re-raise)."""
    web = create_app(app, business_date=DAY1, clock=lambda: NOW)

    def boom() -> None:
        raise RuntimeError("a bug: internal detail that must not reach the page")

    web.add_api_route("/boom", boom)
    web.add_api_route("/api/v1/boom", boom)
    return TestClient(
        web, base_url="https://testserver", follow_redirects=False, raise_server_exceptions=False
    )


@pytest.mark.parametrize(
    ("lang", "words"),
    [("zh", ("服务器错误", "服务器出错，请稍后重试")), ("en", ("Server error", "try again later"))],
)
def test_a_failing_page_says_so_in_the_users_language(
    loose: TestClient, lang: str, words: tuple[str, str]
) -> None:
    r = loose.get(f"/boom?lang={lang}")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/html")
    assert all(w in r.text for w in words)
    assert "internal detail" not in r.text and "RuntimeError" not in r.text
    api = loose.get("/api/v1/boom")
    assert api.status_code == 500
    assert api.headers["content-type"].startswith("application/problem+json")


def test_not_found_and_forbidden_in_both_languages(web: TestClient) -> None:
    sign_in(web, "agent")
    zh = web.get("/no-such-page")
    assert zh.status_code == 404 and "404 · 未找到" in zh.text and "没有找到" in zh.text
    forbidden = web.get("/admin/users")
    assert forbidden.status_code == 403 and "您的角色无权进行此操作" in forbidden.text
    assert "manage_users" not in forbidden.text  # the permission's code stays out of sight
    web.get("/lang/en")
    en = web.get("/admin/users")
    assert en.status_code == 403 and "Your role may not do this" in en.text
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in en.text.split("<main", 1)[1])


def test_a_refused_form_names_the_field_and_the_fault(web: TestClient) -> None:
    csrf = sign_in(web, "agent")
    case = web.post("/agent/next", data={"csrf": csrf}).headers["location"]
    page = web.get(case).text
    form = {"csrf": csrf_of(page), "first_due_on": DAY1.isoformat()}
    r = web.post(f"{case}/plan", data={**form, "instalments": "0"})
    assert r.status_code == 422 and "期数：不能小于1" in r.text
    assert "Input should be" not in r.text  # Pydantic's own English stays out
    r = web.post(f"{case}/plan", data={**form, "instalments": "three"})
    assert r.status_code == 422 and "期数：请输入整数" in r.text
    web.get("/lang/en")
    r = web.post(f"{case}/plan", data={**form, "instalments": "0"})
    assert "Instalments: Must be at least 1" in r.text
