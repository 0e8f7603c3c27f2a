"""Rules of the recipient's own choices: a channel opted out of (an inbound TD / 退订 / STOP
suppresses that number for SMS), and channels the borrower asked us not to use."""

from __future__ import annotations

from datetime import datetime

from arrears.compliance.rules.model import Audience, Candidate, History, Violation
from arrears.compliance.rules.pack import Pack

OPT_OUT = "opt_out"
CHANNEL_PREFERENCE = "channel_preference"


def opt_out(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
    if c.channel not in h.opted_out:
        return None
    return pack.block(
        OPT_OUT, f"the recipient's address opted out of {c.channel} (e.g. replied TD / 退订 / STOP)"
    )


def channel_preference(c: Candidate, h: History, pack: Pack, at: datetime) -> Violation | None:
    if c.audience is not Audience.BORROWER or c.channel not in h.preferences.refused_channels:
        return None
    return pack.block(CHANNEL_PREFERENCE, f"the borrower asked not to be contacted by {c.channel}")
