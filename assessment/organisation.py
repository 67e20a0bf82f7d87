"""The organisation register: divisions, business units and their heads, created, edited, moved, deactivated.

The rules of a valid unit, division and person live here once (`unit_problems`, `division_problems`,
`person_problems`, over text frames with a `row` column), for the single operations of the page and CLI and
for the organisation workbook (excel/organisation.py) alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import polars as pl

from . import access, audit, workflow
from .catalog import stored_questionnaire
from .errors import InvalidState, NotFound, ValidationError
from .model import Actor
from .questionnaire import load_default
from .storage import Database
from .storage import campaigns as campaigns_sql
from .storage import organisation as org_sql
from .users import EMAIL_MAX, EMAIL_RE, USERNAME_RE

ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
DATE_RE = r"^(\d{4}-\d{2}-\d{2})(?:[ T]00:00(?::00)?)?$"
YES, NO = frozenset({"yes", "y", "true", "1"}), frozenset({"no", "n", "false", "0"})
MAX_INTERVAL = 120
UNIT_FIELDS = ("unit_id", "name", "division_id", "tier", "head_usernames", "plan_last_reviewed",
               "review_interval_months", "active")
PERSON_FIELDS = ("username", "display_name", "email", "role", "active")
DIVISION_FIELDS = ("division_id", "name")


@dataclass(frozen=True)
class Context:
    """What a unit or person is checked against: known divisions, the policy's tiers, and each known
    account's role after the change (user name -> role)."""

    divisions: frozenset[str]
    tiers: tuple[int, ...]
    roles: dict[str, str]


def _text(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String).str.strip_chars().fill_null("")


def _problems(df: pl.DataFrame, checks: list[tuple[str, pl.Expr, pl.Expr]]) -> pl.DataFrame:
    """Rows (row, field, message) for every check (field, failing-condition, message expression)."""
    parts = [df.filter(bad).select("row", pl.lit(field).alias("field"), msg.cast(pl.String).alias("message"))
             for field, bad, msg in checks]
    out = pl.concat(parts) if parts else pl.DataFrame(schema={"row": pl.Int64, "field": pl.String,
                                                              "message": pl.String})
    return out.sort("row", "field")


def _dups(col: str) -> pl.Expr:
    return (_text(col) != "") & _text(col).is_duplicated()


def _flag_ok(col: str) -> pl.Expr:
    return _text(col).str.to_lowercase().is_in(list(YES | NO | {""}))


def flag(col: str, default: bool = True) -> pl.Expr:
    t = _text(col).str.to_lowercase()
    return pl.when(t.is_in(list(YES))).then(True).when(t.is_in(list(NO))).then(False).otherwise(default)


def whole(col: str) -> pl.Expr:
    return _text(col).str.extract(r"^([0-9]{1,6})(?:\.0+)?$").cast(pl.Int64, strict=False)


def day(col: str) -> pl.Expr:
    return _text(col).str.extract(DATE_RE).str.to_date("%Y-%m-%d", strict=False)


def heads_list(col: str = "head_usernames") -> pl.Expr:
    return (_text(col).str.to_lowercase().str.split(",").list.eval(pl.element().str.strip_chars())
            .list.eval(pl.element().filter(pl.element() != "")))


def division_problems(df: pl.DataFrame) -> pl.DataFrame:
    return _problems(df, [
        ("division_id", _text("division_id") == "", pl.lit("a division needs an id")),
        ("division_id", (_text("division_id") != "") & ~_text("division_id").str.contains(ID_RE),
         pl.format("use letters, digits, '.', '_' or '-' (at most 64), got '{}'", _text("division_id"))),
        ("division_id", _dups("division_id"), pl.format("division '{}' appears more than once", _text("division_id"))),
        ("name", _text("name") == "", pl.lit("a division needs a name")),
    ])


def unit_problems(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Every problem of every unit row (text columns UNIT_FIELDS and row)."""
    tiers = ", ".join(str(t) for t in ctx.tiers)
    heads = df.select("row", heads_list().alias("h")).explode("h").drop_nulls("h").with_columns(
        pl.col("h").replace_strict(ctx.roles, default=None).alias("role"))
    bad_heads = heads.filter(pl.col("role") != access.HEAD).group_by("row").agg(
        pl.col("h").str.join(", ").alias("not_head"))
    unknown = heads.filter(pl.col("role").is_null()).group_by("row").agg(pl.col("h").str.join(", ").alias("unknown"))
    df = df.join(bad_heads, on="row", how="left").join(unknown, on="row", how="left")
    return _problems(df, [
        ("unit_id", _text("unit_id") == "", pl.lit("a unit needs an id")),
        ("unit_id", (_text("unit_id") != "") & ~_text("unit_id").str.contains(ID_RE),
         pl.format("use letters, digits, '.', '_' or '-' (at most 64), got '{}'", _text("unit_id"))),
        ("unit_id", _dups("unit_id"), pl.format("unit '{}' appears more than once", _text("unit_id"))),
        ("name", _text("name") == "", pl.lit("a unit needs a name")),
        ("division_id", _text("division_id") == "", pl.lit("a unit needs a division")),
        ("division_id", (_text("division_id") != "") & ~_text("division_id").is_in(list(ctx.divisions)),
         pl.format("unknown division '{}': add it to the Divisions sheet first", _text("division_id"))),
        ("tier", whole("tier").is_null() | ~whole("tier").is_in(list(ctx.tiers)),
         pl.format("the policy defines tiers {} only, got '{}'", pl.lit(tiers), _text("tier"))),
        ("head_usernames", pl.col("unknown").is_not_null(),
         pl.format("unknown user(s) {}: add them to the People sheet as department_head", pl.col("unknown"))),
        ("head_usernames", pl.col("not_head").is_not_null() & pl.col("unknown").is_null(),
         pl.format("{} is not a department head (a unit's heads must have the role department_head)",
                   pl.col("not_head"))),
        ("plan_last_reviewed", (_text("plan_last_reviewed") != "") & day("plan_last_reviewed").is_null(),
         pl.format("expected a date such as 2026-01-31, got '{}'", _text("plan_last_reviewed"))),
        ("review_interval_months", whole("review_interval_months").is_null()
         | ~whole("review_interval_months").is_between(1, MAX_INTERVAL),
         pl.format("expected a whole number of months from 1 to {}, got '{}'", pl.lit(MAX_INTERVAL),
                   _text("review_interval_months"))),
        ("active", ~_flag_ok("active"), pl.format("expected yes or no, got '{}'", _text("active"))),
    ])


def person_problems(df: pl.DataFrame) -> pl.DataFrame:
    email = _text("email")
    return _problems(df, [
        ("username", ~_text("username").str.to_lowercase().str.contains(USERNAME_RE.pattern),
         pl.format("use 2-64 lower-case letters, digits, '.', '_', '@' or '-', got '{}'", _text("username"))),
        ("username", _dups("username"), pl.format("user '{}' appears more than once", _text("username"))),
        ("display_name", _text("display_name") == "", pl.lit("a person needs a display name")),
        ("email", (email != "") & (~email.str.contains(EMAIL_RE.pattern) | (email.str.len_chars() > EMAIL_MAX)),
         pl.format("expected an address such as name@example.org, got '{}'", email)),
        ("role", ~_text("role").is_in(list(access.ROLES)),
         pl.format("unknown role '{}': use one of {}", _text("role"), pl.lit(", ".join(access.ROLES)))),
        ("active", ~_flag_ok("active"), pl.format("expected yes or no, got '{}'", _text("active"))),
    ])


def typed_units(df: pl.DataFrame) -> pl.DataFrame:
    """Checked unit text rows as stored values (heads as a list)."""
    return df.select(_text("unit_id").alias("unit_id"), _text("name").alias("name"),
                     _text("division_id").alias("division_id"), whole("tier").cast(pl.Int32).alias("tier"),
                     heads_list().list.sort().alias("heads"), day("plan_last_reviewed").alias("plan_last_reviewed"),
                     whole("review_interval_months").cast(pl.Int32).alias("review_interval_months"),
                     flag("active").alias("active"))


# ------------------------------------------------------------------------------------------ single operations


@lru_cache(maxsize=1)
def _bundled():
    return load_default()


def tiers_in(cur) -> tuple[int, ...]:
    """The tiers of the active policy (storage.organisation.policy_tiers), inside the caller's transaction."""
    return tuple(org_sql.policy_tiers(cur, _bundled()))


def _context(cur, extra_divisions: set[str] | None = None) -> Context:
    people = org_sql.people(cur)
    divisions = set(org_sql.divisions(cur)["division_id"].to_list()) | (extra_divisions or set())
    return Context(frozenset(divisions), tiers_in(cur),
                   dict(zip(people["username"].to_list(), people["role"].to_list())))


def policy_tiers(db: Database, actor: Actor) -> list[int]:
    access.require(actor, "read")
    with db.read() as cur:
        return org_sql.policy_tiers(cur, _bundled())


def register(db: Database, actor: Actor) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The whole register: divisions, units (with head_usernames) and people."""
    access.require(actor, "manage_units")
    with db.read() as cur:
        return org_sql.divisions(cur), org_sql.units(cur), org_sql.people(cur)


def _raise(problems: pl.DataFrame, what: str) -> None:
    if problems.height:
        raise ValidationError([f"{r['field']}: {r['message']}" for r in problems.iter_rows(named=True)], what)


def save_division(db: Database, actor: Actor, division_id: str, name: str) -> None:
    """Create a division or rename it."""
    access.require(actor, "manage_units")
    row = pl.DataFrame({"row": [1], "division_id": [division_id], "name": [name]})
    _raise(division_problems(row), f"division {division_id}")

    def work(cur) -> None:
        old = org_sql.divisions(cur).filter(pl.col("division_id") == division_id.strip())
        org_sql.upsert_divisions(cur, row.select(_text("division_id").alias("division_id"),
                                                 _text("name").alias("name")))
        audit.record(cur, actor, "division.update" if old.height else "division.create", "division",
                     division_id.strip(), before=old.row(0, named=True) if old.height else None,
                     after={"name": name.strip()})

    db.transaction(work)


@dataclass(frozen=True)
class UnitSpec:
    """A unit as the page or CLI gives it."""

    unit_id: str
    name: str
    division_id: str
    tier: int
    heads: tuple[str, ...] = ()
    plan_last_reviewed: date | None = None
    review_interval_months: int = 12
    active: bool = True

    def text_row(self) -> pl.DataFrame:
        return pl.DataFrame({"row": [1], "unit_id": [self.unit_id], "name": [self.name],
                             "division_id": [self.division_id], "tier": [str(self.tier)],
                             "head_usernames": [",".join(self.heads)],
                             "plan_last_reviewed": [self.plan_last_reviewed.isoformat()
                                                    if self.plan_last_reviewed else ""],
                             "review_interval_months": [str(self.review_interval_months)],
                             "active": ["yes" if self.active else "no"]})


def save_unit(db: Database, actor: Actor, spec: UnitSpec, *, create: bool = False) -> dict:
    """Create a unit (create=True) or change one: name, division (a move), tier, heads, plan review, status.

    A move or tier change applies to the cycles not yet closed (and re-scores the unit's submitted
    assessments there); closed cycles keep the placement they reported. Deactivating takes the unit out of
    planned cycles where it has no answers. Returns the fields that changed (before, after).
    """
    access.require(actor, "manage_units")

    def work(cur) -> dict:
        ctx = _context(cur)
        text = spec.text_row()
        _raise(unit_problems(text, ctx), f"unit {spec.unit_id}")
        new = typed_units(text).row(0, named=True)
        current = org_sql.units(cur).filter(pl.col("unit_id") == new["unit_id"])
        if create and current.height:
            raise InvalidState(f"unit {new['unit_id']!r} already exists")
        if not create and not current.height:
            raise NotFound(f"unknown business unit {new['unit_id']!r}")
        before = _unit_state(current.row(0, named=True)) if current.height else None
        after = {k: new[k] for k in ("name", "division_id", "tier", "plan_last_reviewed", "review_interval_months",
                                     "active")} | {"heads": list(new["heads"])}
        changed = {k: (before[k] if before else None, v) for k, v in after.items() if not before or before[k] != v}
        if not changed:
            return {}
        write_units(cur, typed_units(text), _names(cur))
        placement_changes(cur, [new["unit_id"]])
        action = "unit.create" if before is None else (
            "unit.deactivate" if changed.get("active") == (True, False) else
            "unit.reactivate" if changed.get("active") == (False, True) else "unit.update")
        audit.record(cur, actor, action, "unit", new["unit_id"],
                     before={k: b for k, (b, _) in changed.items()} if before else None,
                     after={k: a for k, (_, a) in changed.items()})
        return changed

    return db.transaction(work)


def _unit_state(row: dict) -> dict:
    heads = sorted(h for h in (row["head_usernames"] or "").split(",") if h)
    return {k: row[k] for k in ("name", "division_id", "tier", "plan_last_reviewed", "review_interval_months",
                                "active")} | {"heads": heads}


def _names(cur) -> dict[str, str]:
    people = org_sql.people(cur)
    return dict(zip(people["username"].to_list(), people["display_name"].to_list()))


def write_units(cur, typed: pl.DataFrame, names: dict[str, str]) -> None:
    """Store units (typed_units rows): their fields, the heads' display names in `head`, their heads'
    assignments (user_units)."""
    # A unit whose head has no account (a register kept before accounts existed) keeps its head's name until
    # a head account is given; otherwise `head` is the display names of its head accounts.
    stored = org_sql.units(cur).filter(pl.col("head_usernames") == "").select("unit_id",
                                                                               pl.col("head").alias("legacy"))
    rows = typed.join(stored, on="unit_id", how="left").with_columns(
        pl.col("heads").list.eval(pl.element().replace_strict(names, default=pl.element())).list.join(", ")
        .replace("", None).fill_null(pl.col("legacy")).alias("head")).drop("legacy")
    org_sql.upsert_units(cur, rows)
    pairs = typed.select(pl.col("heads").alias("username"), "unit_id").explode("username").drop_nulls("username")
    org_sql.set_heads(cur, typed["unit_id"].to_list(), pairs)


def placement_changes(cur, unit_ids: list[str]) -> int:
    """Carry the units' current division, tier and status into the cycles not yet closed, and re-score their
    submitted assessments there (a tier sets the target); how many placements changed."""
    changed = campaigns_sql.follow_units(cur, unit_ids)
    for campaign_id, units in changed.group_by("campaign_id", maintain_order=True):  # per cycle, not per unit
        source = org_sql.questionnaire_source_of(cur, campaign_id[0])
        if source:
            workflow.rescore_in(cur, stored_questionnaire(source), campaign_id[0], units["unit_id"].to_list())
    return changed.height


def set_active(db: Database, actor: Actor, unit_id: str, active: bool) -> dict:
    """Deactivate (leaves future cycles, stays in history) or reactivate a unit."""
    access.require(actor, "manage_units")
    with db.read() as cur:
        row = org_sql.units(cur).filter(pl.col("unit_id") == unit_id)
    if not row.height:
        raise NotFound(f"unknown business unit {unit_id!r}")
    u = row.row(0, named=True)
    spec = UnitSpec(unit_id, u["name"], u["division_id"], u["tier"], tuple(_unit_state(u)["heads"]),
                    u["plan_last_reviewed"], u["review_interval_months"], active)
    return save_unit(db, actor, spec)


def delete_unit(db: Database, actor: Actor, unit_id: str) -> None:
    """Delete a unit entered by mistake; one with answers or in any cycle is deactivated instead, never deleted."""
    access.require(actor, "manage_units")

    def work(cur) -> None:
        rows = org_sql.units(cur).filter(pl.col("unit_id") == unit_id)
        if not rows.height:
            raise NotFound(f"unknown business unit {unit_id!r}")
        if org_sql.has_answers(cur, unit_id) or org_sql.in_cycles(cur, unit_id):
            raise InvalidState(f"unit {unit_id} has answers or is part of a cycle: it is never deleted; "
                               "deactivate it instead (it then stays in the history of its cycles)")
        org_sql.delete_unit(cur, unit_id)
        audit.record(cur, actor, "unit.delete", "unit", unit_id, before=_unit_state(rows.row(0, named=True)))

    db.transaction(work)


def parse_date(text: str) -> date | None:
    """A date as the page or CLI gives it ('' for none)."""
    text = text.strip()
    if not text:
        return None
    if not re.match(DATE_RE, text):
        raise ValidationError([f"plan_last_reviewed: expected a date such as 2026-01-31, got {text!r}"])
    return date.fromisoformat(text[:10])

