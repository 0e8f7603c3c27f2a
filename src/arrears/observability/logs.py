"""Structured logs: one JSON object a line on stderr (`--log-json` or ARREARS_LOG_FORMAT=json).

Each line carries the time, the level, the area (`run_day`, `dispatch`, `import`, `nightly`),
the event and its fields: business dates, steps, counts and ids — never a name, a phone number,
an address or a message's text. A field whose name says it is personal is refused outright."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arrears.observability.metrics import RunFigures

ROOT = "arrears"
ENV = "ARREARS_LOG_FORMAT"
# field names that would carry personal data: a caller passing one is a bug, not a log line
PERSONAL = frozenset(
    {"name", "phone", "email", "address", "id_number", "text", "body", "to", "contact_name"}
)


class PersonalField(ValueError):
    """A log field named like personal data."""


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "area": record.name.removeprefix(f"{ROOT}."),
            "event": record.getMessage(),
        }
        line.update((k, v) for k, v in getattr(record, "fields", {}).items() if v is not None)
        if record.exc_info:
            line["error"] = repr(record.exc_info[1])
        return json.dumps(line, ensure_ascii=False, default=_plain)


def _plain(value: object) -> object:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value)
    return str(value)


def wanted(flag: bool | None = None, env: Mapping[str, str] | None = None) -> bool:
    """JSON lines when the flag says so, else when $ARREARS_LOG_FORMAT is `json`."""
    if flag is not None:
        return flag
    return (env if env is not None else os.environ).get(ENV, "").lower() == "json"


def configure(json_lines: bool, stream: IO[str] | None = None) -> None:
    """Send the platform's log events to `stream` (stderr) as JSON lines, or keep them quiet
    (the commands print their own plain report)."""
    logger = logging.getLogger(ROOT)
    for handler in list(logger.handlers):
        if getattr(handler, "_arrears", False):
            logger.removeHandler(handler)
    if not json_lines:
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._arrears = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonLines())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def json_active() -> bool:
    """Whether events go out as JSON lines (then no plain progress lines mix with them)."""
    return any(getattr(h, "_arrears", False) for h in logging.getLogger(ROOT).handlers)


def event(area: str, what: str, **fields: Any) -> None:
    """Log one event of `area` with its fields (ids, dates, counts)."""
    personal = PERSONAL & fields.keys()
    if personal:
        raise PersonalField(f"log fields {sorted(personal)} would carry personal data")
    logging.getLogger(f"{ROOT}.{area}").info(what, extra={"fields": fields})


def run_steps(report: RunFigures) -> None:
    """One line per step of a daily run, then one for the run."""
    from arrears.observability.metrics import step_rows  # the CLI starts without prometheus

    rows = step_rows(report)
    for step, seconds in report.step_seconds.items():
        event(
            "run_day",
            "step finished",
            business_date=report.as_of,
            step=step,
            seconds=seconds,
            rows=rows.get(step),
        )
    event(
        "run_day",
        "run finished",
        business_date=report.as_of,
        seconds=round(sum(report.step_seconds.values()), 3),
    )
