"""Engine operations on questionnaires and the organisation's business units."""

from __future__ import annotations

from functools import lru_cache

import polars as pl

from . import access, audit
from .errors import InvalidState, NotFound
from .model import Actor, Questionnaire
from .questionnaire import loads
from .reuse import reused
from .storage import Database
from .storage import campaigns as campaigns_sql
from .storage import catalog as catalog_sql


def register_questionnaire(db: Database, actor: Actor, q: Questionnaire) -> bool:
    """Store a questionnaire version; refuse a changed file that kept the same version number."""
    access.require(actor, "manage_questionnaires")

    def work(cur) -> bool:
        existing = catalog_sql.questionnaire_exists(cur, q.id, q.version)
        if existing == q.content_hash:
            return False
        if existing:
            raise InvalidState(
                f"questionnaire {q.id} version {q.version} is already stored with different content "
                f"(hash {existing[:12]}, this file {q.content_hash[:12]}): give the changed file a new version")
        catalog_sql.save_questionnaire(cur, q)
        audit.record(cur, actor, "questionnaire.register", "questionnaire", f"{q.id}@{q.version}",
                     after={"content_hash": q.content_hash,
                                                  "questions": len(q.questions)})
        return True

    return db.transaction(work)


@lru_cache(maxsize=32)
def _parse(source: str) -> Questionnaire:
    return loads(source, name="stored questionnaire", check_references=False)


def stored_questionnaire(source: str) -> Questionnaire:
    """A stored questionnaire's source, parsed (cached): for work inside a transaction that read the source."""
    return _parse(source)


_BY_HASH: dict[tuple[str, str, str], Questionnaire] = {}


def questionnaire_in(cur, qid: str, version: str, content_hash: str) -> Questionnaire:
    """A stored questionnaire inside the caller's transaction, parsed once per content hash: a stored version
    never changes (register_questionnaire refuses that), so its source is read only the first time."""
    key = (qid, version, content_hash)
    if (q := _BY_HASH.get(key)) is None:
        source = catalog_sql.questionnaire_source(cur, qid, version)
        if source is None:
            raise NotFound(f"questionnaire {qid} version {version} is not stored")
        q = _BY_HASH.setdefault(key, _parse(source))
    return q


@reused
def questionnaire(db: Database, qid: str, version: str) -> Questionnaire:
    with db.read() as cur:
        source = catalog_sql.questionnaire_source(cur, qid, version)
    if source is None:
        raise NotFound(f"questionnaire {qid} version {version} is not stored")
    return _parse(source)


def questionnaires(db: Database, actor: Actor) -> pl.DataFrame:
    """The registered questionnaire versions (questionnaire_id, version, title, questions, loaded_at)."""
    access.require(actor, "read")
    with db.read() as cur:
        return catalog_sql.questionnaires(cur)


def campaign_row(db: Database, campaign_id: str) -> dict | None:
    """A campaign's stored row (a copy); read once per build of a composite document (reuse.one_build)."""
    c = _campaign_row(db, campaign_id)
    return dict(c) if c is not None else None


@reused
def _campaign_row(db: Database, campaign_id: str) -> dict | None:
    with db.read() as cur:
        return campaigns_sql.campaign(cur, campaign_id)


@reused
def campaign_questionnaire(db: Database, campaign_id: str) -> Questionnaire:
    """The campaign's questionnaire: one lookup of its id, version and content hash, the source read and
    parsed only the first time that content is seen (questionnaire_in)."""
    with db.read() as cur:
        c = campaigns_sql.campaign_with_hash(cur, campaign_id)
        if c is None:
            raise NotFound(f"unknown campaign {campaign_id!r}")
        return questionnaire_of_campaign(cur, c)


def questionnaire_of_campaign(cur, campaign: dict) -> Questionnaire:
    """The questionnaire of a campaign row read by campaigns_sql.campaign_with_hash, inside the caller's
    transaction (NotFound when its version is not stored)."""
    qid, version = campaign["questionnaire_id"], campaign["questionnaire_version"]
    if campaign["content_hash"] is None:
        raise NotFound(f"questionnaire {qid} version {version} is not stored")
    return questionnaire_in(cur, qid, version, campaign["content_hash"])


def units(db: Database, actor: Actor, include_inactive: bool = False) -> pl.DataFrame:
    scope = access.readable_units(actor)
    with db.read() as cur:
        return catalog_sql.units(cur, list(scope) if scope is not None else None, include_inactive)


def unit(db: Database, actor: Actor, unit_id: str) -> dict:
    access.require(actor, "read", unit_id)
    with db.read() as cur:
        row = catalog_sql.unit(cur, unit_id)
    if row is None:
        raise NotFound(f"unknown business unit {unit_id!r}")
    return row


def divisions(db: Database, actor: Actor) -> pl.DataFrame:
    access.require(actor, "read")
    with db.read() as cur:
        return catalog_sql.divisions(cur)


def organisation_exists(db: Database) -> bool:
    with db.read() as cur:
        return catalog_sql.count_rows(cur, "business_units") > 0


def record_plan_review(db: Database, actor: Actor, unit_id: str, reviewed_on, interval_months: int | None = None):
    """Record that a unit's continuity plan was reviewed (and optionally change its interval)."""
    access.require(actor, "manage_units")
    fields = {"plan_last_reviewed": reviewed_on}
    if interval_months is not None:
        fields["review_interval_months"] = int(interval_months)

    def work(cur):
        before = catalog_sql.unit(cur, unit_id)
        if before is None:
            raise NotFound(f"unknown business unit {unit_id!r}")
        catalog_sql.update_unit(cur, unit_id, **fields)
        audit.record(cur, actor, "unit.plan_review", "unit", unit_id,
                     before={k: before[k] for k in fields}, after=fields)

    db.transaction(work)
