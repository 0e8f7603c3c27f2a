"""Local time of the recipient: every time rule is judged on the recipient's clock, not the
server's."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from arrears.domain.errors import DomainError


class TimezoneUnknown(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown time zone {name!r}; use an IANA name such as Asia/Shanghai")


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimezoneUnknown(name) from None


def local(at: datetime, tz: str) -> datetime:
    return at.astimezone(zone(tz))


def local_date(at: datetime, tz: str) -> date:
    return local(at, tz).date()


def moment(day: date, clock: time, tz: str) -> datetime:
    """The instant `clock` strikes on `day` in `tz`, aware (in that zone)."""
    return datetime.combine(day, clock, tzinfo=zone(tz))


def day_start(day: date, tz: str) -> datetime:
    return moment(day, time(0), tz)


def next_day_start(at: datetime, tz: str) -> datetime:
    return day_start(local_date(at, tz) + timedelta(days=1), tz)
