"""Calendar mode (`arrears nightly --through D`): whatever nights are on record, the dates it
runs are consecutive, end at D, include every night that did not finish and the day after the
last finished one, and begin at one of those two."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert

from arrears.services.nightly import NightStatus, dates_to_run
from arrears.store.tables_ops import nights

BASE = date(2026, 2, 1)
AT = datetime(2026, 2, 1, 2, 0, tzinfo=UTC)

records = st.dictionaries(
    st.integers(0, 30).map(lambda n: BASE + timedelta(days=n)),
    st.sampled_from(list(NightStatus)),
    max_size=8,
)


def test_calendar_mode_runs_every_open_and_missed_date_in_order(db: Engine) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(recorded=records, through=st.integers(0, 35).map(lambda n: BASE + timedelta(days=n)))
    def check(recorded: dict[date, NightStatus], through: date) -> None:
        with db.begin() as conn:
            conn.execute(delete(nights))
            for day, status in recorded.items():
                conn.execute(
                    insert(nights).values(
                        business_date=day, status=status, started_at=AT, by="test"
                    )
                )
        days = dates_to_run(db, through)
        steps = [b - a for a, b in itertools.pairwise(days)]
        assert all(step == timedelta(days=1) for step in steps)  # consecutive, ascending
        assert not days or days[-1] == through
        open_nights = {d for d, s in recorded.items() if s != NightStatus.FINISHED}
        finished = [d for d, s in recorded.items() if s == NightStatus.FINISHED]
        assert {d for d in open_nights if d <= through} <= set(days)
        after = max(finished) + timedelta(days=1) if finished else None
        if after is not None and after <= through:
            assert after in days
        if not recorded:
            assert days == [through]  # a new install starts at the date asked for
        elif days:
            assert days[0] == after or days[0] in open_nights

    check()
