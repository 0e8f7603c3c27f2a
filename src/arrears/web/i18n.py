"""Chinese (default for the cn rule pack) and English: words, dates, money and numbers.

New strings go in the gettext catalogues, src/arrears/locale/{zh_CN,en}/LC_MESSAGES/messages.po:
one msgid (a stable key such as "status.open") added to BOTH files. Templates show it with
t('key'), Python code with word(lang, key); a code from a known set (statuses, roles, products,
rule ids, ...) with code(lang, kind, value), whose key is "kind.value".
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from arrears.domain.money import Money

LANGS = ("zh", "en")

_SYMBOL = {"CNY": "¥", "USD": "$", "GBP": "£", "EUR": "€", "HKD": "HK$", "JPY": "¥"}

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
    """A code of a known set ("status", "role", "product", ...) in words; unknown shows raw."""
    if value is None or value == "":
        return "—"
    text = str(getattr(value, "value", value))
    return catalogue(pick(lang)).get(f"{kind}.{text}", text)


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
