"""A case's scores of the business date for the people who work it: `p_pay_30` and
`p_self_cure` from `lab_scores`, each with its reasons (the features that move the score most
from a typical account's, and which way), read in one query by the case's key."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from arrears.store.tables_lab import lab_scores

_REASON = re.compile(r"^(?P<feature>[a-z0-9_]+) (?P<sign>[+−-])(?P<size>\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Reason:
    feature: str  # a model feature, e.g. paid_share_of_balance
    raises: bool  # the feature raises the score (against a typical account)
    effect: float  # by how much, 0 to 1


@dataclass(frozen=True)
class CaseScore:
    score: str  # p_pay_30 | p_self_cure
    value: float
    model: str
    reasons: tuple[Reason, ...]

    @property
    def percent(self) -> int:
        return round(self.value * 100)


def _reasons(text: str) -> tuple[Reason, ...]:
    out = []
    for item in json.loads(text or "[]"):
        m = _REASON.match(str(item))
        if m is not None:
            out.append(Reason(m["feature"], m["sign"] == "+", float(m["size"])))
    return tuple(out)


def scores_of(conn: Connection, case_id: int, as_of: date) -> list[CaseScore]:
    """The case's two scores of the date with their reasons; empty when it was not scored."""
    ls = lab_scores
    row = (
        conn.execute(select(ls).where(ls.c.case_id == case_id, ls.c.as_of == as_of))
        .mappings()
        .first()
    )
    if row is None:
        return []
    return [
        CaseScore("p_pay_30", float(row["p_pay_30"]), row["pay_model"],
                  _reasons(row["pay_reasons"])),
        CaseScore("p_self_cure", float(row["p_self_cure"]), row["cure_model"],
                  _reasons(row["cure_reasons"])),
    ]  # fmt: skip
