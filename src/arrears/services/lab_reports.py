"""The strategy lab's last optimiser report, as the strategist's page reads it: the JSON that
`arrears lab optimise` writes (the Pareto front with 95% intervals over the seeds, the chosen
strategy against the seed), read and checked here so the page shows figures, never a file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arrears.domain.errors import DomainError

KIND = "arrears.lab.optimise/1"


class LabReportInvalid(DomainError):
    pass


@dataclass(frozen=True)
class Band:
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Parameters:
    """What the strategy does, by days since the case opened (the optimiser's search space)."""

    first_call_day: int
    call_days: tuple[int, ...]
    sms_days: tuple[int, ...]
    contact_from_day: int | None  # None: contact persons never
    contact_min_band: int  # 0 every balance, 1 from the middle band, 2 the high band only
    plan_from_day: int | None  # None: a plan only on hardship


@dataclass(frozen=True)
class FrontStrategy:
    label: str
    params: Parameters
    chosen: bool
    seed: bool
    net_per_case: Band
    recovery_pct: Band
    contacts_per_case: Band
    calls_per_case: Band
    complaints_per_100: Band


@dataclass(frozen=True)
class OptimiserReport:
    currency: str
    seeds: int
    tried: int
    strategy: str
    strategy_file: str
    front: tuple[FrontStrategy, ...]
    recovery_diff_pct: Band
    contact_cut_pct: float
    aim_met: bool


def _band(data: Any) -> Band:
    return Band(float(data["mean"]), float(data["low"]), float(data["high"]))


_BANDS = ("net_per_case", "recovery_pct", "contacts_per_case", "calls_per_case",
          "complaints_per_100")  # fmt: skip


def _params(p: Any) -> Parameters:
    def day(v: Any) -> int | None:
        return None if v is None else int(v)

    return Parameters(
        first_call_day=int(p["first_call_day"]),
        call_days=tuple(int(d) for d in p["call_days"]),
        sms_days=tuple(int(d) for d in p["sms_days"]),
        contact_from_day=day(p["contact_from_day"]),
        contact_min_band=int(p["contact_min_band"]),
        plan_from_day=day(p["plan_from_day"]),
    )


def optimiser_report(path: Path) -> OptimiserReport | None:
    """The report at path; None when the optimiser has not written one yet."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("kind") != KIND:
            raise ValueError(data.get("kind"))
        front = tuple(
            FrontStrategy(
                str(r["label"]), _params(r["params"]), bool(r["chosen"]), bool(r["seed"]),
                *(_band(r[name]) for name in _BANDS),
            )
            for r in data["front"]
        )  # fmt: skip
        comparison = data["comparison"]
        return OptimiserReport(
            currency=str(data["currency"]),
            seeds=int(data["seeds"]),
            tried=int(data["tried"]),
            strategy=str(data["strategy"]),
            strategy_file=str(data["strategy_file"]),
            front=front,
            recovery_diff_pct=_band(comparison["recovery_diff_pct"]),
            contact_cut_pct=float(comparison["contact_cut_pct"]),
            aim_met=bool(data["aim_met"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LabReportInvalid(
            f"the optimiser's report {path} cannot be read ({type(exc).__name__}); "
            "run arrears lab optimise again"
        ) from None
