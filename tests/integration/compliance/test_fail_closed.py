"""The gate fails closed at plan time: when the rule pack cannot load (an unknown name, a broken
pack module), the daily run plans nothing, queues nothing, and says why — on SQLite and
PostgreSQL. (Send time: tests/integration/test_dispatch_rule_pack.py; dial time:
tests/integration/compliance/test_port.py.)"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import Engine, func, select

from arrears.bootstrap import App
from arrears.compliance import loading
from arrears.compliance.batch import gate_planned_actions
from arrears.compliance.loading import RulePackUnavailable
from arrears.compliance.rules.packs import CN
from arrears.config import Settings
from arrears.engine.run_day import run_day
from arrears.store import tables as t
from tests import factories as f

D = date(2026, 1, 16)  # day one overdue: an SMS and a call are due
DUE = [date(2026, 1, 15), date(2026, 2, 15)]


def _day_one(db: Engine) -> None:
    with db.begin() as conn:
        f.borrower(conn, "B1")
        f.contact(conn, "C1", "B1")
        f.account(conn, "A1", "B1", [(d, 10000, 500) for d in DUE])


def _nothing_planned(db: Engine) -> None:
    with db.connect() as conn:
        for table in (t.actions, t.outbox, t.cases):
            assert conn.scalar(select(func.count()).select_from(table)) == 0, table.name


def _app(db: Engine, pack: str) -> App:
    app = App(Settings(database_url=str(db.url), rule_pack=pack))
    app.__dict__["engine"] = db  # the test's engine (its own schema)
    return app


def test_the_day_runs_under_a_pack_that_loads(db: Engine) -> None:
    _day_one(db)
    _app(db, "cn").run_day(D)
    with db.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(t.actions)) > 0


def test_an_unknown_pack_plans_nothing(db: Engine) -> None:
    _day_one(db)
    with pytest.raises(RulePackUnavailable, match=r"'atlantis' cannot be loaded.*unknown"):
        _app(db, "atlantis").run_day(D)
    _nothing_planned(db)


def test_a_pack_module_that_fails_to_import_plans_nothing(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(code: str) -> object:
        raise ModuleNotFoundError("No module named 'arrears.compliance.rules.packs'")

    monkeypatch.setattr(loading, "_get_pack", missing)
    _day_one(db)
    with pytest.raises(RulePackUnavailable, match="No module named"):
        _app(db, "cn").run_day(D)
    _nothing_planned(db)


def test_a_pack_without_rules_plans_nothing(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loading, "_get_pack", lambda code: replace(CN, rules=()))
    _day_one(db)
    with pytest.raises(RulePackUnavailable, match="no rules"):
        run_day(db, D, gate=gate_planned_actions, rule_pack="cn")  # the gate itself refuses too
    _nothing_planned(db)
