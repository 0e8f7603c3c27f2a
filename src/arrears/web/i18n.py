"""Chinese (default for the cn rule pack) and English: words, dates, money and numbers.

New strings go in the gettext catalogues, src/arrears/locale/{zh_CN,en}/LC_MESSAGES/messages.po:
one msgid (a stable key such as "status.open") added to BOTH files. Templates show it with
t('key'), Python code with word(lang, key); a code from a known set (statuses, roles, products,
rule ids, ...) with code(lang, kind, value), whose key is "kind.value".
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from arrears.domain.money import Money
from arrears.formats import format_day, format_minor, format_money

LANGS = ("zh", "en")

_LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
_LOCALES = {"zh": "zh_CN", "en": "en"}


def _load(locale: str) -> dict[str, str]:
    """Read one .po catalogue (compiled on load: a dict of msgid to msgstr)."""
    from babel.messages.pofile import read_po

    path = _LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=locale)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


@cache
def catalogue(lang: str) -> dict[str, str]:
    return _load(_LOCALES.get(lang, "zh_CN"))


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
    """The text of `key` in `lang`; an unknown key shows as itself (the crawl test catches it)."""
    return catalogue(pick(lang)).get(key, key)


def code(lang: str, kind: str, value: object) -> str:
    """A code of a known set ("case_status", "role", "product", ...) in words.

    A code ending in a number ("dpd_reminder_7") is found under its pattern
    ("step.dpd_reminder_{n}"). An unknown code shows as itself (the crawl test catches it).
    """
    if value is None or value == "":
        return "—"
    text = str(getattr(value, "value", value))
    if kind == "step" and text.startswith("agent_"):  # an agent's own action: a dial, a request
        text = "agent"
    words = catalogue(pick(lang))
    found = words.get(f"{kind}.{text}")
    if found is not None:
        return found
    numbered = _NUMBERED.match(text)
    if numbered:
        pattern = words.get(f"{kind}.{numbered.group(1)}{{n}}")
        if pattern is not None:
            return pattern.format(n=numbered.group(2))
    return text


_NUMBERED = re.compile(r"^(.*_)(\d+)$")


def rule_reason(lang: str, rule_id: str | None, params: Mapping[str, object] | None = None) -> str:
    """The sentence of a rule-pack reason ("cn.time_window" with {"window": "08:00-22:00"}) in
    the user's language; the pack prefix is dropped, a flag rule names its flag in words."""
    params = dict(params or {})
    name = (rule_id or "").split(".", 1)[-1]
    if not name and "status" in params:
        name = "action_closed"
        params["status"] = code(lang, "action_status", params["status"])
    if name.startswith("flag_"):
        params.setdefault("flag", name.removeprefix("flag_"))
        name = "flag"
    if name == "flag":
        params["flag"] = code(lang, "flag", params.get("flag"))
    words = catalogue(pick(lang))
    sentence = words.get(f"rule.{name}") or words["rule.unknown"]
    try:
        return sentence.format(**{k: str(v) for k, v in params.items()})
    except (KeyError, IndexError, ValueError):  # parameters not at hand: the plain sentence
        return words.get(f"rule.{name}.plain") or words["rule.unknown"]


class Refusal(ValueError):
    """A page's own refusal of a form, named by its catalogue key ("error.promise_past");
    str() is the English sentence (logs, tests)."""

    def __init__(self, key: str, **params: object) -> None:
        self.key = key
        self.params = params
        super().__init__(word("en", key).format(**params))


def error_text(lang: str, exc: BaseException) -> str:
    """What went wrong with a form, in the user's language. A Refusal says its own sentence; a
    domain error its class's ("error.PlanTermsInvalid"); English pages keep the precise text."""
    lang = pick(lang)
    words = catalogue(lang)
    if isinstance(exc, Refusal):
        return words.get(exc.key, exc.key).format(**exc.params)
    if lang == "en":
        return str(exc)
    key = getattr(exc, "message_key", None) or f"error.{type(exc).__name__}"
    return words.get(key) or words["error.invalid"]


def message(lang: str, text: str | None) -> str:
    """A text that may be a catalogue key (flash and error codes) in words; other text as is."""
    if not text:
        return ""
    return catalogue(pick(lang)).get(text, text)


_APPROVAL = (
    (
        "instalments",
        re.compile(r"^(?P<count>\d+) instalments exceed the agent's limit of (?P<limit>\d+)$"),
    ),
    (
        "waiver",
        re.compile(r"^waiver of (?P<amount>.+) exceeds the agent's limit of (?P<limit>.+)$"),
    ),
    (
        "term",
        re.compile(r"^plan runs (?P<days>\d+) days, beyond the agent's limit of (?P<limit>\d+)$"),
    ),
)


def approval_reasons(lang: str, reasons: list[str]) -> list[str]:
    """Why a plan needs a team lead (the domain's sentences) in the user's language."""
    words = catalogue(pick(lang))
    out = []
    for text in reasons:
        for key, pattern in _APPROVAL:
            found = pattern.match(text)
            if found:
                out.append(words[f"approval.{key}"].format(**found.groupdict()))
                break
        else:
            out.append(text if pick(lang) == "en" else words["needs_approval"])
    return out


def rule_name(lang: str, rule_id: str | None) -> str:
    """A rule's short name ("cn.contact_consent" -> 联系人同意), for charts and lists; a flag
    rule names its flag."""
    name = (rule_id or "").split(".", 1)[-1]
    words = catalogue(pick(lang))
    if name.startswith("flag_"):
        return f"{words['rule_name.flag']}: {code(lang, 'flag', name.removeprefix('flag_'))}"
    return words.get(f"rule_name.{name}", rule_id or "—")


def display_zone(name: str | None = None) -> ZoneInfo:
    """The zone wall-clock times are shown in: the lender's (Settings.timezone, else
    $ARREARS_TIMEZONE, default Asia/Shanghai). Business dates are calendar days and are never
    converted."""
    name = name or os.environ.get("ARREARS_TIMEZONE") or "Asia/Shanghai"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(moment: datetime, zone: str | None = None) -> datetime:
    """A stored moment (naive means UTC) in the display zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(display_zone(zone))


def fmt_number(value: int | Decimal, lang: str) -> str:
    return f"{value:,}"


def fmt_money(money: Money, lang: str) -> str:
    return format_money(money, lang)


def fmt_minor(minor: int, currency: str, lang: str) -> str:
    return format_minor(minor, currency, lang)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def fmt_date(day: date | datetime | str | None, lang: str, zone: str | None = None) -> str:
    if day is None:
        return "—"
    if isinstance(day, str):
        day = date.fromisoformat(day[:10])
    if isinstance(day, datetime):
        day = local_time(day, zone)
        if lang == "zh":
            return f"{day.year}年{day.month}月{day.day}日 {day:%H:%M}"
        return f"{day.day} {_MONTHS[day.month - 1]} {day.year} {day:%H:%M}"
    return format_day(day, lang)
