"""Message templates: Jinja2 in a sandbox, per channel, audience and language; declared slots
checked when saved; versioned, and only approved versions are sent.

The packaged default set (`arrears/templates/<language>/<channel>/<name>.j2`, a YAML header
then the body) is version 0 of every template: it is used until a lender saves and approves a
version of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, func, insert, select, update

from arrears.compliance.rules.content import check_contact_template
from arrears.domain.outcomes import Target
from arrears.store.tables_comms import comm_templates

if TYPE_CHECKING:  # Jinja2 and YAML load when a template is parsed, checked or rendered
    from jinja2.sandbox import ImmutableSandboxedEnvironment

CHANNELS = ("sms", "email", "push", "letter", "voice", "call")
LANGUAGES = ("zh-CN", "en")


Audience = Target  # who a template addresses (one definition, in the domain)


# What a template may ask for. A contact learns nothing about the debt: only their own name, the
# borrower's first name (or title) and a number to call back.
CONTACT_SLOTS = frozenset({"contact_name", "borrower_first_name", "callback_number"})
BORROWER_SLOTS = frozenset(
    {
        "borrower_name",
        "borrower_first_name",
        "overdue_amount",
        "currency",
        "due_date",
        "dpd",
        "lender_name",
        "link",
        "callback_number",
        "instalment_amount",
        "instalment_due",
        "promise_amount",
        "promise_due",
        # the legal team's demand letter (services/legal.py)
        "balance",
        "deadline",
        "case_number",
    }
)
SLOTS = {Audience.BORROWER: BORROWER_SLOTS, Audience.CONTACT: CONTACT_SLOTS}


class TemplateProblemKind(StrEnum):
    SYNTAX = "syntax"
    SLOT_UNKNOWN = "slot_unknown"  # declared or used, but not a slot of this audience
    SLOT_UNDECLARED = "slot_undeclared"  # used in the text, not declared
    SLOT_MISSING = "slot_missing"  # declared, never used
    DISCLOSES_DEBT = "discloses_debt"  # contact template with debt wording (rule pack)
    CHANNEL_UNKNOWN = "channel_unknown"
    LANGUAGE_UNKNOWN = "language_unknown"


@dataclass(frozen=True)
class TemplateProblem:
    kind: TemplateProblemKind
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class TemplateInvalid(ValueError):
    def __init__(self, key: str, problems: list[TemplateProblem]) -> None:
        super().__init__(f"template {key} cannot be saved: " + "; ".join(map(str, problems)))
        self.problems = problems


class TemplateNotFound(LookupError):
    pass


class TemplateRenderFailed(ValueError):
    pass


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    channel: str
    language: str
    audience: Audience
    slots: tuple[str, ...]
    body: str
    subject: str | None = None
    html: str | None = None
    version: int = 0  # 0: the packaged default
    status: str = "approved"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.channel, self.language)

    @property
    def label(self) -> str:
        return f"{self.name}/{self.channel}/{self.language}@v{self.version}"


@dataclass(frozen=True)
class Rendered:
    body: str
    subject: str | None
    html: str | None
    version: int
    audience: Audience


@cache
def sandbox(*, html: bool = False) -> ImmutableSandboxedEnvironment:
    """The sandbox templates are parsed and rendered in (escaping HTML for a template's html
    part), made when first needed."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=html)


# --- the packaged default set -------------------------------------------------------------

_HEADER = re.compile(r"\A---\n(.*?)\n---\n(.*)\Z", re.S)


def parse_template_file(name: str, channel: str, language: str, text: str) -> TemplateSpec:
    match = _HEADER.match(text)
    if not match:
        raise TemplateInvalid(
            f"{name}/{channel}/{language}",
            [TemplateProblem(TemplateProblemKind.SYNTAX, "missing the '---' YAML header")],
        )
    import yaml

    head = yaml.safe_load(match.group(1)) or {}
    return TemplateSpec(
        name=name,
        channel=channel,
        language=language,
        audience=Audience(head.get("audience", "borrower")),
        slots=tuple(head.get("slots") or ()),
        body=match.group(2).rstrip("\n"),
        subject=head.get("subject"),
        html=head.get("html"),
    )


@cache
def packaged_templates() -> dict[tuple[str, str, str], TemplateSpec]:
    root = resources.files("arrears.templates")
    found: dict[tuple[str, str, str], TemplateSpec] = {}
    for lang_dir in root.iterdir():
        if not lang_dir.is_dir() or lang_dir.name.startswith(("_", ".")):
            continue
        for channel_dir in lang_dir.iterdir():
            if not channel_dir.is_dir():
                continue
            for item in channel_dir.iterdir():
                if item.name.endswith(".j2"):
                    spec = parse_template_file(
                        item.name[:-3], channel_dir.name, lang_dir.name, item.read_text("utf-8")
                    )
                    found[spec.key] = spec
    return found


# --- checks --------------------------------------------------------------------------------


def _used_slots(source: str | None, problems: list[TemplateProblem], part: str) -> set[str]:
    from jinja2 import TemplateSyntaxError, meta

    if not source:
        return set()
    try:
        return set(meta.find_undeclared_variables(sandbox().parse(source)))
    except TemplateSyntaxError as exc:
        problems.append(
            TemplateProblem(TemplateProblemKind.SYNTAX, f"{part} line {exc.lineno}: {exc.message}")
        )
        return set()


def contact_disclosures(text: str) -> list[str]:
    """Debt wording in a contact template: the rule pack's content check, the same one the gate
    runs on what a contact reads or hears."""
    return [v.message for v in check_contact_template(text)]


def check_template(spec: TemplateSpec) -> list[TemplateProblem]:
    """Every problem with a template, as values (empty: it may be saved)."""
    problems: list[TemplateProblem] = []
    if spec.channel not in CHANNELS:
        problems.append(
            TemplateProblem(
                TemplateProblemKind.CHANNEL_UNKNOWN,
                f"{spec.channel!r}; use one of {', '.join(CHANNELS)}",
            )
        )
    if spec.language not in LANGUAGES:
        problems.append(
            TemplateProblem(
                TemplateProblemKind.LANGUAGE_UNKNOWN,
                f"{spec.language!r}; use one of {', '.join(LANGUAGES)}",
            )
        )
    allowed = SLOTS[spec.audience]
    used = (
        _used_slots(spec.body, problems, "body")
        | _used_slots(spec.subject, problems, "subject")
        | _used_slots(spec.html, problems, "html")
    )
    declared = set(spec.slots)
    for slot in sorted((declared | used) - allowed):
        hint = (
            "a contact template may use only " + ", ".join(sorted(CONTACT_SLOTS))
            if spec.audience is Audience.CONTACT
            else "known slots: " + ", ".join(sorted(allowed))
        )
        problems.append(TemplateProblem(TemplateProblemKind.SLOT_UNKNOWN, f"{slot!r}; {hint}"))
    for slot in sorted((used - declared) & allowed):
        problems.append(
            TemplateProblem(
                TemplateProblemKind.SLOT_UNDECLARED, f"{slot!r} is used; add it to the slots"
            )
        )
    for slot in sorted((declared - used) & allowed):
        problems.append(
            TemplateProblem(
                TemplateProblemKind.SLOT_MISSING,
                f"{slot!r} is declared but the text never uses it; use it or remove it",
            )
        )
    if spec.audience is Audience.CONTACT:
        text = "\n".join(p for p in (spec.subject, spec.body, spec.html) if p)
        for finding in contact_disclosures(text):
            problems.append(TemplateProblem(TemplateProblemKind.DISCLOSES_DEBT, finding))
    return problems


# --- storage -------------------------------------------------------------------------------


def save_template(conn: Connection, spec: TemplateSpec, *, by: str, at: datetime) -> int:
    """Store a new draft version (checked first); returns its version number."""
    problems = check_template(spec)
    if problems:
        raise TemplateInvalid(f"{spec.name}/{spec.channel}/{spec.language}", problems)
    t = comm_templates
    latest = conn.execute(
        select(func.max(t.c.version)).where(
            t.c.name == spec.name, t.c.channel == spec.channel, t.c.language == spec.language
        )
    ).scalar()
    version = (latest or 0) + 1
    conn.execute(
        insert(t).values(
            name=spec.name,
            channel=spec.channel,
            language=spec.language,
            audience=spec.audience.value,
            version=version,
            subject=spec.subject,
            body=spec.body,
            html=spec.html,
            slots=json.dumps(list(spec.slots)),
            status="draft",
            created_at=at,
            created_by=by,
        )
    )
    return version


def approve_template(
    conn: Connection, name: str, channel: str, language: str, version: int, *, by: str, at: datetime
) -> None:
    """Approve a draft: from now on it is the version sent. A version is approved by someone
    other than its author (four eyes)."""
    t = comm_templates
    where = and_(
        t.c.name == name, t.c.channel == channel, t.c.language == language, t.c.version == version
    )
    row = conn.execute(select(t.c.status, t.c.created_by).where(where)).one_or_none()
    if row is None:
        raise TemplateNotFound(f"no version {version} of {name}/{channel}/{language}")
    if row.created_by and row.created_by == by:
        raise PermissionError(f"{by} wrote version {version}; another person must approve it")
    # re-check against today's rules (the rule pack may have changed since it was saved)
    spec = _spec_of(conn.execute(select(t).where(where)).one())
    problems = check_template(spec)
    if problems:
        raise TemplateInvalid(spec.label, problems)
    conn.execute(update(t).where(where).values(status="approved", approved_by=by, approved_at=at))


def _spec_of(row: Any) -> TemplateSpec:
    return TemplateSpec(
        name=row.name,
        channel=row.channel,
        language=row.language,
        audience=Audience(row.audience),
        slots=tuple(json.loads(row.slots)),
        body=row.body,
        subject=row.subject,
        html=row.html,
        version=row.version,
        status=row.status,
    )


def list_templates(conn: Connection) -> list[TemplateSpec]:
    """Every stored version plus the packaged defaults (version 0)."""
    stored = [
        _spec_of(r)
        for r in conn.execute(
            select(comm_templates).order_by(
                comm_templates.c.name,
                comm_templates.c.channel,
                comm_templates.c.language,
                comm_templates.c.version,
            )
        )
    ]
    return sorted([*packaged_templates().values(), *stored], key=lambda s: (*s.key, s.version))


def approved_templates(conn: Connection) -> dict[tuple[str, str, str], TemplateSpec]:
    """The version to send for every template: the latest approved one, else the default."""
    chosen = dict(packaged_templates())
    rows = conn.execute(
        select(comm_templates)
        .where(comm_templates.c.status == "approved")
        .order_by(comm_templates.c.version)
    )
    for row in rows:
        spec = _spec_of(row)
        chosen[spec.key] = spec
    return chosen


# --- rendering -------------------------------------------------------------------------------


@dataclass
class TemplateBook:
    """The approved templates, compiled once (the dispatcher builds one per run)."""

    specs: Mapping[tuple[str, str, str], TemplateSpec]
    _compiled: dict[tuple[str, str, str], tuple[Any, Any, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: Connection) -> TemplateBook:
        return cls(approved_templates(conn))

    def find(self, name: str, channel: str, language: str) -> TemplateSpec:
        spec = self.specs.get((name, channel, language))
        if spec is None and language != "zh-CN":
            spec = self.specs.get((name, channel, "zh-CN"))
        if spec is None:
            spec = self.specs.get((name, channel, "en"))
        if spec is None:
            raise TemplateNotFound(
                f"no approved template {name!r} for channel {channel!r} in {language}; "
                "add one with `arrears templates save` and approve it"
            )
        return spec

    def render(
        self, name: str, channel: str, language: str, context: Mapping[str, object]
    ) -> Rendered:
        spec = self.find(name, channel, language)
        compiled = self._compiled.get(spec.key)
        if compiled is None:
            env = sandbox()
            compiled = (
                env.from_string(spec.body),
                env.from_string(spec.subject) if spec.subject else None,
                sandbox(html=True).from_string(spec.html) if spec.html else None,
            )
            self._compiled[spec.key] = compiled
        body_t, subject_t, html_t = compiled
        # only the declared slots reach the template: a contact template never sees debt data
        values = {slot: context.get(slot) for slot in spec.slots}
        missing = [slot for slot, value in values.items() if value is None]
        if missing:
            raise TemplateRenderFailed(
                f"{spec.label}: no value for {', '.join(missing)} in this case"
            )
        try:
            body = body_t.render(values)
            subject = subject_t.render(values) if subject_t else None
            html = html_t.render(values) if html_t else None
        except Exception as exc:  # sandbox violations, filters on wrong types
            raise TemplateRenderFailed(f"{spec.label}: {exc}") from exc
        return Rendered(body, subject, html, spec.version, spec.audience)


def text_to_html(body: str, *, lang: str, footer: str | None = None) -> str:
    """A plain, accessible HTML alternative of a text body (paragraphs, links kept)."""
    from markupsafe import escape

    paragraphs = []
    for block in body.split("\n\n"):
        lines = [str(escape(line)) for line in block.split("\n")]
        html = "<br>".join(lines)
        html = re.sub(r"(https?://[^\s<]+)", r'<a href="\1">\1</a>', html)
        paragraphs.append(f"<p>{html}</p>")
    if footer:
        paragraphs.append(f'<p style="color:#666;font-size:12px">{footer}</p>')
    return (
        f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="utf-8"></head>'
        f'<body style="font-family:sans-serif;line-height:1.5">{"".join(paragraphs)}</body></html>'
    )


def spec_from_text(
    name: str, channel: str, language: str, text: str, **overrides: Any
) -> TemplateSpec:
    """A template from a file's text (YAML header + body), as `arrears templates save` reads it."""
    return replace(parse_template_file(name, channel, language, text), **overrides)


def first_name(full_name: str, language: str) -> str:
    """The borrower's given name: the part after the surname for Chinese names (two-character
    surnames included), the first word otherwise."""
    name = full_name.strip()
    if not name:
        return name
    if all(ord(ch) > 0x2E7F for ch in name):
        if len(name) >= 3 and name[:2] in _COMPOUND_SURNAMES:
            return name[2:]
        return name[1:] if len(name) > 1 else name
    return name.split()[0]


_COMPOUND_SURNAMES = frozenset(
    [
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "令狐",
        "慕容",
        "尉迟",
        "长孙",
        "夏侯",
        "司徒",
        "公孙",
        "端木",
        "独孤",
        "南宫",
    ]
)


LinkHook = Callable[[int, str], str]
