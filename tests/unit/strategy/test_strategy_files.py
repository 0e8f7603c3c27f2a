"""Strategy files: line and column of every error, warnings for overlaps and dead steps,
the shipped strategies, variants by hash."""

from __future__ import annotations

from collections import Counter

import pytest

from arrears.domain.strategy.model import Addressees, Event
from arrears.domain.strategy.variants import Variant, bucket_of, variant_for
from arrears.strategy import loader
from arrears.strategy.loader import Severity

GOOD = """\
strategy: test
salt: s
variants:
  - {name: champion, share: 80}
  - {name: challenger, share: 20}
segments:
  - name: early
    when: dpd <= 30
  - name: rest
    when: true
steps:
  - name: remind_{dpd}
    on: {dpd: [1, 5]}
    segments: [early]
    action: {channel: sms, template: reminder}
  - name: call_contacts
    on: borrower_unreachable
    variants: [challenger]
    when: contacts_reachable > 0
    actions:
      - {channel: call, template: call_contact, target: contacts, priority: 15}
"""


def read(text: str) -> list[str]:
    return [str(p) for p in loader.read(text, "s.yaml")[1]]


def test_a_valid_strategy_expands_dpd_steps() -> None:
    s = loader.loads(GOOD)
    assert [x.name for x in s.steps] == ["remind_1", "remind_5", "call_contacts"]
    assert s.step("remind_5").trigger.days == (5,)
    assert s.step("call_contacts").trigger.event is Event.BORROWER_UNREACHABLE
    assert s.step("call_contacts").actions[0].target is Addressees.CONTACTS
    assert [(v.name, v.share) for v in s.variants] == [("champion", 80), ("challenger", 20)]


def test_errors_carry_line_and_column() -> None:
    bad = GOOD.replace("when: contacts_reachable > 0", "when: contacts_reachable > 0 and foo")
    bad = bad.replace("segments: [early]", "segments: [eraly]")
    bad = bad.replace("share: 20", "share: 30")
    bad = bad.replace("channel: sms", "channel: fax")
    out = read(bad)
    assert "s.yaml:4:3: error: variant shares add up to 110; they must add up to 100" in out
    assert any(o.startswith("s.yaml:14:16: error: unknown segment 'eraly'") for o in out), out
    assert any(o.startswith("s.yaml:15:23: error: unknown channel 'fax'") for o in out), out
    assert "s.yaml:19:38: error: unknown field 'foo'" in out, out


def test_error_inside_a_block_condition() -> None:
    text = GOOD.replace(
        "    when: contacts_reachable > 0\n",
        "    when: |\n      contacts_reachable > 0\n        and dpdd > 1\n",
    )
    assert any(o.startswith("s.yaml:21:13: error: unknown field 'dpdd'") for o in read(text))


def test_unknown_keys_and_events() -> None:
    out = read(
        GOOD.replace("on: borrower_unreachable", "on: borrower_unreachabel").replace(
            "segments: [early]", "segment: [early]"
        )
    )
    assert any("unknown key 'segment' in a step (did you mean 'segments'?)" in o for o in out)
    assert any("unknown event 'borrower_unreachabel'" in o for o in out)


def test_overlapping_and_unreachable_steps_are_warnings() -> None:
    text = (
        GOOD
        + """\
  - name: late_sms
    on: {dpd: [5, 45]}
    action: {channel: sms, template: late}
  - name: never
    on: {dpd: [40]}
    segments: [early]
    action: {channel: call, template: x}
  - name: unreachable_segment_step
    on: daily
    when: dpd > 10 and dpd < 5
    action: {channel: call, template: y}
"""
    )
    strategy, problems = loader.read(text, "s.yaml")
    assert strategy is not None
    warnings = [p.message for p in problems if p.severity is Severity.WARNING]
    assert any("'remind_5' and 'late_sms' overlap" in w and "dpd [5]" in w for w in warnings)
    assert any("'never' is unreachable" in w for w in warnings)
    assert any("'unreachable_segment_step' is unreachable" in w for w in warnings)
    assert not any("remind_1" in w for w in warnings)


def test_segment_after_a_catch_all_is_unreachable() -> None:
    text = GOOD.replace("steps:", "  - name: ghost\n    when: dpd > 90\nsteps:")
    warnings = [p.message for p in loader.read(text, "s.yaml")[1]]
    assert any("segment 'ghost' is unreachable" in w for w in warnings)


def test_shipped_strategies_are_clean_and_keep_the_step_names() -> None:
    seed = loader.load("seed")
    challenger = loader.load("seed_challenger_day3")
    for s in (seed, challenger):
        assert loader.read(loader.resolve(s.name).read_text(), s.name)[1] == []
    names = {x.name for x in seed.steps}
    assert {"dpd1_sms", "dpd1_call", "contact_call", "offer_plan", "plan_reminder",
            "plan_missed_call", "ptp_reminder", "ptp_broken_call", "dpd_reminder_3",
            "dpd_call_60"} <= names  # fmt: skip
    assert {x.name for x in challenger.steps} == names
    assert challenger.step("dpd1_call").variants == ("champion",)
    assert [v.share for v in challenger.variants] == [50, 50]


def test_variant_buckets_are_deterministic_uniform_and_salted() -> None:
    assert bucket_of(12345, "a") == bucket_of(12345, "a")
    counts = Counter(bucket_of(i, "seed-2025") for i in range(1, 100_001))
    assert set(counts) == set(range(100))
    assert max(counts.values()) < 1100 and min(counts.values()) > 900
    same = sum(bucket_of(i, "a") == bucket_of(i, "b") for i in range(1, 10_001))
    assert same < 300  # about 1% by chance
    variants = [Variant("champion", 90), Variant("challenger", 10)]
    share = sum(variant_for(i, "x", variants) == "challenger" for i in range(1, 20_001))
    assert 1800 < share < 2200


def test_unknown_strategy_name() -> None:
    with pytest.raises(loader.StrategyUnknown, match="seed_challenger_day3"):
        loader.load("nope")
