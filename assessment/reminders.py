"""Reminder digests: one email per person per day about the deadlines of their own units, recorded once sent."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from . import access, audit, catalog, clock, mail, reports
from .campaigns import list_campaigns
from .digests import Digest, Item, compose
from .errors import NotFound
from .model import Actor
from .settings import Settings
from .settings import load as load_settings
from .storage import Database
from .storage import reminders as reminders_sql

# Overdue, never done, or due within the first urgency bucket (reports.DUE_WITHIN): what a digest reminds of.
WITHIN_DAYS = reports.DUE_WITHIN[0][0]

# Deadline kinds (reports.deadlines) -> digest section and the app page an item links to; a kind added there
# later shows under its own name and links to the deadline page.
SECTIONS: dict[str, tuple[str, str]] = {
    "assessment due": ("Self-assessments due", "self_assessment"),
    "plan review": ("Continuity plan reviews", "unit"),
    "service review": ("Service reviews", "unit"),
    "exercise due": ("Exercises due", "unit"),
    "evidence expiry": ("Evidence about to expire", "deadlines"),
}
DEFAULT_PAGE = "deadlines"

# What every provider returns, one row per (person, item).
ITEM_SCHEMA = pl.Schema({
    "username": pl.String(), "section": pl.String(), "unit_id": pl.String(), "unit": pl.String(),
    "item": pl.String(), "due_on": pl.Date(), "days_left": pl.Int64(), "bucket": pl.String(), "page": pl.String(),
    "key": pl.String(),
})


@dataclass(frozen=True)
class Request:
    """Which items a provider returns: as of `today`, due within `within_days` (None: all), for one person
    (`username`) or for everyone (None)."""

    today: date
    within_days: int | None = WITHIN_DAYS
    username: str | None = None


Provider = Callable[[Database, Request], pl.DataFrame]


def current_campaign(db: Database) -> str | None:
    """The open cycle whose answers' evidence is checked for expiry (the latest opened), or None."""
    df = list_campaigns(db, access.SYSTEM).filter(pl.col("status") == "open")
    return df["campaign_id"][-1] if df.height else None


def deadline_items(db: Database, req: Request) -> pl.DataFrame:
    """The deadlines of `reports.deadlines` (one home of those rules) of each person's own units."""
    with db.read() as cur:
        assigned = reminders_sql.assignments(cur, req.username)
    if assigned.height == 0:
        return pl.DataFrame(schema=ITEM_SCHEMA)
    filters = reports.Filters(unit_ids=tuple(assigned["unit_id"].unique().sort())) if req.username else None
    df = reports.deadlines(db, access.SYSTEM, current_campaign(db), filters, req.today, req.within_days)
    kinds = pl.col("kind")
    return df.join(assigned, on="unit_id").with_columns(
        kinds.replace_strict({k: s for k, (s, _) in SECTIONS.items()}, default=kinds).alias("section"),
        kinds.replace_strict({k: p for k, (_, p) in SECTIONS.items()}, default=DEFAULT_PAGE).alias("page"),
        pl.concat_str(kinds, pl.col("unit_id"), _thing(pl.col("item")), separator="|").alias("key"),
    ).select(list(ITEM_SCHEMA)).cast(ITEM_SCHEMA)


def _thing(item: pl.Expr) -> pl.Expr:
    """What a deadline's text is about, without its changing parts: the text before ': ' (a campaign, a
    question, a service), else the text without a closing '(...)' ("Continuity plan review (every 12 months)"),
    so an assessment moving from draft to returned, or a new review interval, keeps its calendar event."""
    head = item.str.split_exact(": ", 1).struct.field("field_0")
    return pl.when(item.str.contains(": ", literal=True)).then(head).otherwise(
        item.str.replace(r"\s*\([^()]*\)\s*$", ""))


CARRIED_SECTION = "Carried answers to confirm"


def carried_items(db: Database, req: Request) -> pl.DataFrame:
    """Each head's units with answers carried into the open cycle that still wait to be confirmed or changed
    (carry.to_confirm): due when the cycle's assessments are due, since submission needs them settled."""
    from . import carry

    cid = current_campaign(db)
    with db.read() as cur:
        assigned = reminders_sql.assignments(cur, req.username)
    if cid is None or assigned.height == 0:
        return pl.DataFrame(schema=ITEM_SCHEMA)
    camp = list_campaigns(db, access.SYSTEM).filter(pl.col("campaign_id") == cid).row(0, named=True)
    names = catalog.units(db, access.SYSTEM).select("unit_id", pl.col("name").alias("unit"))
    days = (camp["due_on"] - req.today).days
    df = carry.to_confirm(db, access.SYSTEM, cid).join(assigned, on="unit_id").join(names, on="unit_id")
    if req.within_days is not None and days > req.within_days:
        return pl.DataFrame(schema=ITEM_SCHEMA)
    return df.with_columns(
        pl.lit(CARRIED_SECTION).alias("section"),
        pl.format("{} answer(s) carried over from the last cycle to confirm or change: {}", pl.col("to_confirm"),
                  pl.lit(camp["name"])).alias("item"),
        pl.lit(camp["due_on"]).alias("due_on"), pl.lit(days, dtype=pl.Int64).alias("days_left"),
        pl.lit("self_assessment").alias("page"),
        pl.concat_str(pl.lit("carried"), pl.col("unit_id"), pl.lit(cid), separator="|").alias("key"),
    ).with_columns(reports.bucket_expr()).select(list(ITEM_SCHEMA)).cast(ITEM_SCHEMA)


ACTION_SECTIONS = {"action due": "Improvement actions due", "risk acceptance": "Risk acceptances expiring"}


def action_items(db: Database, req: Request) -> pl.DataFrame:
    """Each person's own improvement actions due or overdue and risk acceptances expiring (actions.due_for,
    the one home of that rule), whatever unit they concern: the owner is who must act."""
    from . import actions  # the actions engine imports reports and storage only; imported late to stay light

    df = actions.due_for(db, access.SYSTEM, today=req.today, owner=req.username, horizon_days=req.within_days)
    kinds = pl.col("kind")
    return df.filter(pl.col("owner").is_not_null()).with_columns(
        pl.col("owner").alias("username"),
        kinds.replace_strict(ACTION_SECTIONS, default=kinds).alias("section"),
        pl.lit("actions").alias("page"),
        pl.concat_str(kinds, pl.col("unit_id"), pl.col("action_id"), separator="|").alias("key"),
    ).select(list(ITEM_SCHEMA)).cast(ITEM_SCHEMA)


# The sections of a digest, each from a provider over all people at once.
PROVIDERS: list[Provider] = [deadline_items, carried_items, action_items]


def items(db: Database, req: Request) -> pl.DataFrame:
    """Every provider's rows for the request, most urgent first within each person."""
    frames = [p(db, req) for p in PROVIDERS]
    df = pl.concat([f for f in frames if f.height] or [pl.DataFrame(schema=ITEM_SCHEMA)], how="vertical_relaxed")
    return df.sort(["username", "days_left", "unit", "item"], nulls_last=False)


def uid(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + "@itscm"


def _item(row: dict, base_url: str) -> Item:
    return Item(row["section"], row["unit_id"], row["unit"], row["item"], row["due_on"], row["days_left"],
                row["bucket"], f"{base_url}/{row['page']}", row["key"])


def digests(db: Database, actor: Actor, req: Request, base_url: str) -> list[Digest]:
    """One digest per person who has at least one item, in username order."""
    access.require(actor, _action(actor, req.username))
    rows = items(db, req)
    with db.read() as cur:
        people = reminders_sql.people(cur, req.username)
    if req.username and people.height == 0:
        raise NotFound(f"no active user {req.username!r}")
    by_user = {u: list(g.iter_rows(named=True)) for (u,), g in rows.group_by("username", maintain_order=True)}
    return [Digest(p["username"], p["display_name"] or p["username"], p["email"], req.today,
                   tuple(_item(r, base_url) for r in by_user[p["username"]]))
            for p in people.iter_rows(named=True) if p["username"] in by_user]


def _action(actor: Actor, username: str | None) -> str:
    """Everyone's digests are the reminder job's; one's own deadlines anyone's; another's an administrator's."""
    if username is None:
        return "send_reminders"
    return "read" if username == actor.username else "user_calendars"


@dataclass(frozen=True)
class RunReport:
    """What a reminder run did (or, with dry_run, would do)."""

    day: date
    dry_run: bool
    sent: tuple[Digest, ...] = ()
    already_sent: tuple[str, ...] = ()
    without_email: tuple[str, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()
    not_sent: tuple[str, ...] = ()  # left for the next run after `error`
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.refused


def run(db: Database, actor: Actor, today: date | None = None, dry_run: bool = False,
        settings: Settings | None = None) -> RunReport:
    """Send today's digests not yet sent; each is recorded (and audited) only once the server accepted it."""
    access.require(actor, "send_reminders")
    s = settings or load_settings()
    day = today or clock.today()
    everyone = digests(db, actor, Request(day), s.base_url)
    with db.read() as cur:
        done = set(reminders_sql.sent_on(cur, day)["username"].to_list())
    due = [d for d in everyone if d.username not in done]
    pending = [d for d in due if d.email]
    base: dict[str, Any] = {
        "day": day, "dry_run": dry_run, "already_sent": tuple(sorted(done & {d.username for d in everyone})),
        "without_email": tuple(d.username for d in due if not d.email)}
    if dry_run:
        return RunReport(sent=tuple(pending), **base)
    config = mail.SmtpConfig.from_settings(s)
    sent: list[Digest] = []
    refused: list[tuple[str, str]] = []
    try:
        with mail.connect(config) as conn:
            for d in pending:
                msg = compose(d, config.sender, s.base_url)
                try:
                    conn.send(msg)
                except mail.MessageRefused as exc:
                    refused.append((d.username, str(exc)))
                    continue
                _record(db, actor, d, msg["Message-ID"])
                sent.append(d)
    except mail.MailError as exc:
        left = tuple(d.username for d in pending if d not in sent and d.username not in dict(refused))
        return RunReport(sent=tuple(sent), refused=tuple(refused), not_sent=left, error=str(exc), **base)
    return RunReport(sent=tuple(sent), refused=tuple(refused), **base)


def _record(db: Database, actor: Actor, d: Digest, message_id: str) -> None:
    def work(cur) -> None:
        if reminders_sql.was_sent(cur, d.username, d.day):  # a concurrent run got there first
            return
        at = clock.now()
        reminders_sql.insert_sent(cur, d.username, d.day, at, d.email or "", len(d.items), message_id)
        audit.record(cur, actor, "reminder.send", "user", d.username,
                     after={"on": d.day.isoformat(), "email": d.email, "items": len(d.items),
                            "message_id": message_id})

    db.transaction(work)
