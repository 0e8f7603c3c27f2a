"""Call scripts by template. The contact script says nothing about the debt: no amount, no
lender's purpose beyond asking the borrower to call back (5.1 of the seed: privacy)."""

from __future__ import annotations

SCRIPTS: dict[str, tuple[str, str]] = {
    "call_borrower": (
        "您好，请问是{name}本人吗？我是{lender}的工作人员。\n"
        "核实身份后：您的账户目前逾期{dpd}天，应还{amount}。\n"
        "请问是否遇到了什么困难？我们可以一起商量一个合适的还款安排。",
        "Hello, may I speak with {name}? I am calling from {lender}.\n"
        "Once identity is confirmed: your account is {dpd} days overdue; {amount} is due.\n"
        "Has something made repaying difficult? We can agree an arrangement that fits.",
    ),
    "call_contact": (
        "您好，请问是{contact}吗？我是{lender}的工作人员，{name}将您登记为紧急联系人。\n"
        "我们最近未能联系上{name}，想确认他/她是否一切安好，并请您转告尽快回电。\n"
        "（不得透露任何欠款、金额或账户信息；对方拒绝时礼貌结束通话。）",
        "Hello, am I speaking with {contact}? I am calling from {lender}; {name} named you "
        "as their contact.\n"
        "We have not been able to reach {name} and want to know they are well; please ask "
        "them to call us back.\n"
        "(Say nothing about any debt, amount or account; if they decline, end the call "
        "politely.)",
    ),
    "call_plan_missed": (
        "您好{name}，您的还款计划第{seq}期未按时到账。请问是否遇到了新的困难？",
        "Hello {name}, instalment {seq} of your repayment plan has not arrived. Has anything "
        "changed?",
    ),
    "call_ptp_broken": (
        "您好{name}，您承诺的还款尚未到账（{amount}）。我们可以重新约定日期或制定还款计划。",
        "Hello {name}, the payment you promised ({amount}) has not arrived. We can agree a new "
        "date or a repayment plan.",
    ),
    "offer_plan": (
        "借款人已声明困难：了解情况后，用计划计算器提出合适的还款计划。",
        "The borrower declared hardship: learn the situation, then propose a plan with the "
        "calculator.",
    ),
}


def script(template: str, lang: str, **values: object) -> str:
    pair = SCRIPTS.get(template, SCRIPTS["call_borrower"])
    text = pair[0] if lang == "zh" else pair[1]
    defaults = {"lender": "我司" if lang == "zh" else "the lender", "seq": 1}
    return text.format_map({**defaults, **values})
