"""Rules of time: the pack's hours in the recipient's local time (widened by hours the borrower
agreed to), the borrower's own inconvenient times, and holidays."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from arrears.compliance.rules.clock import local, moment, next_day_start
from arrears.compliance.rules.model import Candidate, Channel, History, Violation, Window
from arrears.compliance.rules.pack import Pack

TIME_WINDOW = "time_window"
INCONVENIENT_TIME = "inconvenient_time"
HOLIDAY = "holiday"


def _windows(pack: Pack, history: History) -> list[Window]:
    spans = [pack.window]
    if pack.honours_agreed_hours:
        spans += list(history.preferences.agreed)
    return sorted(spans, key=lambda w: w.start)


def _inside(clock: time, window: Window) -> bool:
    return window.start <= clock < window.end


def time_window(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
    here = local(at, c.timezone)
    clock = here.time().replace(tzinfo=None)
    windows = _windows(pack, h)
    if any(_inside(clock, w) for w in windows):
        return None
    later = [w.start for w in windows if w.start > clock]
    if later:
        until = moment(here.date(), min(later), c.timezone)
    else:
        until = moment(here.date() + timedelta(days=1), windows[0].start, c.timezone)
    agreed = " or hours the borrower agreed to" if len(windows) > 1 else ""
    return pack.defer(
        TIME_WINDOW,
        until,
        f"outreach only {pack.window}{agreed} in the recipient's local time ({c.timezone}); "
        f"it is {clock:%H:%M} there, next allowed {until:%Y-%m-%d %H:%M}",
    )


def inconvenient_time(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
    here = local(at, c.timezone)
    clock = here.time().replace(tzinfo=None)
    for w in h.preferences.inconvenient:
        if _inside(clock, w):
            until = moment(here.date(), w.end, c.timezone)
            return pack.defer(
                INCONVENIENT_TIME,
                until,
                f"the borrower said {w} local time does not suit; next allowed "
                f"{until:%Y-%m-%d %H:%M}",
            )
    return None


def holiday(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
    if c.channel not in pack.holiday_channels:
        return None
    holidays = pack.holidays | h.holidays
    day = local(at, c.timezone).date()
    if day not in holidays:
        return None
    until = next_day_start(at, c.timezone)
    while until.date() in holidays:
        until = next_day_start(until, c.timezone)
    return pack.defer(
        HOLIDAY,
        until,
        f"{day} is a public holiday; {c.channel} outreach waits until {until:%Y-%m-%d}",
    )


# channels every time rule ignores: an internal task reaches nobody by itself
SILENT = frozenset({Channel.TASK})
