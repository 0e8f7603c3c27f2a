"""The Taiwan book: the committed 2,000-client subset always; the full file where present."""

from __future__ import annotations

from pathlib import Path

import pytest

from arrears.lab import taiwan

SUBSET = (
    Path(__file__).resolve().parents[2] / "fixtures" / "taiwan" / "UCI_Credit_Card_first2000.csv"
)


def _full() -> Path:
    path = taiwan.source_path()
    if not path.exists():
        pytest.skip(f"the full Taiwan file is not on this machine ({path})")
    return path


@pytest.fixture(params=["subset", "full"])
def taiwan_raw(request: pytest.FixtureRequest) -> Path:
    return SUBSET if request.param == "subset" else _full()


@pytest.fixture
def taiwan_subset() -> Path:
    return SUBSET


@pytest.fixture
def taiwan_full() -> Path:
    return _full()
