"""Campaign (assessment cycle) operations: create, copy from the previous cycle, dates, open and close."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import cast

import polars as pl

from . import access, audit, carry
from .catalog import campaign_row, register_questionnaire
from .clock import now
from .errors import InvalidState, NotFound, ValidationError
from .model import Actor, Questionnaire
from .storage import Database
from .storage import campaigns as campaigns_sql
from .storage import catalog as catalog_sql

STATUSES = ("planned", "open", "closed")
TRANSITIONS = {"planned": {"open"}, "open": {"closed"}, "closed": {"open"}}
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# The usual rhythm of cycles: one every half year, answers due after five or so weeks, closed a week later.
CYCLE_DAYS, DUE_AFTER_DAYS, CLOSES_AFTER_DAYS = 182, 38, 50


@dataclass(frozen=True)
class Proposal:
    """The next cycle as the Campaigns page proposes it; the manager may change every field."""

    campaign_id: str
    name: str
    opens_on: date
    due_on: date
    closes_on: date


def propose_next(previous: pl.DataFrame, today: date) -> Proposal:
    """The cycle after the existing ones (`previous`: campaign_id, opens_on, as list_campaigns gives).

    It opens half a year after the latest cycle opened, or today if that is later, and is named for its
    half year (2027-H1); an id already taken gets a suffix (2027-H1-2, -3, ...).
    """
    latest = cast("date | None", previous["opens_on"].max()) if previous.height else None
    opens = max(today, latest + timedelta(days=CYCLE_DAYS)) if latest is not None else today
    half = "H1" if opens.month <= 6 else "H2"
    base, taken = f"{opens.year}-{half}", set(previous["campaign_id"].to_list()) if previous.height else set()
    campaign_id, n = base, 2
    while campaign_id in taken:
        campaign_id, n = f"{base}-{n}", n + 1
    return Proposal(campaign_id, f"ITSCM self-assessment {opens.year} {half}", opens,
                    opens + timedelta(days=DUE_AFTER_DAYS), opens + timedelta(days=CLOSES_AFTER_DAYS))


@dataclass(frozen=True)
class UnitSelection:
    """Which units a new cycle covers: active units, narrowed to these divisions, tiers and unit ids (None =
    no narrowing, so all None = every active unit; an empty tuple narrows to nothing)."""

    division_ids: tuple[str, ...] | None = None
    tiers: tuple[int, ...] | None = None
    unit_ids: tuple[str, ...] | None = None


def select_units(db: Database, actor: Actor, selection: UnitSelection) -> list[str]:
    """The active unit ids a selection covers; every unknown or inactive id and an empty result at once."""
    access.require(actor, "manage_campaigns")
    with db.read() as cur:
        units = catalog_sql.units(cur, include_inactive=True)
        divisions = set(catalog_sql.divisions(cur)["division_id"].to_list())
    known = dict(zip(units["unit_id"].to_list(), units["active"].to_list()))
    problems = [f"division: unknown division {d!r}" for d in selection.division_ids or () if d not in divisions]
    problems += [f"units: unknown unit {u!r}" if u not in known else f"units: unit {u!r} is inactive"
                 for u in selection.unit_ids or () if not known.get(u)]
    chosen = units.filter(pl.col("active"))
    for column, values in (("division_id", selection.division_ids), ("tier", selection.tiers),
                           ("unit_id", selection.unit_ids)):
        if values is not None:
            chosen = chosen.filter(pl.col(column).is_in(list(values)))
    if not problems and chosen.height == 0:
        problems.append("units: the selection covers no active unit")
    if problems:
        raise ValidationError(problems, "unit selection")
    return sorted(chosen["unit_id"].to_list())


def list_campaigns(db: Database, actor: Actor) -> pl.DataFrame:
    access.require(actor, "read")
    with db.read() as cur:
        return campaigns_sql.campaigns(cur)


def get(db: Database, actor: Actor, campaign_id: str) -> dict:
    access.require(actor, "read")
    c = campaign_row(db, campaign_id)
    if c is None:
        raise NotFound(f"unknown campaign {campaign_id!r}")
    return c


def _check_dates(opens_on: date, due_on: date, closes_on: date) -> list[str]:
    problems = []
    if due_on < opens_on:
        problems.append(f"due_on: {due_on} is before opens_on {opens_on}")
    if closes_on < due_on:
        problems.append(f"closes_on: {closes_on} is before due_on {due_on}")
    return problems


def create(db: Database, actor: Actor, campaign_id: str, name: str, q: Questionnaire, opens_on: date,
           due_on: date, closes_on: date, unit_ids: list[str] | None = None, previous: str | None = None,
           status: str = "planned", selection: UnitSelection | None = None, carry_forward: bool = False) -> dict:
    """Create a cycle over the given units, or those of `selection` (default: every active unit), with a
    questionnaire it stores if needed; `carry_forward` starts each unit's draft from its last submitted
    answers (carry.carry_in)."""
    access.require(actor, "manage_campaigns")
    problems = _check_dates(opens_on, due_on, closes_on)
    if not ID_RE.match(campaign_id or ""):
        problems.append(f"campaign_id: use letters, digits, '.', '_' or '-', got {campaign_id!r}")
    if not name.strip():
        problems.append("name: a campaign needs a name")
    if status not in STATUSES:
        problems.append(f"status: expected one of {STATUSES}, got {status!r}")
    if problems:
        raise ValidationError(problems, "campaign")
    if selection is not None:
        unit_ids = select_units(db, actor, selection)
    register_questionnaire(db, actor, q)

    def work(cur) -> dict:
        after = create_in(cur, actor, campaign_id, name, q, opens_on, due_on, closes_on, unit_ids, previous, status)
        if carry_forward:
            ids = campaigns_sql.assessment_states(cur, campaign_id)["unit_id"].to_list()
            after = {**after, "carried": carry.carry_in(cur, actor, campaign_id, q, ids, opens_on)}
        return after

    return db.transaction(work)


def create_in(cur, actor: Actor, campaign_id: str, name: str, q: Questionnaire, opens_on: date, due_on: date,
              closes_on: date, unit_ids: list[str] | None = None, previous: str | None = None,
              status: str = "planned") -> dict:
    """The write of create() inside the caller's transaction (the demo builds its organisation in one): the
    questionnaire must be registered and the input checked by the caller (create does both)."""
    access.require(actor, "manage_campaigns")
    if campaigns_sql.campaign(cur, campaign_id):
        raise InvalidState(f"campaign {campaign_id!r} already exists")
    if previous and not campaigns_sql.campaign(cur, previous):
        raise NotFound(f"unknown previous campaign {previous!r}")
    ids = unit_ids if unit_ids is not None else catalog_sql.units(cur)["unit_id"].to_list()
    at = now()
    campaigns_sql.insert_campaign(cur, campaign_id, name.strip(), q.id, q.version, opens_on, due_on, closes_on,
                                  status, previous, at, actor.username)
    campaigns_sql.create_assessments(cur, campaign_id, ids, at)
    after = {"name": name, "questionnaire": f"{q.id}@{q.version}", "opens_on": opens_on, "due_on": due_on,
             "closes_on": closes_on, "status": status, "previous": previous, "units": len(ids)}
    audit.record(cur, actor, "campaign.create", "campaign", campaign_id, after=after)
    return after


def create_from_previous(db: Database, actor: Actor, previous_id: str, campaign_id: str, name: str,
                         opens_on: date, due_on: date, closes_on: date, q: Questionnaire | None = None,
                         carry_forward: bool = False) -> dict:
    """A new cycle with the previous cycle's questionnaire (or a newer one) and today's active units."""
    prev = get(db, actor, previous_id)
    if q is None:
        from .catalog import questionnaire

        q = questionnaire(db, prev["questionnaire_id"], prev["questionnaire_version"])
    return create(db, actor, campaign_id, name, q, opens_on, due_on, closes_on, previous=previous_id,
                  carry_forward=carry_forward)


def set_status(db: Database, actor: Actor, campaign_id: str, status: str) -> None:
    access.require(actor, "manage_campaigns")

    def work(cur) -> None:
        c = campaigns_sql.campaign(cur, campaign_id)
        if c is None:
            raise NotFound(f"unknown campaign {campaign_id!r}")
        if status not in TRANSITIONS.get(c["status"], set()):
            raise InvalidState(f"campaign {campaign_id} is {c['status']}; it cannot become {status}")
        campaigns_sql.update_campaign(cur, campaign_id, status=status)
        audit.record(cur, actor, f"campaign.{status}", "campaign", campaign_id,
                     before={"status": c["status"]}, after={"status": status})

    db.transaction(work)


def set_dates(db: Database, actor: Actor, campaign_id: str, opens_on: date, due_on: date, closes_on: date) -> None:
    access.require(actor, "manage_campaigns")
    problems = _check_dates(opens_on, due_on, closes_on)
    if problems:
        raise ValidationError(problems, f"campaign {campaign_id}")

    def work(cur) -> None:
        c = campaigns_sql.campaign(cur, campaign_id)
        if c is None:
            raise NotFound(f"unknown campaign {campaign_id!r}")
        new = {"opens_on": opens_on, "due_on": due_on, "closes_on": closes_on}
        campaigns_sql.update_campaign(cur, campaign_id, **new)
        audit.record(cur, actor, "campaign.dates", "campaign", campaign_id, before={k: c[k] for k in new}, after=new)

    db.transaction(work)


def assessments(db: Database, actor: Actor, campaign_id: str) -> pl.DataFrame:
    scope = access.readable_units(actor)
    with db.read() as cur:
        return campaigns_sql.assessments(cur, campaign_id, list(scope) if scope is not None else None)


def previous_of(db: Database, campaign_id: str) -> str | None:
    c = campaign_row(db, campaign_id)
    if c and c["previous_campaign_id"]:
        return c["previous_campaign_id"]
    with db.read() as cur:
        return campaigns_sql.previous_campaign(cur, campaign_id)
