"""The legal stage's path: each status moves only to the next ones; the final ones nowhere."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from arrears.domain.errors import DomainError
from arrears.domain.legal import (
    FINAL,
    LegalStatus,
    LegalStatusUnknown,
    LegalTransitionInvalid,
    advance,
    demand_deadline,
    in_legal,
    parse_status,
)

S = LegalStatus


def test_the_path_from_referral_to_closed() -> None:
    path = [S.REFERRED, S.DEMAND_LETTER_SENT, S.FILED, S.JUDGMENT, S.ENFORCEMENT, S.CLOSED]
    for current, wanted in itertools.pairwise(path):
        assert advance(current, wanted) is wanted


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        (S.REFERRED, S.FILED),  # no filing before the demand letter
        (S.FILED, S.ENFORCEMENT),  # no enforcement before a judgment
        (S.JUDGMENT, S.WITHDRAWN),  # a judgment is not withdrawn
        (S.ENFORCEMENT, S.FILED),  # never backwards
        (S.CLOSED, S.REFERRED),
        (S.WITHDRAWN, S.DEMAND_LETTER_SENT),
        (S.REFERRED, S.REFERRED),
    ],
)
def test_an_illegal_move_is_refused_naming_what_is_allowed(current: S, wanted: S) -> None:
    with pytest.raises(LegalTransitionInvalid) as err:
        advance(current, wanted)
    assert f"{current} cannot move to {wanted}" in str(err.value)
    assert isinstance(err.value, DomainError)


def test_the_refusal_lists_the_next_statuses_in_path_order() -> None:
    with pytest.raises(LegalTransitionInvalid, match=r"may move to filed, closed, withdrawn$"):
        advance(S.DEMAND_LETTER_SENT, S.JUDGMENT)
    with pytest.raises(LegalTransitionInvalid, match=r"nothing \(it is final\)"):
        advance(S.CLOSED, S.FILED)


def test_withdrawn_from_every_status_before_a_judgment() -> None:
    for current in (S.REFERRED, S.DEMAND_LETTER_SENT, S.FILED):
        assert advance(current, S.WITHDRAWN) is S.WITHDRAWN


def test_in_legal_until_closed_or_withdrawn() -> None:
    assert [s for s in S if not in_legal(s)] == sorted(FINAL, key=list(S).index)


def test_status_text_and_deadline() -> None:
    assert parse_status(" Filed ") is S.FILED
    with pytest.raises(LegalStatusUnknown, match="use one of referred, demand_letter_sent"):
        parse_status("sued")
    assert demand_deadline(date(2026, 12, 1)) == date(2026, 12, 15)
    assert demand_deadline(date(2026, 12, 25), 7) == date(2027, 1, 1)
    with pytest.raises(DomainError):
        demand_deadline(date(2026, 12, 1), 0)
