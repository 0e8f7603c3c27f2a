"""Liveness and readiness.

`/healthz` says the process is up. `/readyz` runs each check and answers 200 only when every one
passes: the database answers, its schema is at this version's head, the key ring is loaded and
the last night finished. A check that raises fails (closed); no check reveals personal data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from sqlalchemy import Engine

from arrears.store import gauges


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def status_code(self) -> int:
        return 200 if self.ok else 503

    def as_dict(self) -> dict[str, object]:
        return {
            "status": "ready" if self.ok else "not ready",
            "checks": [c.as_dict() for c in self.checks],
        }


# a probe answers (passed, what it found); one that raises has failed
Probe = Callable[[], tuple[bool, str]]


def run_checks(probes: Mapping[str, Probe]) -> Readiness:
    """Run the probes in order; after a failed `database` probe the others are not run."""
    checks: list[Check] = []
    for name, probe in probes.items():
        if checks and checks[0].name == "database" and not checks[0].ok:
            checks.append(Check(name, False, "not checked: the database is unreachable"))
            continue
        try:
            ok, detail = probe()
        except Exception as exc:  # fails closed; the kind of failure, not a trace
            ok, detail = False, f"{type(exc).__name__}: {_first_line(exc)}"
        checks.append(Check(name, ok, detail))
    return Readiness(tuple(checks))


class Night(Protocol):
    """What `services.nightly.last_night` answers."""

    @property
    def business_date(self) -> date: ...
    @property
    def status(self) -> str: ...
    @property
    def failed_step(self) -> str | None: ...


def night_check(night: Night | None, logged: gauges.RunLogged | None) -> tuple[bool, str]:
    """Did last night finish? The nights of `arrears nightly` say; a book run by `arrears
    run-day` alone (no night ever recorded) is judged by the run log."""
    if night is None:
        if logged is None:
            return False, "no daily run has finished yet"
        return True, f"run-day finished business date {logged.business_date.isoformat()}"
    day = night.business_date.isoformat()
    if night.status == "failed":
        return False, f"the night of {day} failed at step {night.failed_step}"
    if night.status == "running":  # the day before finished, or it would not have started
        return True, f"the night of {day} is running"
    return True, f"the night of {day} finished"


def readiness(
    engine: Engine,
    *,
    schema_problem: Callable[[Engine], str | None],
    load_keyring: Callable[[], object],
    last_night: Callable[[], tuple[bool, str]],
) -> Readiness:
    """The four checks of `/readyz`, each asked the platform's own way (the web app passes
    services.schema, the App's key ring and `night_check` over services.nightly)."""

    def database() -> tuple[bool, str]:
        gauges.ping(engine)
        return True, "reachable"

    def schema() -> tuple[bool, str]:
        problem = schema_problem(engine)
        return problem is None, problem or "at head"

    def keyring() -> tuple[bool, str]:
        load_keyring()
        return True, "loaded"

    return run_checks(
        {"database": database, "schema": schema, "keyring": keyring, "last_night": last_night}
    )


def logged_run(engine: Engine) -> gauges.RunLogged | None:
    """The last finished daily run, from the run log the engine writes."""
    return gauges.last_run(engine)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
