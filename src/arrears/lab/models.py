"""Score models in production: deploy a trained model (maker), approve it from a business date
(checker, a second person), roll it back; every step audited — as strategies are deployed.

A deploy stores the model's bytes, SHA-256 and card in the database (`lab_model_versions`), so
what scores a night is what was approved, whatever happens to the models directory since; the
bytes are checked against the hash again each time they are loaded. Versions are numbered 1,
2, … over both scores. Per score, the latest approval in force on a business date is the model
the nightly batch (and `arrears lab score`) scores with; a deploy of the same model again
returns the version it already has (re-runs are safe).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from arrears.domain.errors import DomainError
from arrears.engine.run_day import last_business_date
from arrears.lab.scores import ModelTampered, Score, TrainedScore
from arrears.lab.scoring import ScoredBatch, score_open_cases
from arrears.privacy import audit
from arrears.privacy.keyring import KeyRing
from arrears.services.nightly import StepResult
from arrears.services.users import Permission, find_user
from arrears.store.tables_lab import lab_model_versions
from arrears.strategy.deployed import approval_in_force


class ModelStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    ROLLED_BACK = "rolled_back"


class ModelUserRefused(DomainError):
    pass


class ModelFileInvalid(DomainError):
    pass


class ModelVersionUnknown(DomainError):
    pass


class ModelNotPending(DomainError):
    pass


class ModelApproverIsAuthor(DomainError):
    pass


class ModelStartInvalid(DomainError):
    pass


class ModelNotInForce(DomainError):
    pass


class ModelNotApproved(DomainError):
    pass


ERRORS = (
    ModelUserRefused,
    ModelFileInvalid,
    ModelVersionUnknown,
    ModelNotPending,
    ModelApproverIsAuthor,
    ModelStartInvalid,
    ModelNotInForce,
    ModelNotApproved,
    ModelTampered,
)

DEPLOY_HINT = "arrears lab model deploy MODEL_FILE --by USER"


@dataclass(frozen=True)
class DeployedModel:
    id: int
    version: int
    score: Score
    model: str  # the trained version, <score>-<sha256 head>
    sha256: str
    status: ModelStatus
    deployed_by: str
    deployed_at: datetime
    card: dict[str, Any]
    approved_by: str | None = None
    approval_seq: int | None = None
    active_from: date | None = None
    retired_from: date | None = None
    retired_by: str | None = None

    def in_force(self, on: date) -> bool:
        return approval_in_force(self.approval_seq, self.active_from, self.retired_from, on)

    def line(self) -> str:
        """One line for the terminal: version, score, model, status, who and from when."""
        approved = ""
        if self.approved_by:
            approved = f", approved by {self.approved_by} from {self.active_from}"
        retired = ""
        if self.retired_from:
            retired = f" until {self.retired_from} (rolled back by {self.retired_by})"
        return (
            f"v{self.version}  {self.score}  {self.model}  {self.status.value}  "
            f"deployed by {self.deployed_by}{approved}{retired}"
        )


_COLUMNS = [c for c in lab_model_versions.c if c.name != "blob"]


def _day(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def versions(conn: Connection) -> list[DeployedModel]:
    """Every deployed model version, in the order deployed."""
    rows = conn.execute(select(*_COLUMNS).order_by(lab_model_versions.c.version)).mappings()
    return [
        DeployedModel(
            id=int(r["id"]),
            version=int(r["version"]),
            score=Score(r["score"]),
            model=r["model"],
            sha256=r["sha256"],
            status=ModelStatus(r["status"]),
            deployed_by=r["deployed_by"],
            deployed_at=r["deployed_at"],
            card=json.loads(r["card"]),
            approved_by=r["approved_by"],
            approval_seq=r["approval_seq"],
            active_from=_day(r["active_from"]),
            retired_from=_day(r["retired_from"]),
            retired_by=r["retired_by"],
        )
        for r in rows
    ]


def get_version(conn: Connection, version: int) -> DeployedModel:
    found = [m for m in versions(conn) if m.version == version]
    if not found:
        raise ModelVersionUnknown(
            f"no deployed model version {version}; list them with `arrears lab model list`"
        )
    return found[0]


def in_force(conn: Connection, score: Score, on: date) -> DeployedModel | None:
    """The approved model of the score in force on the date (the latest approval wins)."""
    live = [m for m in versions(conn) if m.score is score and m.in_force(on)]
    return max(live, key=lambda m: m.approval_seq or 0, default=None)


def _require(conn: Connection, username: str, permission: Permission, what: str) -> None:
    user = find_user(conn, username)
    if user is None or not user.active:
        raise ModelUserRefused(f"no active user {username!r}; add one (arrears users add)")
    if not user.can(permission):
        raise ModelUserRefused(f"user {username!r} ({user.role}) may not {what}; a strategist may")


def _audit(
    conn: Connection, ring: KeyRing, by: str, m: DeployedModel, detail: dict[str, Any], at: datetime
) -> None:
    audit.append(
        conn,
        ring,
        actor=by,
        kind=audit.AuditKind.STRATEGY,  # the lender's policy, deployed with maker–checker
        subject=f"score-model:{m.score}:v{m.version}",
        detail={"model": m.model, "sha256": m.sha256, **detail},
        at=at,
    )


def read_model_file(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The bytes of a stored model and its card (`<version>.json` beside it), checked."""
    card_path = path.with_suffix(".json")
    try:
        blob = path.read_bytes()
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelFileInvalid(
            f"cannot read the model {path} and its card {card_path.name}: {exc.strerror}; "
            "give a .pkl written by `arrears lab train-score`"
        ) from None
    except ValueError:
        raise ModelFileInvalid(f"the card {card_path} is not JSON; train the model again") from None
    if not isinstance(card, dict) or card.get("score") not in set(Score):
        raise ModelFileInvalid(
            f"the card {card_path} names no score ({', '.join(Score)}); train the model again"
        )
    if hashlib.sha256(blob).hexdigest() != card.get("sha256"):
        raise ModelTampered(f"{path} does not match the hash in its card; retrain or restore it")
    return blob, card


def deploy(
    conn: Connection, ring: KeyRing, *, blob: bytes, card: dict[str, Any], by: str, at: datetime
) -> DeployedModel:
    """Store a trained model as a pending version; the same model again is a no-op."""
    _require(conn, by, Permission.DEPLOY_STRATEGIES, "deploy score models")
    digest = hashlib.sha256(blob).hexdigest()
    same = [m for m in versions(conn) if m.sha256 == digest]
    if same:
        return same[-1]
    number = (conn.scalar(select(func.max(lab_model_versions.c.version))) or 0) + 1
    conn.execute(
        insert(lab_model_versions).values(
            version=number,
            score=str(card["score"]),
            model=str(card.get("version") or f"{card['score']}-{digest[:12]}"),
            sha256=digest,
            blob=blob,
            card=json.dumps(card, ensure_ascii=False),
            status=ModelStatus.PENDING.value,
            deployed_by=by,
            deployed_at=at,
        )
    )
    deployed = get_version(conn, number)
    _audit(conn, ring, by, deployed, {"action": "deploy"}, at)
    return deployed


def next_business_date(conn: Connection) -> date | None:
    """The first business date the daily run has not run (None: it never ran)."""
    last = last_business_date(conn)
    return None if last is None else date.fromordinal(last.toordinal() + 1)


def _check_start(conn: Connection, active_from: date) -> None:
    first = next_business_date(conn)
    if first is not None and active_from < first:
        raise ModelStartInvalid(
            f"the daily run has already run {date.fromordinal(first.toordinal() - 1)}; "
            f"approve from a later business date (--from {first} or after)"
        )


def approve(
    conn: Connection, ring: KeyRing, *, version: int, by: str, active_from: date, at: datetime
) -> DeployedModel:
    """A second person puts a pending model version in force from a business date."""
    _require(conn, by, Permission.APPROVE_STRATEGIES, "approve score models")
    m = get_version(conn, version)
    if m.status is not ModelStatus.PENDING:
        raise ModelNotPending(
            f"model version {version} is {m.status.value}, not pending; deploy a new model "
            "to change it"
        )
    if by == m.deployed_by:
        raise ModelApproverIsAuthor(
            f"{by!r} deployed model version {version} and may not approve it too; a second "
            "person approves (maker–checker)"
        )
    _check_start(conn, active_from)
    seq = (conn.scalar(select(func.max(lab_model_versions.c.approval_seq))) or 0) + 1
    conn.execute(
        update(lab_model_versions)
        .where(lab_model_versions.c.id == m.id)
        .values(
            status=ModelStatus.APPROVED.value,
            approved_by=by,
            approved_at=at,
            approval_seq=seq,
            active_from=active_from,
        )
    )
    approved = get_version(conn, version)
    _audit(conn, ring, by, approved, {"action": "approve", "from": active_from.isoformat()}, at)
    return approved


@dataclass(frozen=True)
class ModelRollback:
    retired: DeployedModel
    now_in_force: DeployedModel | None


def rollback(
    conn: Connection, ring: KeyRing, *, score: Score, by: str, from_: date, at: datetime
) -> ModelRollback:
    """Retire the score's model in force (or approved to start later) from a business date:
    the model approved before it scores again (none: the score is not written)."""
    _require(conn, by, Permission.DEPLOY_STRATEGIES, "roll score models back")
    live = [
        m
        for m in versions(conn)
        if m.score is score
        and (
            m.in_force(from_)
            or (m.status is ModelStatus.APPROVED and (m.active_from or from_) > from_)
        )
    ]
    if not live:
        raise ModelNotInForce(
            f"no approved {score} model is in force on {from_}; see `arrears lab model list`"
        )
    _check_start(conn, from_)
    retired = max(live, key=lambda m: m.approval_seq or 0)
    conn.execute(
        update(lab_model_versions)
        .where(lab_model_versions.c.id == retired.id)
        .values(status=ModelStatus.ROLLED_BACK.value, retired_from=from_, retired_by=by)
    )
    retired = get_version(conn, retired.version)
    now = in_force(conn, score, from_)
    back_to = f"v{now.version} {now.model}" if now else "none"
    _audit(
        conn,
        ring,
        by,
        retired,
        {"action": "rollback", "from": from_.isoformat(), "to": back_to},
        at,
    )
    return ModelRollback(retired, now)


def load_deployed(conn: Connection, m: DeployedModel) -> TrainedScore:
    """The approved model's bytes, refused if they no longer match the hash approved."""
    blob = conn.scalar(select(lab_model_versions.c.blob).where(lab_model_versions.c.id == m.id))
    if blob is None or hashlib.sha256(bytes(blob)).hexdigest() != m.sha256:
        raise ModelTampered(
            f"model version {m.version} ({m.model}) no longer matches the hash it was approved "
            "with; deploy and approve it again"
        )
    trained = pickle.loads(bytes(blob))  # the bytes approved by their hash, stored by us
    if not isinstance(trained, TrainedScore) or trained.score is not m.score:
        raise ModelTampered(f"model version {m.version} does not hold a {m.score} model")
    return trained


def approved_models(conn: Connection, on: date) -> tuple[DeployedModel, DeployedModel] | None:
    """The p_pay_30 and p_self_cure models in force on the date; None when either is missing."""
    pay, cure = in_force(conn, Score.P_PAY_30, on), in_force(conn, Score.P_SELF_CURE, on)
    return None if pay is None or cure is None else (pay, cure)


def not_approved_message(conn: Connection, on: date) -> str:
    missing = [s.value for s in Score if in_force(conn, s, on) is None]
    return (
        f"no approved {' and no approved '.join(missing)} model in force on {on}; deploy one "
        f"({DEPLOY_HINT}) and have another user approve it "
        "(arrears lab model approve --version N --by USER --from DATE)"
    )


def score_with_approved(conn: Connection, on: date) -> ScoredBatch:
    """Score every open case as of the date with the approved models in force on it."""
    found = approved_models(conn, on)
    if found is None:
        raise ModelNotApproved(not_approved_message(conn, on))
    pay, cure = found
    return score_open_cases(
        conn, on, load_deployed(conn, pay), load_deployed(conn, cure), (pay.model, cure.model)
    )


def nightly_scorer(engine: Engine) -> Callable[[date], StepResult]:
    """The nightly run's score step: the day's batch with the approved models, in one
    transaction; skipped, with a note, when no model pair is approved for the date."""

    def score(on: date) -> StepResult:
        with engine.begin() as conn:
            if approved_models(conn, on) is None:
                why = not_approved_message(conn, on).split(";")[0]
                return StepResult(note=f"{why}: the day's plan reads no scores", skipped=True)
            batch = score_with_approved(conn, on)
        return StepResult(
            rows=batch.cases,
            note=f"{batch.cases} open cases scored with {batch.pay_model}, {batch.cure_model}",
        )

    return score
