"""Built-in call scripts. The contact script discloses nothing about the debt: it asks for a way
to reach the borrower or to pass on a message to call back, and stops at once on refusal."""

from __future__ import annotations

SCRIPTS: dict[str, str] = {
    "call_contact": (
        "您好，我是{{ lender_name }}的工作人员{{ agent_name }}。{{ borrower_name }}女士/先生"
        "登记您为紧急联系人。我们暂时联系不上本人，请问您能否提供本人现在的联系方式，"
        "或者转告本人给我们回电：{{ callback_number }}？"
        "如果您不愿意，我们不会再打扰您。谢谢。\n"
        "Hello, this is {{ agent_name }} from {{ lender_name }}. {{ borrower_name }} named you as "
        "someone we may call. We cannot reach them at the moment; could you give us a number "
        "where they can be reached, or ask them to call us back on {{ callback_number }}? "
        "If you prefer not to, we will not call you again. Thank you."
    ),
    "call_borrower": (
        "您好，请问是{{ borrower_name }}本人吗？核实身份后再说明来意。"
        "您的{{ product }}有{{ overdue_amount }}已逾期{{ dpd }}天，请问是否遇到了困难？"
        "我们可以一起商量一个合适的还款安排。"
    ),
    "call_plan_missed": (
        "您好，请问是{{ borrower_name }}本人吗？您的还款计划中{{ due_on }}的一期"
        "{{ instalment_amount }}尚未收到，请问是否需要帮助？"
    ),
    "call_ptp_broken": (
        "您好，请问是{{ borrower_name }}本人吗？您承诺在{{ due_on }}还款{{ amount }}，"
        "我们还没有收到，请问发生了什么情况？"
    ),
}
