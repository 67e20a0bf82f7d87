"""Immutable domain objects shared by the engine: questionnaire, policy, answers, continuity records."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TypedDict

import polars as pl

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


# Continuity records (services, exercises, incidents). The recovery tier of a service is a product constant,
# not questionnaire data: the service register outlives questionnaire versions, and a service keeps its tier
# when a new cycle moves to a newer version. What each tier must do (how often it is tested) is policy data
# in the questionnaire (Policy.recovery_testing). Tier 1 is the most critical.
RECOVERY_TIERS: dict[int, str] = {
    1: "Tier 1 - mission critical",
    2: "Tier 2 - business critical",
    3: "Tier 3 - business operational",
    4: "Tier 4 - administrative",
}
TOP_RECOVERY_TIER = min(RECOVERY_TIERS)
EXERCISE_TYPES: dict[str, str] = {
    "walkthrough": "Walkthrough",
    "tabletop": "Tabletop",
    "restore_test": "Restore test",
    "failover": "Failover/switchover",
    "full_interruption": "Full interruption",
}
# Links a record or an answer may carry (reports, ITSM tickets, evidence): the one list of accepted schemes.
LINK_PREFIXES: tuple[str, ...] = ("http://", "https://", "file://", "\\\\")
SEVERITIES: dict[str, str] = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low"}
# What a service may depend on: another service, a supplier or a site.
DEPENDENCY_KINDS: tuple[str, ...] = ("service", "supplier", "site")
# The checks a record rule can make (questionnaires/FORMAT.md, "Record rules").
RULE_CHECKS: dict[str, str] = {
    "exercise_passed": "the latest exercise result of the given types within the window passed, for every "
                       "service in scope",
    "objectives_approved": "every service in scope has an approved RTO (and an RPO where it holds data)",
    "postmortem_done": "every incident over RTO within the window on a service in scope has its post-mortem done",
}
# Which services of a unit a record rule looks at: the unit's highest (most critical) recovery tier, or all.
RULE_SERVICES: tuple[str, ...] = ("top_tier", "all")


@dataclass(frozen=True)
class RecordRule:
    """Scoring policy checked against the continuity records: an answer of `min_level` or more to `question_id`
    is capped at `cap_level` unless the records bear it out (see RULE_CHECKS)."""

    question_id: str
    check: str
    services: str | tuple[int, ...]          # "top_tier", "all", or explicit recovery tiers
    min_level: int
    cap_level: int
    window_months: int | None = None         # records older than this (before the as-of date) do not count
    exercise_types: tuple[str, ...] = ()     # exercise_passed only: the types that count as proof


@dataclass(frozen=True)
class RecoveryTest:
    """How often a service of one recovery tier must be exercised, and which exercise types count."""

    tier: int
    every_months: int
    exercise_types: tuple[str, ...]


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
    # Answers checked against the continuity records, and the test frequency per recovery tier.
    record_rules: tuple[RecordRule, ...] = ()
    recovery_testing: tuple[RecoveryTest, ...] = ()


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


@dataclass(frozen=True)
class Dependency:
    """What a service needs to run: another service, a supplier or a site (DEPENDENCY_KINDS).

    `accepted_inversion` records a formally accepted RTO inversion over this dependency (why the longer RTO
    of what it depends on is tolerable, and who accepted it): the register then lets it stand and the
    recovery views list it as an accepted risk instead of refusing the service."""

    kind: str
    target_id: str
    note: str = ""
    accepted_inversion: str = ""


@dataclass(frozen=True)
class Service:
    """A service in the register (BIA-lite): recovery objectives in whole minutes (durations.py reads and
    prints them); `owner` is the user name (login) of the person responsible."""

    service_id: str
    name: str
    unit_id: str
    owner: str
    recovery_tier: int
    activity: str = ""
    mtpd_minutes: int | None = None
    rto_minutes: int | None = None
    rpo_minutes: int | None = None
    holds_data: bool = True
    min_service_level: str = ""
    approved_by: str = ""
    approved_on: date | None = None
    next_review: date | None = None
    dependencies: tuple[Dependency, ...] = ()


@dataclass(frozen=True)
class ExerciseResult:
    """What one service achieved in an exercise; pass or fail is computed when it is recorded."""

    service_id: str
    achieved_recovery_minutes: int | None = None
    achieved_data_loss_minutes: int | None = None
    findings: str = ""


@dataclass(frozen=True)
class Exercise:
    """A continuity exercise or test (EXERCISE_TYPES) with a result per service in scope."""

    exercise_date: date
    exercise_type: str
    title: str
    results: tuple[ExerciseResult, ...]
    scenario: str = ""
    participants: str = ""
    supplier_ids: tuple[str, ...] = ()
    objectives: str = ""
    objectives_met: bool | None = None
    report_url: str = ""


@dataclass(frozen=True)
class AffectedService:
    """A service hit by an incident; the outage defaults to the incident's duration."""

    service_id: str
    outage_minutes: int | None = None
    data_loss_minutes: int | None = None


@dataclass(frozen=True)
class Incident:
    """A major incident or plan invocation, linked to its ITSM ticket rather than rebuilt here."""

    title: str
    severity: str
    started_at: datetime
    services: tuple[AffectedService, ...]
    ended_at: datetime | None = None
    plan_invoked: bool = False
    postmortem_due: date | None = None
    postmortem_done: date | None = None
    report_url: str = ""
    ticket_url: str = ""


# Facts from the continuity records that the record rules read, for the units being scored (storage/recovery.py
# reads them as of each unit's as_of date). Column names and types are the contract between storage and
# scoring; empty() gives frames with these schemas.
FACT_SCHEMAS: dict[str, pl.Schema] = {
    # The unit's active services, in the version valid at the unit's as_of date.
    "services": pl.Schema({"unit_id": pl.String, "service_id": pl.String, "name": pl.String, "recovery_tier": pl.Int64,
                 "rto_minutes": pl.Int64, "rpo_minutes": pl.Int64, "holds_data": pl.Boolean,
                 "approved_on": pl.Date}),
    # Exercise results of those services (withdrawn exercises left out), judged when recorded.
    "results": pl.Schema({"service_id": pl.String, "exercise_id": pl.String, "exercise_date": pl.Date,
                "exercise_type": pl.String, "achieved_recovery_minutes": pl.Int64,
                "achieved_data_loss_minutes": pl.Int64, "rto_minutes": pl.Int64, "rpo_minutes": pl.Int64,
                "recovery_met": pl.Boolean, "data_met": pl.Boolean, "passed": pl.Boolean}),
    # Incidents on those services, with the outage judged against the RTO valid when they started.
    "incidents": pl.Schema({"service_id": pl.String, "incident_id": pl.String, "started_on": pl.Date,
                  "outage_minutes": pl.Int64, "rto_minutes": pl.Int64, "over_rto": pl.Boolean,
                  "postmortem_due": pl.Date, "postmortem_done": pl.Date}),
}


@dataclass(frozen=True)
class RecordFacts:
    """The continuity records a set of units is scored against (see FACT_SCHEMAS)."""

    services: pl.DataFrame
    results: pl.DataFrame
    incidents: pl.DataFrame

    @staticmethod
    def empty() -> RecordFacts:
        return RecordFacts(*(pl.DataFrame(schema=FACT_SCHEMAS[k]) for k in ("services", "results", "incidents")))


# Workflow states of an assessment, in one place: the engine, SQL (storage/_sql.py) and pages use these.
DRAFT, SUBMITTED, APPROVED, RETURNED = "draft", "submitted", "approved", "returned"
EDITABLE: tuple[str, ...] = (DRAFT, RETURNED)    # answers may change
SCORED: tuple[str, ...] = (SUBMITTED, APPROVED)  # scores are persisted and count in every report
MIN_LEVEL, MAX_LEVEL = 0, 5                      # the maturity scale (questionnaire.py checks six levels)
LEVELS: tuple[int, ...] = tuple(range(MIN_LEVEL, MAX_LEVEL + 1))

# Question score statuses. A cap by the evidence rule is "capped"; when a record rule lowers the score it is
# "capped_records" (the explanation then also says whether the evidence rule applied). Both count as answered.
ANSWERED, CAPPED, CAPPED_RECORDS, NA, MISSING = "answered", "capped", "capped_records", "na", "missing"
CAPPED_STATUSES: tuple[str, ...] = (CAPPED, CAPPED_RECORDS)


class Summary(TypedDict):
    """The headline figures of a cycle for a selection of units (reports.summary)."""

    score: float | None
    target: float | None
    gap: float | None
    units_scored: int
    units_at_target: int
    expected: int
    submitted: int
    overdue_reviews: int
    units: int


class UnitScore(TypedDict):
    """One unit's persisted score, as submitting an assessment returns it (workflow.submit)."""

    unit_id: str
    division_id: str
    tier: int
    score: float | None
    target: float
    gap: float | None
    rollup_weight: float
    weakest_domain: str | None
    weakest_score: float | None
    band: str | None
    answered: int
    na: int
    capped: int
    policy: str
    as_of: date
