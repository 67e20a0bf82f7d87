"""Immutable domain objects shared by the engine: questionnaire, policy, answers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date


@dataclass(frozen=True)
class Level:
    level: int
    name: str
    description: str


@dataclass(frozen=True)
class Band:
    name: str
    min: float
    max: float


@dataclass(frozen=True)
class Tier:
    tier: int
    name: str
    target: float
    factor: float


@dataclass(frozen=True)
class EvidenceRule:
    min_level: int
    max_age_months: int
    cap_level: int


@dataclass(frozen=True)
class Rollup:
    question_to_domain: str = "weighted_mean"
    domain_to_unit: str = "weighted_mean"
    unit_to_division: str = "mean"
    unit_to_organisation: str = "mean"


@dataclass(frozen=True)
class Policy:
    na_reason_required: bool
    evidence_rule: EvidenceRule
    tiers: tuple[Tier, ...]
    rollup: Rollup


@dataclass(frozen=True)
class Reference:
    standard: str
    clause: str


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    text: str


@dataclass(frozen=True)
class Question:
    id: str
    domain_id: str
    text: str
    guidance: str
    checklist: tuple[str, ...]
    weight: float
    evidence: str
    na_allowed: bool
    levels: tuple[str, ...]
    references: tuple[Reference, ...]


@dataclass(frozen=True)
class Domain:
    id: str
    name: str
    weight: float
    description: str
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Questionnaire:
    id: str
    version: str
    title: str
    description: str
    scale: tuple[Level, ...]
    bands: tuple[Band, ...]
    policy: Policy
    checklist: tuple[ChecklistItem, ...]
    domains: tuple[Domain, ...]
    content_hash: str
    source: str = field(repr=False, default="")
    standards: dict = field(repr=False, default_factory=dict, compare=False, hash=False)

    @property
    def questions(self) -> tuple[Question, ...]:
        return tuple(q for d in self.domains for q in d.questions)

    @property
    def policy_label(self) -> str:
        return f"{self.id}@{self.version} ({self.content_hash[:12]})"


@dataclass(frozen=True)
class Answer:
    """One answer as a department head gives it: a level 0-5 with evidence, or N/A with a reason."""

    question_id: str
    level: int | None = None
    is_na: bool = False
    na_reason: str = ""
    evidence: str = ""
    evidence_url: str = ""
    evidence_date: date | None = None
    comment: str = ""


@dataclass(frozen=True)
class Actor:
    """Who performs an engine operation: checked by access.py on every call."""

    username: str
    role: str
    units: frozenset[str] = frozenset()
    can_import: bool = False
    source: str = "cli"
    # Hash of the sign-in session this actor was resolved from (pages); None for the CLI and system jobs.
    # Every engine write re-checks that session and the user's rights in its own transaction (audit.record).
    session: str | None = field(default=None, compare=False)

    def with_source(self, source: str) -> Actor:
        return replace(self, source=source)


# Workflow states of an assessment, in one place: the engine, SQL (storage/_sql.py) and pages use these.
DRAFT, SUBMITTED, APPROVED, RETURNED = "draft", "submitted", "approved", "returned"
EDITABLE: tuple[str, ...] = (DRAFT, RETURNED)    # answers may change
SCORED: tuple[str, ...] = (SUBMITTED, APPROVED)  # scores are persisted and count in every report
MIN_LEVEL, MAX_LEVEL = 0, 5                      # the maturity scale (questionnaire.py checks six levels)
LEVELS: tuple[int, ...] = tuple(range(MIN_LEVEL, MAX_LEVEL + 1))
