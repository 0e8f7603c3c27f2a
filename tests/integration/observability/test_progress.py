"""Progress: a tqdm bar when asked for one (a terminal), plain lines otherwise, quiet under
JSON logs; log events refuse fields named like personal data."""

from __future__ import annotations

import io
import json
import logging

import pytest

from arrears.observability import logs
from arrears.observability.progress import Progress, progress


def test_plain_lines_name_what_is_worked_and_the_total() -> None:
    out = io.StringIO()
    with Progress("keys rotate", unit="rows", stream=out, bar=False, every=0) as bar:
        bar.on_batch("borrowers", 1000)
        bar.on_batch("borrowers", 500)
        bar.on_batch("contacts", 20)
    assert out.getvalue().splitlines() == [
        "keys rotate borrowers: 1000 rows …",
        "keys rotate borrowers: 1500 rows …",
        "keys rotate contacts: 1520 rows …",
        "keys rotate: 1520 rows done",
    ]


def test_a_quick_command_prints_no_progress_at_all() -> None:
    out = io.StringIO()
    with Progress("import", unit="rows", stream=out, bar=False, every=3600) as bar:
        bar.on_batch("borrowers.csv", 3)
    assert out.getvalue() == ""


def test_a_bar_on_a_terminal() -> None:
    out = io.StringIO()
    with Progress("import", unit="rows", stream=out, bar=True) as bar:
        bar.on_batch("payments.csv", 5000)
    text = out.getvalue()
    assert "5000" in text and "payments.csv" in text and "\r" in text


def test_quiet_while_logging_json_lines() -> None:
    stream = io.StringIO()
    logs.configure(True, stream)
    try:
        bar = progress("retention", unit="rows")
        bar.on_batch("borrowers", 3)
        bar.close()
        logs.event("run_day", "step finished", step="gate", business_date=None, rows=2)
    finally:
        logs.configure(False)
    line = json.loads(stream.getvalue())
    assert line["area"] == "run_day" and line["step"] == "gate" and "business_date" not in line
    assert not logging.getLogger("arrears").handlers


@pytest.mark.parametrize("field", ["name", "phone", "email", "address"])
def test_a_personal_field_is_refused(field: str) -> None:
    with pytest.raises(logs.PersonalField):
        logs.event("import", "row", **{field: "x"})


def test_the_format_comes_from_the_flag_then_the_environment() -> None:
    assert logs.wanted(None, {"ARREARS_LOG_FORMAT": "JSON"})
    assert not logs.wanted(False, {"ARREARS_LOG_FORMAT": "json"})
    assert not logs.wanted(None, {})
