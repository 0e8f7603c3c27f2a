"""Chinese (default for the cn rule pack) and English: words, dates, money and numbers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from arrears.domain.money import Money

LANGS = ("zh", "en")

_SYMBOL = {"CNY": "¥", "USD": "$", "GBP": "£", "EUR": "€", "HKD": "HK$", "JPY": "¥"}

WORDS: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "app": ("催收工作台", "Arrears workbench"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "signin_failed": ("用户名或密码错误", "User name or password is wrong"),
    "signin_locked": ("失败次数过多，请稍后再试", "Too many failed attempts; try again later"),
    "signin_api_only": (
        "此账号仅用于接口（integration），不能登录工作台",
        "This account is for the HTTP API (integration); it cannot use the workbench",
    ),
    "api_account": ("仅接口", "API only"),
    "queue": ("我的队列", "My queue"),
    "next_case": ("下一个案件", "Next case"),
    "no_case": ("队列中暂无待处理案件", "Nothing waiting in your queue"),
    "case": ("案件", "Case"),
    "borrower": ("借款人", "Borrower"),
    "phone": ("电话", "Phone"),
    "id_number": ("证件号", "ID number"),
    "reveal": ("查看完整信息", "Reveal"),
    "reveal_reason": ("查看原因", "Reason for revealing"),
    "accounts": ("账户", "Accounts"),
    "arrears": ("逾期明细", "Arrears by due item"),
    "due_on": ("应还日", "Due on"),
    "principal": ("本金", "Principal"),
    "interest": ("利息", "Interest"),
    "fee": ("费用", "Fee"),
    "penalty": ("罚息", "Penalty"),
    "owed": ("未还", "Owed"),
    "total_overdue": ("逾期总额", "Total overdue"),
    "dpd": ("逾期天数", "Days past due"),
    "bucket": ("账龄", "Bucket"),
    "timeline": ("联络记录", "Interaction timeline"),
    "promises": ("还款承诺", "Promises to pay"),
    "plans": ("还款计划", "Repayment plans"),
    "contacts": ("紧急联系人", "Designated contacts"),
    "relationship": ("关系", "Relationship"),
    "status": ("状态", "Status"),
    "consent": ("同意联系", "Consent"),
    "script": ("话术", "Script"),
    "on_the_line": ("通话对象", "Who is on the line"),
    "record_outcome": ("记录通话结果", "Record call outcome"),
    "outcome": ("结果", "Outcome"),
    "hardship_kind": ("困难类型", "Hardship kind"),
    "note": ("备注", "Note"),
    "save": ("保存", "Save"),
    "promise": ("记录还款承诺", "Record a promise"),
    "amount": ("金额", "Amount"),
    "date": ("日期", "Date"),
    "propose_plan": ("制定还款计划", "Propose a repayment plan"),
    "instalments": ("期数", "Instalments"),
    "first_due": ("首期日期", "First due date"),
    "interval_days": ("间隔天数", "Days between instalments"),
    "waive_penalty": ("减免罚息", "Waive penalty"),
    "waive_interest": ("减免利息", "Waive interest"),
    "preview": ("预览", "Preview"),
    "propose": ("提交计划", "Propose"),
    "within_limit": ("在您的权限内，将立即生效", "Within your limit: active at once"),
    "needs_approval": ("超出您的权限，需组长审批", "Beyond your limit: a team lead approves"),
    "blocked": ("当前禁止", "Not allowed now"),
    "next_allowed": ("下次允许时间", "Next allowed"),
    "mark_refused": ("标记拒绝配合", "Mark refused"),
    "mark_wrong": ("标记号码错误", "Mark wrong number"),
    "floor": ("今日现场", "Today on the floor"),
    "approvals": ("待审批计划", "Plans awaiting approval"),
    "approve": ("批准", "Approve"),
    "reject": ("驳回", "Reject"),
    "assign": ("分配", "Assign"),
    "assign_to": ("分配给", "Assign to"),
    "cases_open": ("在催案件", "Open cases"),
    "portfolio": ("资产组合", "Portfolio"),
    "compliance": ("合规", "Compliance"),
    "users": ("用户", "Users"),
    "lead": ("组长", "Team lead"),
    "manager": ("经理", "Manager"),
    "how_to_pay": ("如何还款", "How to pay"),
    "verify": ("验证身份", "Verify it is you"),
    "send_code": ("发送验证码", "Send a code"),
    "code": ("验证码", "One-time code"),
    "id_last4": ("证件号后四位", "Last four digits of your ID number"),
    "what_is_due": ("应还金额", "What is due"),
    "promise_date": ("我承诺在此日期还款", "I will pay on"),
    "choose_plan": ("选择还款计划", "Choose a plan"),
    "your_plan": ("您的还款计划", "Your repayment plan"),
    "thanks": ("已收到，谢谢", "Received, thank you"),
    "blocked_actions": ("被拦截的联络", "Blocked actions"),
    "overridden": ("人工放行的联络", "Overridden actions"),
    "reveals": ("个人信息查看记录", "Personal-data reveals"),
    "templates": ("模板审批", "Template approvals"),
    "roll_rates": ("迁徙率", "Roll rates"),
    "cure_rates": ("治愈率", "Cure rates"),
    "recovery": ("回收", "Recovery"),
    "variants": ("策略变体结果", "Results by strategy variant"),
    "by_bucket": ("各账龄余额走势", "Portfolio by bucket over time"),
    "contacts_made": ("联络次数", "Contacts"),
    "rpc": ("本人接通", "Right-party contacts"),
    "promises_made": ("承诺", "Promises"),
    "plans_made": ("计划", "Plans"),
    "blocked_count": ("被拦截", "Blocked"),
    "agent": ("催收员", "Agent"),
    "role": ("角色", "Role"),
    "team": ("小组", "Team"),
    "add_user": ("新增用户", "Add user"),
    "forbidden": ("无权访问", "Not allowed"),
    "not_found": ("未找到", "Not found"),
    "back": ("返回", "Back"),
    "taken": ("已领取", "Taken"),
    "none": ("无", "None"),
    "code_sent": ("验证码已发送至", "A code was sent to"),
    "wrong": ("验证未通过，请重试", "That did not match; try again"),
    "locked": (
        "尝试次数过多，此链接已锁定。请致电客服。",
        "Too many attempts; this link is locked. Please call us.",
    ),
    "or": ("或", "or"),
    "promise_window": ("承诺日期须在30天内", "Pick a date within the next 30 days"),
    "nothing_due": ("目前没有应还金额", "Nothing is due now"),
    "plan_exists": ("已有还款计划", "A plan is already in place"),
    "pay_text": (
        "请通过App「还款」页面，或转账至还款专户并在附言中注明案件编号。",
        "Pay in the app (Repay), or by bank transfer quoting your case number as reference.",
    ),
    "reference": ("案件编号", "Case number"),
    "awaiting": ("待审批", "Awaiting approval"),
    "choose": ("选择此计划", "Choose this plan"),
    "per_month": ("每月", "monthly"),
}

OUTCOME_WORDS: dict[str, tuple[str, str]] = {
    "right_party": ("本人接通", "Right-party contact"),
    "no_answer": ("无人接听", "No answer — borrower unreachable"),
    "busy": ("占线", "Busy"),
    "wrong_number": ("号码错误", "Wrong number"),
    "out_of_service": ("停机/空号", "Out of service"),
    "refused": ("拒绝沟通", "Refused to talk"),
    "contact_reached": ("联系人已接通", "Contact reached"),
    "contact_refused": ("联系人拒绝配合", "Contact refused"),
    "message_left": ("已留言", "Message left"),
    "promise": ("承诺还款", "Promise to pay"),
    "dispute": ("有异议", "Dispute"),
    "hardship": ("声明困难", "Hardship declared"),
    "illness": ("疾病", "Illness"),
    "job_loss": ("失业", "Job loss"),
    "income_drop": ("收入下降", "Income drop"),
    "bereavement": ("丧亲", "Bereavement"),
    "disaster": ("灾害", "Disaster"),
    "other": ("其他", "Other"),
    "borrower": ("借款人", "Borrower"),
    "contact": ("联系人", "Contact"),
    # statuses
    "pending": ("待还", "pending"),
    "paid": ("已还", "paid"),
    "missed": ("逾期未还", "missed"),
    "active": ("执行中", "active"),
    "proposed": ("待审批", "proposed"),
    "completed": ("已完成", "completed"),
    "broken": ("已违约", "broken"),
    "cancelled": ("已取消", "cancelled"),
    "kept": ("已兑现", "kept"),
    "partly_kept": ("部分兑现", "partly kept"),
}


def pick(lang: str | None, default: str = "zh") -> str:
    if not lang:
        return default
    lang = lang.lower()
    if lang.startswith("en"):
        return "en"
    if lang.startswith("zh"):
        return "zh"
    return default


def default_lang(rule_pack: str) -> str:
    return "zh" if rule_pack == "cn" else "en"


def word(lang: str, key: str) -> str:
    pair = WORDS.get(key) or OUTCOME_WORDS.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "zh" else pair[1]


def fmt_number(value: int | Decimal, lang: str) -> str:
    return f"{value:,}"


def fmt_money(money: Money, lang: str) -> str:
    symbol = _SYMBOL.get(money.currency)
    places = len(str(money.amount).partition(".")[2]) if "." in str(money.amount) else 0
    text = f"{money.amount:,.{places}f}"
    if lang == "zh" and symbol:
        return f"{symbol}{text}"
    return f"{money.currency} {text}"


def fmt_minor(minor: int, currency: str, lang: str) -> str:
    return fmt_money(Money.from_minor(int(minor), currency), lang)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def fmt_date(day: date | datetime | str | None, lang: str) -> str:
    if day is None:
        return "—"
    if isinstance(day, str):
        day = date.fromisoformat(day[:10])
    if isinstance(day, datetime):
        if lang == "zh":
            return f"{day.year}年{day.month}月{day.day}日 {day:%H:%M}"
        return f"{day.day} {_MONTHS[day.month - 1]} {day.year} {day:%H:%M}"
    if lang == "zh":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
