"""Improvement actions: gaps, exercise findings, post-mortems and audit findings become owned, dated actions
with an append-only status history, closure evidence, verification and risk acceptance."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from . import access, audit, clock
from .errors import InvalidState, NotFound, PermissionDenied, StaleWrite, ValidationError
from .model import LINK_PREFIXES, Actor
from .reports import Filters, bucket_expr, scope_for
from .reuse import reused
from .storage import Database
from .storage import actions as actions_sql
from .storage import users as users_sql

SOURCES: dict[str, str] = {
    "gap": "Gap on a question", "exercise": "Exercise finding", "incident": "Incident",
    "postmortem": "Post-mortem lesson", "audit": "Audit finding", "management_review": "Management review",
    "manual": "Manual",
}
OPEN, IN_PROGRESS, DONE, VERIFIED, RISK_ACCEPTED = "open", "in_progress", "done", "verified", "risk_accepted"
STATUSES: dict[str, str] = {OPEN: "Open", IN_PROGRESS: "In progress", DONE: "Done, awaiting verification",
                            VERIFIED: "Verified", RISK_ACCEPTED: "Risk accepted"}
# Not closed: the owner still owes something, or the continuity office still has to verify it. A gap with
# an action in one of these states gets no second one; these count as open and (past due) overdue.
OPEN_STATUSES: tuple[str, ...] = (OPEN, IN_PROGRESS, DONE)
CLOSED_STATUSES: tuple[str, ...] = (VERIFIED, RISK_ACCEPTED)
# What an owner may set on their own action; verification and risk acceptance are the continuity office's.
OWNER_STATUSES: tuple[str, ...] = (OPEN, IN_PROGRESS, DONE)
DEFAULT_DUE_DAYS = {"gap": 90, "exercise": 60, "incident": 30, "postmortem": 60, "audit": 90,
                    "management_review": 90, "manual": 60}
RECENTLY_CLOSED_DAYS = 365  # the form shows actions closed within a year (about one cycle)


@dataclass(frozen=True)
class NewAction:
    """What an action is created from; `priority` None takes the gap's priority (source "gap")."""

    unit_id: str
    title: str
    owner: str
    due_on: date
    source: str = "manual"
    source_ref: str | None = None
    campaign_id: str | None = None
    question_ids: tuple[str, ...] = field(default=())
    service_id: str | None = None
    description: str = ""
    priority: float | None = None


def _problems(cur, x: NewAction, today: date) -> list[str]:
    problems = []
    if not x.title.strip():
        problems.append("title: an action needs a title")
    if x.source not in SOURCES:
        problems.append(f"source: expected one of {', '.join(SOURCES)}, got {x.source!r}")
    if x.due_on < today:
        problems.append(f"due_on: {x.due_on} is in the past")
    if x.priority is not None and x.priority < 0:
        problems.append("priority: cannot be negative")
    if x.source == "gap" and not (x.campaign_id and x.question_ids):
        problems.append("source: an action for a gap names its cycle and question")
    owner = users_sql.user(cur, x.owner.strip())
    if owner is None or not owner["active"]:
        problems.append(f"owner: {x.owner!r} is not an active user")
    if not actions_sql.unit_exists(cur, x.unit_id):
        problems.append(f"unit_id: unknown unit {x.unit_id!r}")
    return problems


def _gap_priority(cur, x: NewAction) -> float | None:
    if x.priority is not None or x.source != "gap" or x.campaign_id is None:
        return x.priority
    return actions_sql.gap_priority(cur, x.campaign_id, x.unit_id, x.question_ids)


def _row(action_id: str, x: NewAction, priority: float | None, actor: Actor) -> dict:
    at = clock.now()
    return {"action_id": action_id, "revision": 1, "source": x.source, "source_ref": x.source_ref,
            "campaign_id": x.campaign_id, "unit_id": x.unit_id, "service_id": x.service_id or None,
            "title": x.title.strip(), "description": x.description.strip() or None, "owner": x.owner.strip(),
            "due_on": x.due_on, "priority": priority, "status": OPEN, "risk_reason": None, "risk_approver": None,
            "risk_expires_on": None, "evidence_text": None, "evidence_url": None, "evidence_date": None,
            "verified_by": None, "verified_on": None, "closed_on": None, "created_at": at,
            "created_by": actor.username, "updated_at": at, "updated_by": actor.username}


def _public(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("created_at", "created_by", "updated_at", "updated_by")}


def create(db: Database, actor: Actor, new: NewAction, *, today: date | None = None) -> str:
    """Create an open action; returns its id (ACT-00001, ...)."""
    access.require(actor, "create_actions", new.unit_id)
    day = today or clock.today()

    def work(cur) -> str:
        problems = _problems(cur, new, day)
        if problems:
            raise ValidationError(problems, f"action {new.title!r}")
        action_id = actions_sql.new_id(cur)
        row = _row(action_id, new, _gap_priority(cur, new), actor)
        questions = pl.DataFrame({"action_id": [action_id] * len(set(new.question_ids)),
                                  "question_id": sorted(set(new.question_ids))}, schema={"action_id": pl.String,
                                                                                          "question_id": pl.String})
        event = {"action_id": action_id, "revision": 1, "status": OPEN, "changed_at": row["created_at"],
                 "changed_by": actor.username, "note": "created"}
        actions_sql.insert(cur, pl.DataFrame([row], schema=actions_sql.ACTION_SCHEMA), questions,
                           pl.DataFrame([event], schema=actions_sql.EVENT_SCHEMA))
        audit.record(cur, actor, "action.create", "action", action_id,
                     after={**_public(row), "question_ids": sorted(set(new.question_ids))})
        return action_id

    return db.transaction(work)


def _stale(before: dict, base_revision: int) -> StaleWrite:
    return StaleWrite(f"action {before['action_id']} was changed by {before['updated_by']} at "
                      f"{before['updated_at']:%Y-%m-%d %H:%M} UTC (revision {before['revision']}, you started "
                      f"from {base_revision}). Your input is kept: review their change, then save again.",
                      [{"action_id": before["action_id"], "by": before["updated_by"], "at": before["updated_at"],
                        "revision": before["revision"]}])


def _change(db: Database, actor: Actor, action_id: str, base_revision: int, audit_action: str, note: str,
            decide) -> int:
    """The one path of every status change: read, check the revision, let `decide(before)` return the new
    fields (or raise), store them with a history entry and an audit entry, all in one transaction."""

    def work(cur) -> int:
        before = actions_sql.action(cur, action_id)
        if before is None:
            raise NotFound(f"unknown action {action_id!r}")
        if before["revision"] != base_revision:
            raise _stale(before, base_revision)
        changes = decide(before)
        at = clock.now()
        row = {**before, **changes, "revision": base_revision + 1, "updated_at": at, "updated_by": actor.username}
        event = {"action_id": action_id, "revision": row["revision"], "status": row["status"], "changed_at": at,
                 "changed_by": actor.username, "note": note.strip() or None}
        actions_sql.update(cur, row, event)
        audit.record(cur, actor, audit_action, "action", action_id, before=_public(before), after=_public(row))
        return row["revision"]

    return db.transaction(work)


# Problems of a status change the owner makes, by field; "owner" and "closed" are refusals of the actor's
# rights (PermissionDenied), the others bad input.
RIGHTS_FIELDS = ("owner", "closed")


def _blank(col: str) -> pl.Expr:
    return pl.col(col).fill_null("").str.strip_chars() == ""


def progress_problems(changes: pl.DataFrame, actor: Actor, today: date) -> pl.DataFrame:
    """THE rule of an owner's status change, over a frame (one row per change: row, action_id, status,
    evidence_text, evidence_url, evidence_date, and the stored before_status and owner): every problem as
    (row, field, problem). progress() and the Excel bulk update both check their changes here."""
    may_manage, may_verify = access.allowed(actor, "manage_actions"), access.allowed(actor, "verify_actions")
    url = pl.col("evidence_url").fill_null("").str.strip_chars()
    link_ok = pl.any_horizontal([url.str.to_lowercase().str.starts_with(p) for p in LINK_PREFIXES])
    checks = [
        ("status", ~pl.col("status").is_in(list(OWNER_STATUSES)),
         pl.format("expected one of {}, got {}; verify or accept the risk instead", pl.lit(", ".join(OWNER_STATUSES)),
                   pl.col("status").fill_null("nothing"))),
        ("evidence", (pl.col("status") == DONE) & _blank("evidence_text") & _blank("evidence_url"),
         pl.lit("say what was done (a text or a link) before marking the action done")),
        ("evidence_url", (url != "") & ~link_ok, pl.lit("expected an http(s) link or a file path")),
        ("evidence_date", pl.col("evidence_date") > pl.lit(today),
         pl.format("{} is in the future", pl.col("evidence_date"))),
        ("owner", pl.lit(not may_manage) & (pl.col("owner") != pl.lit(actor.username)),
         pl.format("{} may not change {}: it is owned by {}", pl.lit(actor.username), "action_id", "owner")),
        ("closed", pl.lit(not may_verify) & pl.col("before_status").is_in(list(CLOSED_STATUSES)),
         pl.format("{} is closed ({}): only the continuity office reopens it", "action_id", "before_status")),
        ("status", pl.col("before_status") == pl.col("status"),
         pl.format("{} is already {}", "action_id", "status")),
    ]
    found = [changes.filter(cond.fill_null(False)).select("row", pl.lit(name).alias("field"), msg.alias("problem"))
             for name, cond, msg in checks]
    return pl.concat(found).sort("row", maintain_order=True)


def _progress_row(before: dict, status: str, evidence_text: str, evidence_url: str, evidence_date: date | None,
                  day: date) -> dict:
    """The fields a status change sets: closure evidence on done (dated today by default), cleared
    verification and risk acceptance otherwise kept evidence."""
    done = status == DONE
    return {"status": status, "evidence_text": (evidence_text.strip() or None) if done else before["evidence_text"],
            "evidence_url": (evidence_url.strip() or None) if done else before["evidence_url"],
            "evidence_date": (evidence_date or day) if done else before["evidence_date"],
            "verified_by": None, "verified_on": None, "closed_on": None,
            "risk_reason": None, "risk_approver": None, "risk_expires_on": None}


def progress(db: Database, actor: Actor, action_id: str, status: str, *, base_revision: int, note: str = "",
             evidence_text: str = "", evidence_url: str = "", evidence_date: date | None = None,
             today: date | None = None) -> int:
    """Move an action to open, in progress or done (done needs closure evidence: a text or a link). The owner
    may do this on their own action, the continuity office on any; a verified or risk-accepted action is
    reopened only by the continuity office. Returns the new revision."""
    access.require(actor, "update_own_actions")
    day = today or clock.today()
    change = {"row": 0, "action_id": action_id, "status": status, "evidence_text": evidence_text,
              "evidence_url": evidence_url, "evidence_date": evidence_date}
    schema = {"row": pl.Int64, "action_id": pl.String, "status": pl.String, "evidence_text": pl.String,
              "evidence_url": pl.String, "evidence_date": pl.Date, "before_status": pl.String, "owner": pl.String}
    problems = progress_problems(pl.DataFrame([{**change, "before_status": None, "owner": actor.username}],
                                              schema=schema), access.SYSTEM, day)
    if problems.height:
        raise ValidationError([f"{f}: {p}" for f, p in problems.select("field", "problem").iter_rows()],
                              f"action {action_id}")

    def decide(before: dict) -> dict:
        state = pl.DataFrame([{**change, "before_status": before["status"], "owner": before["owner"]}], schema=schema)
        refused = progress_problems(state, actor, day)
        rights = refused.filter(pl.col("field").is_in(list(RIGHTS_FIELDS)))
        if rights.height:
            raise PermissionDenied(rights["problem"][0])
        if refused.height:
            raise InvalidState(refused["problem"][0])
        return _progress_row(before, status, evidence_text, evidence_url, evidence_date, day)

    return _change(db, actor, action_id, base_revision, f"action.{status}", note, decide)


def verify(db: Database, actor: Actor, action_id: str, *, base_revision: int, note: str = "",
           today: date | None = None) -> int:
    """The continuity office confirms a done action's closure evidence: the action is closed."""
    access.require(actor, "verify_actions")
    day = today or clock.today()

    def decide(before: dict) -> dict:
        if before["status"] != DONE:
            raise InvalidState(f"action {action_id} is {STATUSES[before['status']].lower()}: only a done action "
                               "(with its closure evidence) can be verified")
        return {"status": VERIFIED, "verified_by": actor.username, "verified_on": day, "closed_on": day}

    return _change(db, actor, action_id, base_revision, "action.verify", note, decide)


def accept_risk(db: Database, actor: Actor, action_id: str, *, base_revision: int, reason: str, approver: str,
                expires_on: date, today: date | None = None) -> int:
    """Close an open action by accepting the risk: a reason, who approved it and until when (it then shows
    among the deadlines as a risk acceptance about to expire)."""
    access.require(actor, "verify_actions")
    day = today or clock.today()
    problems = []
    if not reason.strip():
        problems.append("risk_reason: say why the risk is accepted")
    if not approver.strip():
        problems.append("risk_approver: name who approved the risk acceptance")
    if expires_on <= day:
        problems.append(f"risk_expires_on: {expires_on} must be after today")
    if problems:
        raise ValidationError(problems, f"action {action_id}")

    def decide(before: dict) -> dict:
        if before["status"] in CLOSED_STATUSES:
            raise InvalidState(f"action {action_id} is already closed ({STATUSES[before['status']].lower()})")
        return {"status": RISK_ACCEPTED, "risk_reason": reason.strip(), "risk_approver": approver.strip(),
                "risk_expires_on": expires_on, "closed_on": day}

    return _change(db, actor, action_id, base_revision, "action.accept_risk", reason, decide)


# ---- reads --------------------------------------------------------------------------------------------------

def get_action(db: Database, actor: Actor, action_id: str) -> dict:
    """An action with its question ids and its status history (oldest first)."""
    with db.read() as cur:
        row = actions_sql.action(cur, action_id)
        history = actions_sql.history(cur, action_id) if row else None
    if row is None:
        raise NotFound(f"unknown action {action_id!r}")
    access.require(actor, "read", row["unit_id"])
    return {**row, "history": history}


def overdue_expr(today: date) -> pl.Expr:
    """THE overdue rule of an action frame (status, due_on): not closed and past its due date."""
    return pl.col("status").is_in(list(OPEN_STATUSES)) & (pl.col("due_on") < pl.lit(today))


@reused
def list_actions(db: Database, actor: Actor, filters: Filters | None = None, *,
                 statuses: tuple[str, ...] | None = None, owner: str | None = None, overdue: bool = False,
                 today: date | None = None) -> pl.DataFrame:
    """The register for the units the actor may read, soonest due first, with an `overdue` column."""
    day = today or clock.today()
    where, params = scope_for(actor, filters).where("u")
    with db.read() as cur:
        df = actions_sql.listing(cur, where, params, OPEN_STATUSES if overdue and statuses is None else statuses,
                                 owner)
    df = df.with_columns(overdue_expr(day).alias("overdue"))
    return df.filter(pl.col("overdue")) if overdue else df


def due_for(db: Database, actor: Actor, *, today: date | None = None, owner: str | None = None,
            horizon_days: int | None = None, filters: Filters | None = None) -> pl.DataFrame:
    """THE deadline rule for actions, used by `itscm deadlines`, the deadlines page and the reminder digest.

    One row per open action (open, in progress, or done awaiting verification: kind "action due", due on its
    due date) and per risk acceptance (kind "risk acceptance", due when it expires) of the units the actor
    may read, optionally of one owner. Columns: those of reports.deadlines (kind, unit_id, unit, division_id,
    division, tier, owner, since, due_on, item, days_left, bucket) plus action_id, status and priority.
    With `horizon_days`, only rows due within that many days of `today` (overdue ones included). Most
    urgent first.
    """
    day = today or clock.today()
    where, params = scope_for(actor, filters).where("u")
    with db.read() as cur:
        df = actions_sql.due(cur, where, params, OPEN_STATUSES, RISK_ACCEPTED, owner, day)
    df = df.with_columns(pl.col("days_left").cast(pl.Int64), bucket_expr())
    return df if horizon_days is None else df.filter(pl.col("days_left") <= horizon_days)


def for_form(db: Database, actor: Actor, unit_id: str, *, today: date | None = None,
             closed_within_days: int = RECENTLY_CLOSED_DAYS) -> pl.DataFrame:
    """Per question of a unit: its open actions and those closed within `closed_within_days` (the
    self-assessment form shows them beside each question, so the head sees what was promised)."""
    access.require(actor, "read", unit_id)
    day = today or clock.today()
    with db.read() as cur:
        return actions_sql.for_questions(cur, unit_id, OPEN_STATUSES, day - timedelta(days=closed_within_days))


def dashboard(db: Database, actor: Actor, filters: Filters | None = None, *, today: date | None = None
              ) -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    """(totals: open, overdue, median_age_days; per division the same; verified closures per cycle)."""
    day = today or clock.today()
    where, params = scope_for(actor, filters).where("u")
    with db.read() as cur:
        return (actions_sql.open_totals(cur, where, params, OPEN_STATUSES, day),
                actions_sql.by_division(cur, where, params, OPEN_STATUSES, day),
                actions_sql.verified_per_cycle(cur, where, params))


# ---- actions from gaps, in bulk -----------------------------------------------------------------------------

def gap_title(question_id: str, score: float | None, target: float | None) -> str:
    """"Close the gap on TEST-02: scored 2 against a target of 4" (the score, not the answered level: a
    capped answer has a gap at the level it claims)."""
    shown = "not scored" if score is None else f"scored {score:.1f}"
    return f"Close the gap on {question_id}: {shown} against a target of {(target or 0):.1f}"


def gap_title_expr() -> pl.Expr:
    """gap_title over a frame's question_id, score and target columns."""
    shown = pl.when(pl.col("score").is_null()).then(pl.lit("not scored")).otherwise(
        pl.format("scored {}", pl.col("score").round(1).cast(pl.String)))
    return pl.format("Close the gap on {}: {} against a target of {}", "question_id", shown,
                     pl.col("target").fill_null(0).round(1).cast(pl.String))


def gaps_to_action(db: Database, actor: Actor, campaign_id: str, *, min_priority: float,
                   filters: Filters | None = None, today: date | None = None, due_on: date | None = None
                   ) -> pl.DataFrame:
    """The preview of create_from_gaps: every gap of the cycle above `min_priority` in the actor's units
    that has no open action yet, with the title, owner (the unit's head, else the actor) and due date the
    action would get."""
    access.require(actor, "create_actions")
    for unit in (filters.unit_ids or ()) if filters else ():
        access.require(actor, "create_actions", unit)
    day = today or clock.today()
    where, params = scope_for(actor, filters).where("u")
    with db.read() as cur:
        gaps = actions_sql.gaps_without_action(cur, campaign_id, where, params, min_priority, OPEN_STATUSES)
    due = due_on or day + timedelta(days=DEFAULT_DUE_DAYS["gap"])
    return gaps.with_columns(
        gap_title_expr().alias("title"),
        pl.col("head_user").fill_null(actor.username).alias("owner"), pl.lit(due).alias("due_on")
    ).drop("head_user")


def create_from_gaps(db: Database, actor: Actor, campaign_id: str, *, min_priority: float,
                     filters: Filters | None = None, today: date | None = None, due_on: date | None = None,
                     dry_run: bool = False) -> pl.DataFrame:
    """An action for every gap of the cycle above `min_priority` without an open one (gaps_to_action), in
    one transaction with one audit entry; `dry_run` only returns the preview. Returns the rows with the new
    action ids (null on a dry run)."""
    preview = gaps_to_action(db, actor, campaign_id, min_priority=min_priority, filters=filters, today=today,
                             due_on=due_on)
    if dry_run or preview.height == 0:
        return preview.with_columns(pl.lit(None, dtype=pl.String).alias("action_id"))
    for unit in preview["unit_id"].unique().to_list():
        access.require(actor, "create_actions", unit)

    def work(cur) -> pl.DataFrame:
        # Read again inside the transaction: a gap that got an action meanwhile is skipped, not doubled.
        where, params = scope_for(actor, filters).where("u")
        fresh = actions_sql.gaps_without_action(cur, campaign_id, where, params, min_priority, OPEN_STATUSES)
        rows = preview.join(fresh.select("unit_id", "question_id"), on=["unit_id", "question_id"], how="semi")
        first = actions_sql.next_number(cur)
        at = clock.now()
        rows = rows.with_row_index("n").with_columns(
            pl.format(actions_sql.PREFIX + "{}", (pl.col("n") + first).cast(pl.String).str.zfill(5))
            .alias("action_id"))
        stored = rows.select(
            "action_id", pl.lit(1).alias("revision"), pl.lit("gap").alias("source"),
            pl.lit(campaign_id).alias("source_ref"), pl.lit(campaign_id).alias("campaign_id"), "unit_id",
            pl.lit(None, dtype=pl.String).alias("service_id"), "title",
            pl.lit(None, dtype=pl.String).alias("description"), "owner", "due_on", "priority",
            pl.lit(OPEN).alias("status"), *[pl.lit(None, dtype=actions_sql.ACTION_SCHEMA[c]).alias(c) for c in (
                "risk_reason", "risk_approver", "risk_expires_on", "evidence_text", "evidence_url",
                "evidence_date", "verified_by", "verified_on", "closed_on")],
            pl.lit(at).alias("created_at"), pl.lit(actor.username).alias("created_by"),
            pl.lit(at).alias("updated_at"), pl.lit(actor.username).alias("updated_by")).cast(
            actions_sql.ACTION_SCHEMA)
        events = rows.select("action_id", pl.lit(1, dtype=pl.Int64).alias("revision"), pl.lit(OPEN).alias("status"),
                             pl.lit(at).alias("changed_at"), pl.lit(actor.username).alias("changed_by"),
                             pl.lit(f"created from the gaps of {campaign_id}").alias("note"))
        actions_sql.insert(cur, stored, rows.select("action_id", "question_id"), events)
        audit.record(cur, actor, "action.create_from_gaps", "campaign", campaign_id, after={
            "min_priority": min_priority, "created": rows.height,
            "actions": rows.select("action_id", "unit_id", "question_id", "owner").to_dicts()})
        return rows.drop("n")

    return db.transaction(work)


# ---- one-click proposals from records -----------------------------------------------------------------------

def default_owner(db: Database, actor: Actor, unit_id: str) -> str:
    """Who a new action of a unit is for by default: its department head, else the actor."""
    access.require(actor, "read", unit_id)
    with db.read() as cur:
        return actions_sql.head_user(cur, unit_id) or actor.username


def default_due(source: str, today: date | None = None) -> date:
    return (today or clock.today()) + timedelta(days=DEFAULT_DUE_DAYS.get(source, 60))


def from_gap(row: dict, campaign_id: str, owner: str, today: date | None = None) -> NewAction:
    """A gap row (reports.top_gaps at question level, or a question_scores row) as a new action."""
    return NewAction(unit_id=row["unit_id"], title=gap_title(row["question_id"], row.get("score"), row.get("target")),
                     owner=owner, due_on=default_due("gap", today), source="gap", source_ref=campaign_id,
                     campaign_id=campaign_id, question_ids=(row["question_id"],), priority=row.get("priority"))


def from_exercise_result(row: dict, owner: str, today: date | None = None) -> NewAction:
    """A failed exercise result (exercises.exercise_log row) as an action on the service's unit."""
    findings = (row.get("findings") or "").strip()
    return NewAction(unit_id=row["unit_id"], title=f"Fix the findings of {row['exercise_id']} on {row['service_id']}",
                     owner=owner, due_on=default_due("exercise", today), source="exercise",
                     source_ref=row["exercise_id"], service_id=row["service_id"], description=findings)


def from_incident(row: dict, owner: str, *, lessons: bool = False, today: date | None = None) -> NewAction:
    """An incident (incidents.incident_log row): without a post-mortem, the action is to hold one; with
    `lessons`, to act on the post-mortem's lessons."""
    source = "postmortem" if lessons else "incident"
    title = (f"Act on the lessons of the post-mortem of {row['incident_id']}" if lessons
             else f"Hold the post-mortem of {row['incident_id']}: {row['title']}")
    return NewAction(unit_id=row["unit_id"], title=title, owner=owner, due_on=default_due(source, today),
                     source=source, source_ref=row["incident_id"], service_id=row.get("service_id"),
                     description=row.get("report_url") or "")
