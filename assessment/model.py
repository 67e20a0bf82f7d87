"""Immutable domain objects shared by the engine: questionnaire, policy, answers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

# Who is best placed to answer a question. The one home of these labels: every page, sheet or CLI line
# that shows a respondent takes its label from here.
RESPONDENTS: dict[str, str] = {
    "unit_head": "Unit head",
    "service_owner": "IT service owner",
    "continuity_office": "Continuity (BCM) office",
    "audit": "Audit",
}
DEFAULT_RESPONDENT = "unit_head"
DEFAULT_COMPLIANCE_LEVEL = 3

# The tag lists a question may carry, in display order: top-level list key -> heading.
TAG_KINDS: dict[str, str] = {
    "checklist": "Checklist items",
    "objectives": "Objectives",
    "practices": "Best practices",
    "building_blocks": "Building blocks",
}


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
    # Level N requires every criterion of levels 1..N-1 (stated in the scale text when true).
    cumulative: bool = False
    # The level counted as "compliant" with a cited clause in the standards view.
    compliance_level: int = DEFAULT_COMPLIANCE_LEVEL


@dataclass(frozen=True)
class Reference:
    standard: str
    clause: str


@dataclass(frozen=True)
class ChecklistItem:
    """An item of a tag list (checklist, objectives, practices, building blocks): id and text."""

    id: str
    text: str


TagItem = ChecklistItem


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
    respondent: str = DEFAULT_RESPONDENT
    objectives: tuple[str, ...] = ()
    practices: tuple[str, ...] = ()
    building_blocks: tuple[str, ...] = ()

    @property
    def respondent_label(self) -> str:
        return RESPONDENTS.get(self.respondent, self.respondent)

    def tags(self, kind: str) -> tuple[str, ...]:
        """The ids this question carries for one of TAG_KINDS."""
        if kind not in TAG_KINDS:
            raise KeyError(f"unknown tag kind {kind!r} (known: {', '.join(TAG_KINDS)})")
        return getattr(self, kind)


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
    objectives: tuple[TagItem, ...] = ()
    practices: tuple[TagItem, ...] = ()
    building_blocks: tuple[TagItem, ...] = ()

    def tag_items(self, kind: str) -> tuple[TagItem, ...]:
        """The top-level list for one of TAG_KINDS (empty when this version defines none)."""
        if kind not in TAG_KINDS:
            raise KeyError(f"unknown tag kind {kind!r} (known: {', '.join(TAG_KINDS)})")
        return getattr(self, kind)

    @property
    def questions(self) -> tuple[Question, ...]:
        return tuple(q for d in self.domains for q in d.questions)

    def question(self, question_id: str) -> Question:
        """The question with this id; KeyError names it when the questionnaire has none."""
        for x in self.questions:
            if x.id == question_id:
                return x
        raise KeyError(f"{self.id}@{self.version} has no question {question_id!r}")

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
