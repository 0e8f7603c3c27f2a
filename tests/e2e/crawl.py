"""Crawl every page of the app as each role would, in a real browser: the pages a role's links
reach (paged lists, sorted and filtered lists, case pages), the call and plan-preview screens, the
borrower's page through its link, the unsubscribe page and the error pages. Shared by the
language crawl and the layout test; screenshots go to test-artifacts/e2e/<suite>/."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import select, update

from arrears.bootstrap import App
from arrears.channels.smtp import unsubscribe_token
from arrears.compliance.rules.packs import PACKS
from arrears.domain.outcomes import HardshipKind, Outcome
from arrears.domain.products import Product
from arrears.privacy.links import make_token
from arrears.services.users import DEMO_PASSWORD, Role
from arrears.sim.demo import run_demo
from arrears.sim.portfolio import RELATIONSHIPS
from arrears.store import tables as t
from arrears.strategy import loader
from tests.e2e.conftest import ARTIFACTS, Served, save_screenshot, serve

ROLES = ("agent", "lead", "manager", "strategist", "compliance", "admin")
LANGS = ("zh", "en")
UNSUBSCRIBE_SECRET = "unsubscribe-secret-for-the-crawl"
PER_PATTERN = 2  # pages of one shape (/cases/{n}) visited per role
MAX_PAGES = 40  # per role and language: a loop in the links fails the crawl rather than hangs


@dataclass
class Site:
    served: Served
    borrower_link: str
    unsubscribe_url: str
    case_ids: list[int]


@dataclass
class Visit:
    role: str
    lang: str
    url: str
    name: str
    status: int


@dataclass
class Crawl:
    visits: list[Visit] = field(default_factory=list)


def channels_file(tmp: Path) -> Path:
    path = tmp / "channels.yaml"
    path.write_text(
        "channels:\n"
        "  email:\n"
        "    kind: smtp\n"
        "    host: 127.0.0.1\n"
        "    sender: collections@example.cn\n"
        '    unsubscribe_url: "https://pay.example.cn/unsubscribe/{key}?t={token}"\n'
        "    unsubscribe_secret_env: ARREARS_CRAWL_UNSUBSCRIBE_SECRET\n",
        "utf-8",
    )
    return path


def build_site(app: App, tmp: Path) -> Iterator[Site]:
    """A demo portfolio worked for a few weeks (plans, promises, blocked actions, every status),
    served on the next business day at 10:00 in Shanghai, with an e-mail to unsubscribe from."""
    from tests.integration.channels.outbox import queue_messages

    result = run_demo(app, borrowers=120, days=21, seed=11)
    day = result.next_day or result.end
    now = datetime.combine(day, time(2, 0), tzinfo=UTC)  # 10:00 in Shanghai
    with app.engine.begin() as conn:
        (email,) = queue_messages(conn, app.keyring, 1, start=900000, channel="email")
        case_ids = list(
            conn.scalars(
                select(t.cases.c.id).where(t.cases.c.status == "open").order_by(t.cases.c.id)
            )
        )
        with_plan = conn.scalar(select(t.plans.c.case_id).order_by(t.plans.c.id.desc()).limit(1))
        # the day's first planned action held back by a rule, as the nightly gate leaves it: its
        # reason shows on the case page and in the compliance officer's list
        held = conn.scalar(
            select(t.actions.c.id)
            .join(t.cases, t.cases.c.id == t.actions.c.case_id)
            .where(
                t.actions.c.business_date == day,
                t.actions.c.status.in_(["planned", "deferred", "queued"]),
                # not the crawl's agent's handed-out work
                (t.cases.c.assigned_to.is_(None)) | (t.cases.c.assigned_to != "agent"),
            )
            .order_by(t.actions.c.id.desc())
            .limit(1)
        )
        assert held is not None, "no action of the day to hold back"
        if held is not None:
            conn.execute(
                update(t.actions)
                .where(t.actions.c.id == held)
                .values(status="blocked", rule_id="cn.contact_consent", reason="no consent")
            )
    _complaints(app, case_ids[0], day, now)
    _legal_case(app, case_ids[-1], day, now)
    _lab(app, case_ids, day)
    key = f"arrears-{email}"
    unsubscribe = f"/unsubscribe/{key}?t={unsubscribe_token(key, UNSUBSCRIBE_SECRET.encode())}"
    link = f"/b/{make_token(app.keyring, with_plan or case_ids[0], day + timedelta(days=14))}"
    for served in serve(app, business_date=day, clock=lambda: now):
        yield Site(served, link, unsubscribe, case_ids)


def _lab(app: App, case_ids: list[int], day: Any) -> None:
    """The day's scores of the open cases with their reasons (the agent's case page), and the
    optimiser's last report (the strategist's lab page)."""
    import json
    import shutil

    from arrears.store.tables_lab import lab_scores

    reasons = ["paid_share_of_balance +0.31", "bucket −0.12", "delinquent_months_3m −0.05"]
    with app.engine.begin() as conn:
        conn.execute(
            lab_scores.insert(),
            [
                {"case_id": c, "as_of": day, "p_pay_30": (c % 97) / 100, "p_self_cure": 0.2,
                 "pay_model": "p_pay_30-crawl", "cure_model": "p_self_cure-crawl",
                 "pay_reasons": json.dumps(reasons), "cure_reasons": json.dumps(reasons[1:])}
                for c in case_ids
            ],
        )  # fmt: skip
    app.settings.lab_report.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).parents[1] / "fixtures" / "lab" / "optimise.json",
                app.settings.lab_report)  # fmt: skip


def _legal_case(app: App, case_id: int, day: Any, now: datetime) -> None:
    """A case in legal with its demand letter and a referral rule: the legal page's queue,
    history and rules have something to show."""
    from arrears.services import legal

    with app.engine.begin() as conn:
        legal.add_rule(
            conn, min_dpd=120, currency="CNY", min_balance="1000", by="manager", at=now,
            ring=app.keyring,
        )  # fmt: skip
        legal.refer(conn, case_id, day, by="manager", at=now, ring=app.keyring, note="crawl")
        legal.send_demand_letter(conn, case_id, day, by="manager", at=now, ring=app.keyring)


def _complaints(app: App, case_id: int, day: Any, now: datetime) -> None:
    """Two complaints for the register: one overdue that paused outreach, one answered."""
    from arrears.services import complaints as svc

    with app.engine.begin() as conn:
        late = svc.receive_complaint(
            conn, app.keyring, channel="regulator", category="third_party_disclosure",
            on=day - timedelta(days=20), by="lead", at=now, case_id=case_id,
            summary="监管转办：催收员向同事透露欠款", pause_outreach=True,
        )  # fmt: skip
        svc.assign_complaint(conn, app.keyring, late.id, owner="compliance", by="lead", at=now)
        answered = svc.receive_complaint(
            conn, app.keyring, channel="phone", category="contact_frequency",
            on=day - timedelta(days=5), by="lead", at=now, case_id=case_id, summary="电话太多",
        )  # fmt: skip
        svc.answer_complaint(
            conn, app.keyring, answered.id, response="已调整联络频次", outcome="upheld",
            on=day - timedelta(days=2), by="compliance", at=now,
        )  # fmt: skip


def served_site(tmp: Path) -> Iterator[Site]:
    """The demo site on a fresh SQLite database, with cheap password hashing and a channels file
    whose e-mail channel signs unsubscribe links."""
    import pytest
    from argon2 import PasswordHasher

    from arrears.config import Settings
    from arrears.privacy.keyring import KeyRing
    from arrears.services import auth
    from arrears.store import migrate
    from arrears.store.db import make_engine

    engine = make_engine(f"sqlite:///{tmp / 'arrears.db'}")
    migrate.upgrade(engine)
    app = App(
        Settings(
            database_url=str(engine.url),
            outbox_dir=tmp / "outbox",
            lab_report=tmp / "lab" / "optimise.json",
        )
    )
    app.engine = engine  # type: ignore[misc]
    app.keyring = KeyRing.generate()  # type: ignore[misc]
    before = auth._hasher
    auth.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ARREARS_CHANNELS", str(channels_file(tmp)))
        env.setenv("ARREARS_CRAWL_UNSUBSCRIBE_SECRET", UNSUBSCRIBE_SECRET)
        try:
            yield from build_site(app, tmp)
        finally:
            auth.use_hasher(before)


# --- the codes a page must never show raw -------------------------------------------------------


def _strategy_codes() -> set[str]:
    codes: set[str] = set()
    for name in ("seed", "seed_challenger_day3"):
        s = loader.load(name)
        codes.add(s.name)
        codes.update(v.name for v in s.variants)
        for step in s.steps:
            codes.add(step.name)
            codes.update(a.template for a in step.actions)
            if re.fullmatch(r".*_\d+", step.name):
                prefix = step.name.rsplit("_", 1)[0]
                codes.update(f"{prefix}_{n}" for n in range(1, 91))
        codes.update(seg.name for seg in s.segments)
        codes.update(seg.queue for seg in s.segments if getattr(seg, "queue", None))
    return codes


def _complaint_codes() -> set[str]:
    from arrears.services import complaints as svc

    kinds = (svc.ComplaintChannel, svc.ComplaintCategory, svc.ComplaintStatus)
    return {c.value for kind in (*kinds, svc.ComplaintOutcome) for c in kind}


def known_codes() -> set[str]:
    """Statuses, roles, relationships, products, channels, outcomes, steps, templates, queues,
    variants, flags and rule ids: the tokens a translated page never shows."""
    codes = {r.value for r in Role}
    codes |= {o.value for o in Outcome} | {h.value for h in HardshipKind}
    codes |= {p.value for p in Product} | set(RELATIONSHIPS)
    codes |= {
        # case, action, plan, instalment, promise, contact, phone and template statuses
        "open", "cured", "paid_off", "closed", "planned", "deferred", "blocked", "done", "queued",
        "sending", "sent", "delivered", "failed", "cancelled", "claimed", "opted_out", "pending",
        "proposed", "active", "completed", "broken", "rejected", "approved", "paid", "missed",
        "kept", "partly_kept", "refused", "wrong_number", "out_of_service", "draft",
        # channels and targets
        "sms", "email", "push", "letter", "call", "voicemail", "task", "borrower", "contact",
    }  # fmt: skip
    codes |= _strategy_codes()
    codes |= _complaint_codes()
    for pack in PACKS.values():
        for rule_id in pack.rule_ids:
            codes.add(rule_id)
            codes.add(rule_id.split(".", 1)[1])
    return codes


# --- reading a page -----------------------------------------------------------------------------

# The visible text of the page, less what is marked as data (data-i18n-ignore: personal names,
# usernames, free text people typed), plus the words a user meets outside the text: the title,
# placeholders, labels for screen readers, button values.
PAGE_TEXT = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('[data-i18n-ignore], script, style, svg title').forEach(e => e.remove());
  body.querySelectorAll('input, textarea').forEach(e => e.removeAttribute('value'));
  const host = document.createElement('div');
  host.style.position = 'absolute'; host.style.left = '-99999px';
  host.appendChild(body); document.documentElement.appendChild(host);
  const text = [document.title, host.innerText];
  host.remove();
  document.querySelectorAll('[placeholder], [title], [aria-label], [alt]').forEach(e => {
    if (e.closest('[data-i18n-ignore]')) return;
    for (const a of ['placeholder', 'title', 'aria-label', 'alt'])
      if (e.getAttribute(a)) text.push(e.getAttribute(a));
  });
  document.querySelectorAll('svg text').forEach(e => {
    if (!e.closest('[data-i18n-ignore]')) text.push(e.textContent);
  });
  return text.join('\\n');
}"""

# Cards and the document that are wider inside than out: something spills. A table may scroll
# inside a wrapper of its own (.table-wrap), which is then the one wider inside.
OVERFLOW = """() => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1)
    out.push(`document ${doc.scrollWidth} > ${doc.clientWidth}`);
  document.querySelectorAll('.card, .kpi, header.top, main').forEach((card, i) => {
    if (card.scrollWidth > card.clientWidth + 1) {
      const what = card.querySelector('h1, h2, h3');
      const name = card.getAttribute('data-testid') || card.id || (what && what.textContent.trim());
      let wide = '';
      card.querySelectorAll('*').forEach(el => {
        const r = el.getBoundingClientRect(), c = card.getBoundingClientRect();
        if (!wide && r.right > c.right + 1 && !el.closest('.table-wrap, .scroll'))
          wide = `${el.tagName.toLowerCase()}.${el.className}`;
      });
      out.push(`${card.tagName.toLowerCase()}.${card.className} "${name}" `
        + `${card.scrollWidth} > ${card.clientWidth} (first spilling: ${wide})`);
    }
  });
  // a chart's words inside its drawing: an SVG cuts off what falls outside its box unseen
  document.querySelectorAll('svg.chart').forEach(svg => {
    const box = svg.getBoundingClientRect();
    svg.querySelectorAll('text').forEach(t => {
      const r = t.getBoundingClientRect();
      if (r.width && (r.left < box.left - 1 || r.right > box.right + 1))
        out.push(`chart text cut off: "${t.textContent}" (${Math.round(r.left)}..`
          + `${Math.round(r.right)} outside ${Math.round(box.left)}..${Math.round(box.right)})`);
    });
  });
  return out;
}"""


def _pattern(url: str) -> str:
    parts = urlsplit(url)
    path = re.sub(r"/\d+", "/{n}", parts.path)
    keys = sorted({k for k, _ in parse_qsl(parts.query)} - {"done"})
    return path + ("?" + "&".join(keys) if keys else "")


def _internal(base: str, href: str | None) -> str | None:
    if not href or href.startswith(("#", "mailto:", "tel:", "javascript:")):
        return None
    if href.startswith(base):
        href = href[len(base) :]
    if not href.startswith("/") or href.startswith("//"):
        return None
    if href.startswith(("/lang/", "/static/", "/logout", "/api/", "/b/", "/unsubscribe/")):
        return None
    if "/recordings/" in href or href.split("?")[0].endswith(
        (".wav", ".mp3", ".ogg", ".csv", ".pdf", ".xlsx")
    ):
        return None
    return href


def sign_in(page: Any, base: str, username: str, lang: str) -> None:
    page.goto(f"{base}/lang/{lang}?back=/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


PageCheck = Callable[[Any, Visit], None]


def crawl(
    site: Site,
    chromium: Any,
    *,
    suite: str,
    langs: tuple[str, ...] = LANGS,
    width: int = 1280,
    check: PageCheck,
) -> Crawl:
    """Visit every page as every role in every language at `width`, calling `check` on each
    (after a screenshot in test-artifacts/e2e/<suite>/)."""
    base = site.served.base
    done = Crawl()
    out = ARTIFACTS / suite
    out.mkdir(parents=True, exist_ok=True)
    for lang in langs:  # this run's screenshots replace the last run's, none left over
        for old in out.glob(f"{lang}-{width}-*.png"):
            old.unlink()

    def look(page: Any, role: str, lang: str, name: str, status: int) -> None:
        visit = Visit(role, lang, page.url.removeprefix(base), name, status)
        save_screenshot(page, out / f"{lang}-{width}-{name}.png")
        done.visits.append(visit)
        check(page, visit)

    for lang in langs:
        locale = "zh-CN" if lang == "zh" else "en-GB"
        for role in ROLES:
            context = chromium.new_context(locale=locale, viewport={"width": width, "height": 900})
            page = context.new_page()
            sign_in(page, base, role, lang)
            home = page.url.removeprefix(base)
            seen: dict[str, int] = {}
            todo = [home]
            if page.locator("[data-testid=next-case]").count():  # the queue's way into a case
                page.click("[data-testid=next-case]")
                page.wait_for_load_state()
                todo.append(page.url.removeprefix(base))
            visited: set[str] = set()
            n = 0
            while todo and n < MAX_PAGES:
                url = todo.pop(0)
                if url in visited:
                    continue
                shape = _pattern(url)
                if seen.get(shape, 0) >= PER_PATTERN:
                    continue
                visited.add(url)
                seen[shape] = seen.get(shape, 0) + 1
                response = page.goto(base + url)
                n += 1
                slug = re.sub(r"[^a-z0-9]+", "-", url.lower()).strip("-")[:50] or "home"
                look(page, role, lang, f"{role}-{n:02d}-{slug}", response.status if response else 0)
                for href in page.eval_on_selector_all(
                    "a[href]", "els => els.map(e => e.getAttribute('href'))"
                ):
                    nxt = _internal(base, href)
                    if nxt and nxt not in visited:
                        todo.append(nxt)
                if re.fullmatch(r"/cases/\d+", url) and seen[shape] == 1:
                    _case_extras(page, look, role, lang, base)
            # the error pages, in the role's language
            for path, name in (
                ("/no-such-page", "error-404"),
                ("/cases/999999999", "error-case"),
                ("/admin/users" if role != "admin" else "/agent", "error-403"),
                ("/agent?empty=many", "error-422"),
            ):
                response = page.goto(base + path)
                look(page, role, lang, f"{role}-{name}", response.status if response else 0)
            context.close()

        # the borrower's page through the link of a message, and the unsubscribe page
        for w, tag in ((width, ""), (390, "-phone")):
            context = chromium.new_context(locale=locale, viewport={"width": w, "height": 844})
            page = context.new_page()
            page.goto(f"{base}/lang/{lang}?back=/login")  # the language the borrower chose
            page.goto(f"{base}{site.borrower_link}")
            look(page, "borrower", lang, f"borrower-verify{tag}", 200)
            sent = len(site.served.sms)
            page.click("[data-testid=send-code]")
            page.wait_for_selector("[data-testid=code-sent]")
            code = re.search(r"\d{6}", site.served.sms[sent][1])
            if code:
                page.fill("[data-testid=code]", code.group(0))
                page.click("[data-testid=verify]")
                page.wait_for_load_state()
                look(page, "borrower", lang, f"borrower-home{tag}", 200)
            page.goto(f"{base}{site.unsubscribe_url}")
            look(page, "borrower", lang, f"unsubscribe{tag}", 200)
            context.close()
    return done


def _case_extras(page: Any, look: Callable[..., None], role: str, lang: str, base: str) -> None:
    """On a case page: the plan calculator's preview, then a call screen if one is offered."""
    case_url = page.url
    if page.locator("[data-testid=plan-instalments]").count():
        page.fill("[data-testid=plan-instalments]", "9")
        preview = page.locator("[data-testid=plan-preview] table, [data-testid=plan-preview] p")
        with contextlib.suppress(Exception):  # no preview: the crawl still reads the rest
            preview.first.wait_for(timeout=5000)
        look(page, role, lang, f"{role}-plan-preview", 200)
    calls = page.eval_on_selector_all(
        "a[href*='/call/']", "els => els.map(e => e.getAttribute('href'))"
    )
    if calls:
        response = page.goto(base + calls[0])
        look(page, role, lang, f"{role}-call-screen", response.status if response else 0)
    page.goto(case_url)
