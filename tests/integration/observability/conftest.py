"""A small book one day behind, run through the day, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from arrears.bootstrap import App
from arrears.privacy.keyring import KeyRing
from tests.integration.api.conftest import make_app
from tests.integration.web.conftest import DAY1, add_borrower

NAMES = ("王小明", "李秀英", "张伟")
PHONES = ("13800138001", "13800138002", "13800138003")


def behind(app: App) -> None:
    """Three borrowers whose instalment of 1 March is unpaid; the day of 2 March is run."""
    for n, (name, phone) in enumerate(zip(NAMES, PHONES, strict=True), 1):
        add_borrower(
            app,
            f"B{n}",
            name=name,
            phone=phone,
            id_number=f"11010119900101{n:04d}",
            contacts=((f"C{n}", "周杰", "sibling", f"1390013900{n}"),),
        )


@pytest.fixture
def wired(db: Engine, keyring: KeyRing, tmp_path: Path) -> App:
    return make_app(db, keyring, tmp_path)


__all__ = ["DAY1", "NAMES", "PHONES", "behind"]
