"""Phone numbers normalised to E.164; masking of phone, name and e-mail."""

from __future__ import annotations

import pytest

from arrears.domain.phone import PhoneInvalid, mask_email, mask_name, mask_phone, normalise_phone


@pytest.mark.parametrize(
    "text",
    ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "008613812345678",
     "8613812345678", "(+86) 13812345678"],
)  # fmt: skip
def test_mainland_mobiles_in_any_usual_writing(text: str) -> None:
    assert normalise_phone(text) == "+8613812345678"


def test_international_numbers_keep_their_country() -> None:
    assert normalise_phone("+1 (415) 555-0123") == "+14155550123"
    assert normalise_phone("0044 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize(
    "text", ["", "12345", "23812345678", "+0123456789", "call me", "1381234567"]
)
def test_non_numbers_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(PhoneInvalid, match="11-digit mainland mobile"):
        normalise_phone(text)


def test_a_mainland_number_needs_the_plus_outside_china() -> None:
    with pytest.raises(PhoneInvalid):
        normalise_phone("13812345678", default_country="US")


def test_masks() -> None:
    assert mask_phone("+8613812345678") == "138****5678"
    assert mask_name("王芳") == "王*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("John Smith") == "J*** S****"
    assert mask_name("") == ""
    assert mask_email("wang.fang@example.com") == "w***@example.com"
    assert mask_email("not-an-address") == "***"
