"""Content checks: a template for contacts may not carry any debt field or collection wording;
no text may threaten, impersonate authorities, invoke blacklists or push borrowing elsewhere."""

from __future__ import annotations

import pytest

from arrears.compliance.rules.content import check_contact_template, check_content
from arrears.compliance.rules.model import Audience
from arrears.compliance.templates import packaged_templates


@pytest.mark.parametrize(
    ("text", "offending"),
    [
        ("请提醒{{ borrower_name }}：欠款 {{ amount }} 元", "{{ amount }}"),
        ("Hi, {{ name }} is {{dpd}} days late", "{{ dpd }}"),
        ("Your friend's {product} account", "{{ product }}"),
        ("请转告他逾期了", "逾期"),
        ("Tell him about the loan", "loan"),
        ("He owes ¥3,000.00", "¥3,000.00"),
        ("他还差 500元", "500元"),
    ],
)
def test_contact_template_naming_the_debt_is_rejected_with_the_part(
    text: str, offending: str
) -> None:
    found = check_contact_template(text)
    assert offending in [v.fragment for v in found]


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_packaged_contact_script_discloses_nothing(language: str) -> None:
    script = packaged_templates()[("call_contact", "call", language)].body
    assert check_contact_template(script) == []


def test_however_is_not_owe() -> None:
    assert check_contact_template("However, please ask them to call us back.") == []


@pytest.mark.parametrize(
    "text",
    [
        "不还款就把你列入黑名单",
        "我们是公安局的",
        "再不还就曝光到你的通讯录",
        "可以先去网贷还上",
        "We will call the police",
    ],
)
def test_banned_phrases_for_everyone(text: str) -> None:
    assert check_content(text, Audience.BORROWER)


def test_borrower_template_may_name_the_amount() -> None:
    assert check_content("您的账单 {{ amount }} 已逾期 {{ dpd }} 天", Audience.BORROWER) == []
