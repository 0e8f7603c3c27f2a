"""Outreach an agent asks for by hand — the specialist's way to reach a vulnerable borrower whose
automated outreach the gate blocks. The request is an action judged by the one gate
(`arrears.compliance.send.request_outreach`): allowed now or later today, deferred, or blocked
with the rule. An allowed message is queued for the dispatcher at once; an allowed call is the
agent's to place (the dial check judges it again then).

A case in the specialist queue is asked for only by an agent of a team that works that queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, select

from arrears.compliance.loading import load_pack
from arrears.compliance.port import Verdict, verdict_of
from arrears.compliance.rules.model import MESSAGE_CHANNELS, Channel, VerdictKind
from arrears.compliance.send import request_outreach
from arrears.domain.outcomes import Target
from arrears.engine.enqueue import enqueue_messages
from arrears.engine.run_day import last_business_date
from arrears.engine.specialist import SPECIALIST_QUEUE
from arrears.services.users import Permission, find_user
from arrears.store import tables as t
from arrears.store.tables_web import team_queues

# the channels an agent may ask for by hand, and the template each uses per audience
TEMPLATES: dict[tuple[Channel, Target], str] = {
    (Channel.CALL, Target.BORROWER): "call_borrower",
    (Channel.CALL, Target.CONTACT): "call_contact",
    (Channel.SMS, Target.BORROWER): "reminder",
    (Channel.SMS, Target.CONTACT): "contact_callback",
    (Channel.EMAIL, Target.BORROWER): "reminder",
    (Channel.LETTER, Target.BORROWER): "reminder",
}
CHANNELS = tuple(dict.fromkeys(c for c, _ in TEMPLATES))


class OutreachRefused(ValueError):
    """The request itself is wrong (who asks, which case, channel or person): nothing recorded."""


@dataclass(frozen=True)
class OutreachRequested:
    action_id: int
    channel: str
    target_type: str
    business_date: date
    verdict: Verdict
    queued: bool  # an allowed message written to the outbox

    @property
    def scheduled_at(self) -> datetime | None:
        return self.verdict.next_allowed_at


def _asker(conn: Connection, by: str) -> None:
    user = find_user(conn, by)
    if user is None or not user.active:
        raise OutreachRefused(f"no active user {by!r}; name the agent who asks")
    if not user.can(Permission.WORK_CASES):
        raise OutreachRefused(f"{by} ({user.role}) does not work cases; an agent asks for outreach")


def _specialist(conn: Connection, by: str) -> bool:
    user = find_user(conn, by)
    if user is None or user.team_id is None:
        return False
    found = conn.execute(
        select(team_queues.c.queue).where(
            team_queues.c.team_id == user.team_id, team_queues.c.queue == SPECIALIST_QUEUE
        )
    ).first()
    return found is not None


def request_by_hand(
    conn: Connection,
    *,
    case_id: int,
    channel: str,
    by: str,
    at: datetime,
    target: str = "borrower",
    contact_id: str | None = None,
    template: str | None = None,
    business_date: date | None = None,
) -> OutreachRequested:
    """Ask the gate for one outreach now, by hand; the action and its decision are recorded."""
    _asker(conn, by)
    try:
        how = Channel(channel)
        who = Target(target)
    except ValueError:
        raise OutreachRefused(
            f"cannot ask for {channel!r} to {target!r}; channels: {', '.join(CHANNELS)}; "
            "targets: borrower, contact"
        ) from None
    chosen = template or TEMPLATES.get((how, who))
    if chosen is None:
        raise OutreachRefused(f"no {how} to a {who} by hand; use a call or an SMS")
    case = conn.execute(
        select(t.cases.c.borrower_id, t.cases.c.status, t.cases.c.queue).where(
            t.cases.c.id == case_id
        )
    ).first()
    if case is None:
        raise OutreachRefused(f"no case {case_id}")
    if case.status != "open":
        raise OutreachRefused(f"case {case_id} is {case.status}; there is nothing to collect")
    if case.queue == SPECIALIST_QUEUE and not _specialist(conn, by):
        raise OutreachRefused(
            f"case {case_id} is in the specialist queue; a specialist agent asks for its outreach"
        )
    if who is Target.CONTACT:
        owner = conn.execute(
            select(t.contacts.c.borrower_id).where(t.contacts.c.id == str(contact_id or ""))
        ).scalar()
        if owner != case.borrower_id:
            raise OutreachRefused(f"contact {contact_id} is not a contact of case {case_id}")
        target_id = str(contact_id)
    else:
        target_id = str(case.borrower_id)
    d = business_date or last_business_date(conn) or at.date()
    action_id, decision = request_outreach(
        conn,
        case_id=case_id,
        target_type=who.value,
        target_id=target_id,
        channel=how.value,
        template=chosen,
        at=at,
        business_date=d,
        agent=by,
    )
    verdict = verdict_of(decision, at, pack=load_pack(decision.pack), action_id=action_id)
    queued = False
    if decision.verdict is VerdictKind.ALLOW and how in MESSAGE_CHANNELS:
        queued = enqueue_messages(conn, d) > 0
    return OutreachRequested(action_id, how.value, who.value, d, verdict, queued)
