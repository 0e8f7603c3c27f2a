"""Response rates from the platform's interactions: a small book counted by hand."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Connection, Engine, insert
from typer.testing import CliRunner

from arrears.cli import build
from arrears.lab.response_rates import WindowInvalid, response_rates
from arrears.store import tables as t
from tests import factories as f
from tests.integration.privacy.conftest import cli_url

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)


def _case(conn: Connection, bid: str, dpd: int) -> int:
    f.borrower(conn, bid)
    f.account(conn, f"{bid}-a", bid, [(date(2026, 1, 1), 100000, 0)])
    for day in (D1, D2):
        conn.execute(
            insert(t.delinquency_history).values(
                account_id=f"{bid}-a", as_of=day, dpd=dpd, bucket="M?", overdue_amount=1
            )
        )
    result = conn.execute(
        insert(t.cases).values(
            borrower_id=bid, opened_on=date(2026, 2, 1), currency="CNY", overdue_at_open=1
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _action(conn: Connection, case: int, step: str, channel: str, target: str = "borrower") -> int:
    result = conn.execute(
        insert(t.actions).values(
            case_id=case,
            business_date=D1,
            step=step,
            target_type=target,
            target_id="x",
            channel=channel,
            template="t",
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _touch(
    conn: Connection,
    case: int,
    action: int | None,
    channel: str,
    outcome: str,
    target: str = "borrower",
    day: date = D1,
) -> None:
    conn.execute(
        insert(t.interactions).values(
            case_id=case,
            action_id=action,
            occurred_at=datetime(2026, 3, 1, 9, tzinfo=UTC),
            business_date=day,
            channel=channel,
            target_type=target,
            target_id="x",
            outcome=outcome,
        )
    )


def _promise(conn: Connection, case: int, status: str) -> None:
    conn.execute(
        insert(t.promises).values(
            case_id=case,
            made_on=D1,
            due_on=date(2026, 3, 5),
            amount=100,
            currency="CNY",
            status=status,
        )
    )


def test_rates_by_action_channel_and_bucket(db: Engine) -> None:
    with db.begin() as conn:
        a, b, c = _case(conn, "B1", 5), _case(conn, "B2", 10), _case(conn, "B3", 45)
        call_a, call_b = (
            _action(conn, a, "day1_call", "call"),
            _action(conn, b, "day1_call", "call"),
        )
        call_c = _action(conn, c, "day1_call", "call")
        _touch(conn, a, call_a, "call", "promise")  # M1: RPC, a promise later kept
        _promise(conn, a, "kept")
        _touch(conn, b, call_b, "call", "no_answer")  # M1: no contact
        _touch(conn, b, call_b, "call", "contact_reached", target="contact")  # not on borrower
        _touch(conn, c, call_c, "call", "promise")  # M2: RPC, promise broken
        _promise(conn, c, "broken")
        _touch(conn, a, None, "call", "right_party", day=D2)  # an agent's own call, M1
        _touch(conn, a, None, "call", "refused", day=date(2026, 4, 1))  # outside the window
        f.payment(conn, "P1", "B1-a", 500, date(2026, 3, 8))  # within 7 days of D1 for B1
        f.payment(conn, "P2", "B2-a", 500, date(2026, 3, 9))  # 8 days after: not counted
    with db.connect() as conn:
        rows = {(r.action, r.channel, r.bucket): r for r in response_rates(conn, D1, D2)}
    assert list(rows) == [
        ("agent", "call", "M1"),
        ("day1_call", "call", "M1"),
        ("day1_call", "call", "M2"),
    ]
    m1 = rows[("day1_call", "call", "M1")]
    assert (m1.attempts, m1.borrower_attempts, m1.right_party) == (3, 2, 1)
    assert m1.right_party_rate == 0.5
    assert (m1.promises, m1.promises_settled, m1.promises_kept) == (1, 1, 1)
    assert m1.paid_within_7_days == 1 and m1.payment_rate == pytest.approx(1 / 3, abs=1e-4)
    m2 = rows[("day1_call", "call", "M2")]
    assert (m2.promises, m2.promises_kept, m2.promise_kept_rate) == (1, 0, 0.0)
    assert m2.paid_within_7_days == 0
    agent = rows[("agent", "call", "M1")]
    assert (agent.attempts, agent.right_party, agent.promise_kept_rate) == (1, 1, None)
    assert agent.paid_within_7_days == 1  # D2 → March 8 is 6 days


def test_a_window_ending_before_it_starts_is_refused(db: Engine) -> None:
    with db.connect() as conn, pytest.raises(WindowInvalid, match="ends"):
        response_rates(conn, D2, D1)


def test_the_command_prints_the_rates_and_json(db: Engine) -> None:
    with db.begin() as conn:
        a = _case(conn, "B1", 5)
        _touch(conn, a, _action(conn, a, "day1_sms", "sms"), "sms", "right_party")
    base = ["--database", cli_url(db), "lab", "response-rates", "--from", "2026-03-01"]
    out = CliRunner().invoke(build(), [*base, "--to", "2026-03-31", "--json"])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.output)
    assert (row["action"], row["bucket"], row["right_party_rate"]) == ("day1_sms", "M1", 1.0)
    text_out = CliRunner().invoke(build(), [*base, "--to", "2026-03-31"])
    assert "day1_sms" in text_out.output and "100.0%" in text_out.output
    wrong = CliRunner().invoke(build(), [*base, "--to", "2026-02-01"])
    assert wrong.exit_code == 2 and "before it starts" in wrong.output
