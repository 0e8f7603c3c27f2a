"""Templates: declared slots checked when saved, contact templates disclose nothing, the
packaged set is complete and renders in both languages."""

from __future__ import annotations

import pytest

from arrears.channels.sms_text import decorate, segment_count
from arrears.compliance.templates import (
    Audience,
    TemplateBook,
    TemplateProblemKind,
    TemplateRenderFailed,
    TemplateSpec,
    check_template,
    first_name,
    packaged_templates,
)

SEED_TEMPLATES = [
    ("reminder_day1", "sms"), ("reminder", "sms"), ("plan_instalment_due", "sms"),
    ("ptp_reminder", "sms"), ("call_borrower", "call"), ("call_contact", "call"),
    ("call_plan_missed", "call"), ("call_ptp_broken", "call"),
]  # fmt: skip


def kinds(spec: TemplateSpec) -> list[TemplateProblemKind]:
    return [p.kind for p in check_template(spec)]


def spec(body: str, slots: tuple[str, ...], audience: Audience = Audience.BORROWER) -> TemplateSpec:
    return TemplateSpec("t", "sms", "zh-CN", audience, slots, body)


def test_packaged_set_is_clean_and_covers_the_seed_strategy_in_both_languages():
    specs = packaged_templates()
    for name, channel in SEED_TEMPLATES:
        for language in ("zh-CN", "en"):
            assert (name, channel, language) in specs
    for s in specs.values():
        assert check_template(s) == [], s.label
    assert specs[("call_contact", "call", "zh-CN")].audience is Audience.CONTACT


def test_unknown_undeclared_and_missing_slots_are_errors():
    assert kinds(spec("{{ borrower_name }}", ("borrower_name",))) == []
    assert kinds(spec("{{ salary }}", ("salary",))) == [TemplateProblemKind.SLOT_UNKNOWN]
    assert kinds(spec("{{ dpd }}", ())) == [TemplateProblemKind.SLOT_UNDECLARED]
    assert kinds(spec("hello", ("dpd",))) == [TemplateProblemKind.SLOT_MISSING]
    assert kinds(spec("{{ dpd ", ())) == [TemplateProblemKind.SYNTAX]


def test_contact_template_may_not_use_debt_fields_or_words():
    slots = ("contact_name", "borrower_first_name", "callback_number")
    body = "{{ contact_name }}您好，请{{ borrower_first_name }}回电{{ callback_number }}"
    ok = spec(body, slots, Audience.CONTACT)
    assert kinds(ok) == []
    leaks = spec("{{ contact_name }}，{{ overdue_amount }}", ("contact_name", "overdue_amount"),
                 Audience.CONTACT)  # fmt: skip
    assert TemplateProblemKind.SLOT_UNKNOWN in kinds(leaks)
    words = spec("{{ contact_name }}，其借款已逾期", ("contact_name",), Audience.CONTACT)
    assert TemplateProblemKind.DISCLOSES_DEBT in kinds(words)


def test_render_sees_only_declared_slots_and_needs_them_all():
    book = TemplateBook({("t", "sms", "zh-CN"): spec("{{ contact_name }}", ("contact_name",),
                                                     Audience.CONTACT)})  # fmt: skip
    out = book.render("t", "sms", "zh-CN", {"contact_name": "李伟", "overdue_amount": "9元"})
    assert out.body == "李伟"
    with pytest.raises(TemplateRenderFailed):
        book.render("t", "sms", "zh-CN", {})


def test_sandbox_refuses_attribute_tricks():
    book = TemplateBook({("t", "sms", "en"): spec("{{ link.__class__.__mro__ }}", ("link",))})
    with pytest.raises(TemplateRenderFailed):
        book.render("t", "sms", "en", {"link": "x"})


def test_first_names():
    assert first_name("王芳", "zh-CN") == "芳"
    assert first_name("欧阳娜娜", "zh-CN") == "娜娜"
    assert first_name("Alice Smith", "en") == "Alice"


# long but ordinary values: a long name, a six-figure amount, a two-digit DPD, the longest
# dates, the real length of a borrower link, and the channel's signature and opt-out
LONG_VALUES = {
    "zh-CN": {
        "borrower_name": "欧阳娜娜", "borrower_first_name": "娜娜", "contact_name": "王大伟",
        "overdue_amount": "¥12,345.67", "instalment_amount": "¥12,345.67",
        "promise_amount": "¥12,345.67", "due_date": "2026年12月31日",
        "instalment_due": "2026年12月31日", "promise_due": "2026年12月31日", "dpd": "45",
        "lender_name": "示例消费金融", "callback_number": "400-000-0000", "currency": "CNY",
        "link": "https://pay.example.cn/b/" + "A" * 22,
    },
    "en": {
        "borrower_name": "Alexandra Richardson", "borrower_first_name": "Alexandra",
        "contact_name": "Jonathan Williams", "overdue_amount": "CN¥12,345.67",
        "instalment_amount": "CN¥12,345.67", "promise_amount": "CN¥12,345.67",
        "due_date": "31 December 2026", "instalment_due": "31 December 2026",
        "promise_due": "31 December 2026", "dpd": "45",
        "lender_name": "Example Consumer Finance", "callback_number": "400-000-0000",
        "currency": "CNY", "link": "https://pay.example.cn/b/" + "A" * 22,
    },
}  # fmt: skip
SIGNED = {
    "zh-CN": ("示例消费金融", "拒收请回复TD"),
    "en": ("Example Finance", "Reply STOP to opt out"),
}


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("name", sorted({n for n, ch, lang in packaged_templates() if ch == "sms"}))
def test_every_sms_fits_two_parts(name: str, language: str):
    # each part is billed: a reminder sent a million times a day must not spill into a third
    spec = packaged_templates()[(name, "sms", language)]
    values = LONG_VALUES[language]
    body = TemplateBook({spec.key: spec}).render(
        name, "sms", language, {s: values[s] for s in spec.slots}
    )
    text = decorate(body.body, *SIGNED[language], language)
    assert segment_count(text) <= 2, f"{name}/{language}: {len(text)} characters"
