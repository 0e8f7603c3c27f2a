"""Commands that send messages, run as child processes in the borrower's daytime whatever hour
the suite runs at: the send-time gate defers a message outside the contact window of the cn
pack (Asia/Shanghai), so a test that expects messages sent shifts the child's clock forward to
noon there with libfaketime (Debian `faketime`, installed by `.ci/run`)."""

from __future__ import annotations

import glob
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


@cache
def _shift_seconds() -> int:
    """One shift for the whole run, so children started apart keep their clocks' order (a
    lease one wrote runs out for the next)."""
    local = datetime.now(UTC).astimezone(SHANGHAI)
    if 10 <= local.hour < 18:
        return 0
    noon = local.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon <= local:
        noon += timedelta(days=1)
    return int((noon - local).total_seconds())


def daytime_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a child process whose clock reads a Shanghai working hour (unchanged if it
    already does)."""
    seconds = _shift_seconds()
    if seconds == 0:
        return env
    libraries = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    if not libraries:
        raise RuntimeError("libfaketime is missing: apt-get install faketime (see .ci/run)")
    return {
        **env,
        "LD_PRELOAD": libraries[0],
        "FAKETIME": f"+{seconds}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_DONT_RESET": "1",
    }
