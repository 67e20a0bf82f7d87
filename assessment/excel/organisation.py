"""The organisation workbook (and the same columns as CSV): template, export, and a checked, previewed,
all-or-nothing import of divisions, units with their heads, and people.

Sheets and columns (the contract; README "Organisation register"): Divisions (division_id, name), Units
(unit_id, name, division_id, tier, head_usernames, plan_last_reviewed, review_interval_months, active), People
(username, display_name, email, role, active). The import runs the answer import's safety checks first
(safety.check_workbook; for CSV the same size limit), reads every cell as text, reports every problem at
once by sheet, row, column and cell, and writes nothing while any remains. Rows absent from the file are
left as they are; a unit leaves by `active` = no, never by deletion.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import polars as pl
import xlsxwriter

from .. import access, audit, clock, passwords, settings, users
from .. import organisation as org
from ..errors import EngineError
from ..model import Actor
from ..storage import Database
from ..storage import organisation as org_sql
from .export import Col, Formats, write_key_values, write_table
from .reading import FILE, Problem, Sheet, formula_problems, open_reader, problems_frame, read_sheet, unexpected_sheets
from .safety import Limits, UnsafeWorkbook, check_workbook, from_literal_expr, literal_text_expr, read_capped

__all__ = ["OrgImport", "analyse", "commit", "export_bytes", "export_csv", "problems_frame", "template_bytes"]

COLUMNS: dict[str, tuple[str, ...]] = {"Divisions": org.DIVISION_FIELDS, "Units": org.UNIT_FIELDS,
                                       "People": org.PERSON_FIELDS}
REQUIRED = {"Divisions": org.DIVISION_FIELDS, "Units": org.UNIT_FIELDS,
            "People": ("username", "display_name", "email", "role")}
INSTRUCTIONS = "Instructions"
CSV_NAMES = {name: f"{name.lower()}.csv" for name in COLUMNS}
DIFF_SCHEMA = {"object": pl.String, "id": pl.String, "action": pl.String, "field": pl.String,
               "before": pl.String, "after": pl.String}


@dataclass
class OrgImport:
    """What an import found (problems) or would change (diff), and after a commit the new accounts'
    one-time passwords (shown once, never stored in clear)."""

    file: str
    sha256: str | None = None
    problems: list[Problem] = field(default_factory=list)
    diff: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DIFF_SCHEMA))
    committed: bool = False
    passwords: dict[str, str] = field(default_factory=dict)
    sso_only: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        """How many divisions, units and people each action touches, e.g. {"unit added": 3}."""
        d = self.diff.unique(["object", "id", "action"]).group_by("object", "action").len().sort("object", "action")
        return {f"{o} {a}": n for o, a, n in d.iter_rows()}


class _Refused(EngineError):
    def __init__(self, result: OrgImport):
        self.result = result
        super().__init__("organisation import refused")


# ------------------------------------------------------------------------------------------------ export side


def _frames(db: Database, actor: Actor) -> dict[str, pl.DataFrame]:
    divisions, units, people = org.register(db, actor)
    yes_no = {True: "yes", False: "no"}
    return {
        "Divisions": divisions.select(*org.DIVISION_FIELDS),
        "Units": units.with_columns(pl.col("tier").cast(pl.String),
                                    pl.col("plan_last_reviewed").cast(pl.String).fill_null(""),
                                    pl.col("review_interval_months").cast(pl.String),
                                    pl.col("active").replace_strict(yes_no, return_dtype=pl.String)
                                    ).select(*org.UNIT_FIELDS),
        "People": people.with_columns(pl.col("active").replace_strict(yes_no, return_dtype=pl.String)
                                      ).select(*org.PERSON_FIELDS),
    }


def _instructions(tiers: list[int]) -> list[tuple[str, str]]:
    return [
        ("Divisions", "division_id (letters, digits, '.', '_', '-'), name"),
        ("Units", "unit_id, name, division_id (from Divisions or already stored), tier, head_usernames "
                  "(comma-separated user names of department heads), plan_last_reviewed (YYYY-MM-DD or empty), "
                  "review_interval_months (1-120), active (yes/no)"),
        ("People", "username, display_name, email, role, active (yes/no, optional)"),
        ("Tiers of the policy", ", ".join(str(t) for t in tiers)),
        ("Roles", ", ".join(access.ROLES)),
        ("Import", "Rows absent from the file are left unchanged. Department heads that do not exist yet are "
                   "created on commit and get a one-time password (or sign in with single sign-on)."),
    ]


def _workbook(frames: dict[str, pl.DataFrame], tiers: list[int]) -> bytes:
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    f = Formats(wb)
    write_key_values(wb, f, INSTRUCTIONS, "Organisation register", _instructions(tiers))
    for name, cols in COLUMNS.items():
        write_table(wb, f, name, [Col(c, c, "text", 22) for c in cols], frames[name])
    wb.close()
    return out.getvalue()


def template_bytes(db: Database, actor: Actor) -> bytes:
    """The empty workbook: the sheets and columns, and the tiers and roles to use."""
    access.require(actor, "manage_units")
    empty = {n: pl.DataFrame(schema={c: pl.String for c in cols}) for n, cols in COLUMNS.items()}
    return _workbook(empty, org.policy_tiers(db, actor))


def export_bytes(db: Database, actor: Actor) -> bytes:
    """The whole organisation in the import's format (importing it back changes nothing)."""
    return _workbook(_frames(db, actor), org.policy_tiers(db, actor))


def export_csv(db: Database, actor: Actor, folder: str | Path) -> list[Path]:
    """The same three tables as CSV files (divisions.csv, units.csv, people.csv) in a folder; cells that
    would start a formula carry a leading apostrophe, as in the workbook."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in _frames(db, actor).items():
        path = folder / CSV_NAMES[name]
        df.with_columns(literal_text_expr(pl.all())).write_csv(path)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------------------------ import side


def _sheet_from_csv(name: str, data: bytes, file: str) -> Sheet:
    try:
        df = pl.read_csv(io.BytesIO(data), infer_schema=False)
    except Exception as exc:
        raise UnsafeWorkbook(file, f"the CSV file could not be read: {exc}") from exc
    df = df.rename({c: c.strip() for c in df.columns})
    letters = {c: _letter(i) for i, c in enumerate(df.columns)}
    return Sheet(name, df.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("row")), letters, 1)


def _letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _read(source: str | Path | bytes | BinaryIO, file: str, limits: Limits
          ) -> tuple[dict[str, Sheet], list[Problem], str | None]:
    """The sheets of a workbook, or of a folder of CSV files; problems with the file itself."""
    if isinstance(source, str | Path) and Path(source).is_dir():
        sheets, total = {}, 0
        for name, csv in CSV_NAMES.items():
            path = Path(source) / csv
            if path.exists():
                data = read_capped(path, limits.max_bytes - total, f"{file}/{csv}")
                total += len(data)
                sheets[name] = _sheet_from_csv(name, data, f"{file}/{csv}")
        return sheets, [], None
    checked = check_workbook(source, file, limits)
    reader = open_reader(checked)
    sheets = {n: read_sheet(reader, checked, n) for n in COLUMNS if checked.sheet(n)}
    problems = formula_problems(checked, sheets) + unexpected_sheets(
        checked, [*COLUMNS, INSTRUCTIONS], "an organisation workbook", "Divisions, Units and People")
    return sheets, problems, checked.sha256


def _columns(sheets: dict[str, Sheet]) -> tuple[dict[str, pl.DataFrame], list[Problem]]:
    """Each sheet's columns as clean text (empty sheet when absent); a missing sheet or column is a problem."""
    out, problems = {}, []
    for name, cols in COLUMNS.items():
        sheet = sheets.get(name)
        if sheet is None:
            problems.append(Problem(name, None, None, f"the sheet {name!r} is missing (columns: {', '.join(cols)})"))
            out[name] = pl.DataFrame(schema={"row": pl.Int64, **{c: pl.String for c in cols}})
            continue
        missing = [c for c in REQUIRED[name] if c not in sheet.frame.columns]
        problems += [Problem(name, sheet.header_row, c, "this required column is missing") for c in missing]
        df = sheet.frame.with_columns([pl.lit(None, pl.String).alias(c) for c in cols if c not in sheet.frame.columns])
        df = df.select("row", *[from_literal_expr(pl.col(c).cast(pl.String).str.strip_chars()).alias(c)
                                for c in cols])
        blank = pl.all_horizontal([pl.col(c).fill_null("") == "" for c in cols])
        out[name] = df.filter(~blank)
    return out, problems


def _locate(sheets: dict[str, Sheet], name: str, found: pl.DataFrame) -> list[Problem]:
    sheet = sheets.get(name)
    return [sheet.at(r["row"], r["field"], r["message"]) if sheet else Problem(name, r["row"], r["field"],
                                                                              r["message"])
            for r in found.iter_rows(named=True)]


@dataclass(frozen=True)
class _Plan:
    divisions: pl.DataFrame        # rows to upsert
    units: pl.DataFrame            # typed rows to write
    new_people: pl.DataFrame
    changed_people: pl.DataFrame
    diff: pl.DataFrame


def _analyse(cur, actor: Actor, sheets: dict[str, Sheet]) -> tuple[list[Problem], _Plan | None]:
    data, problems = _columns(sheets)
    divs, units, people = data["Divisions"], data["Units"], data["People"]
    stored_divs, stored_units, stored_people = org_sql.divisions(cur), org_sql.units(cur), org_sql.people(cur)
    people = people.with_columns(pl.col("username").str.to_lowercase(),
                                 pl.when(pl.col("active").fill_null("") == "").then(pl.lit("yes"))
                                 .otherwise(pl.col("active")).alias("active"))
    roles = dict(zip(stored_people["username"].to_list(), stored_people["role"].to_list()))
    roles |= dict(zip(people["username"].to_list(), people["role"].fill_null("").to_list()))
    ctx = org.Context(frozenset(stored_divs["division_id"].to_list()) | frozenset(divs["division_id"].drop_nulls()),
                      org.tiers_in(cur), roles)
    problems += _locate(sheets, "Divisions", org.division_problems(divs))
    problems += _locate(sheets, "Units", org.unit_problems(units, ctx))
    problems += _locate(sheets, "People", org.person_problems(people))
    problems += _people_rules(sheets, actor, people, units, stored_people, stored_units)
    if problems:
        return problems, None
    typed = org.typed_units(units)
    return [], _plan(divs, typed, people, stored_divs, stored_units, stored_people)


def _people_rules(sheets, actor: Actor, people: pl.DataFrame, units: pl.DataFrame, stored: pl.DataFrame,
                  stored_units: pl.DataFrame) -> list[Problem]:
    """Rights and consistency across sheets: only an administrator creates or changes accounts other than
    department heads; every department head in People heads at least one unit after the import."""
    joined = people.join(stored.select("username", pl.col("role").alias("old_role"),
                                       pl.col("display_name").alias("old_name"),
                                       pl.col("email").alias("old_email"),
                                       pl.col("active").alias("old_active")), on="username", how="left")
    changes = (pl.col("old_role").is_null() | (pl.col("role") != pl.col("old_role"))
               | (pl.col("display_name") != pl.col("old_name")) | (pl.col("email").fill_null("") != pl.col("old_email"))
               | (org.flag("active") != pl.col("old_active")))
    out = []
    if not access.allowed(actor, "manage_users"):
        bad = joined.filter(changes & ((pl.col("role") != access.HEAD)
                                       | (pl.col("old_role").is_not_null() & (pl.col("old_role") != access.HEAD))))
        out += [sheets["People"].at(r["row"], "role", f"only an administrator creates or changes accounts that are "
                                    f"not department heads ({r['username']}: {r['old_role'] or 'new'} -> {r['role']})")
                for r in bad.iter_rows(named=True)]
    file_heads = units.select(org.heads_list().alias("username"), pl.col("unit_id")).explode("username")
    kept = stored_units.filter(~pl.col("unit_id").is_in(units["unit_id"].to_list())).select(
        pl.col("head_usernames").str.split(",").alias("username"), "unit_id").explode("username")
    heading = set(file_heads["username"].drop_nulls().to_list()) | set(kept["username"].drop_nulls().to_list())
    lonely = people.filter((pl.col("role") == access.HEAD) & ~pl.col("username").is_in(list(heading)))
    out += [sheets["People"].at(r["row"], "role", f"{r['username']} is a department head of no unit: list them in "
                                "a unit's head_usernames, or give another role") for r in lonely.iter_rows(named=True)]
    return out


def _changes(new: pl.DataFrame, old: pl.DataFrame, key: str, fields: list[str], obj: str) -> pl.DataFrame:
    """The diff rows (object, id, action, field, before, after) between new and stored rows, as text."""
    as_text = [pl.col(c).cast(pl.String).fill_null("") for c in fields]
    n = new.select(pl.col(key).alias("id"), *[e.alias(c) for e, c in zip(as_text, fields, strict=True)])
    o = old.select(pl.col(key).alias("id"), *[e.alias(c) for e, c in zip(as_text, fields, strict=True)])
    j = n.join(o, on="id", how="left", suffix="_old")
    exists = j["id"].is_in(o["id"].to_list())
    added = j.filter(~exists).select(pl.lit(obj).alias("object"), "id", pl.lit("added").alias("action"),
                                     pl.lit(None, pl.String).alias("field"), pl.lit(None, pl.String).alias("before"),
                                     pl.lit(None, pl.String).alias("after"))
    parts = [added]
    for c in fields:
        ch = j.filter(exists & (pl.col(c) != pl.col(f"{c}_old")))
        action = (pl.when((pl.lit(c) == "active") & (pl.col(c) == "no")).then(pl.lit("deactivated"))
                  .when((pl.lit(c) == "active") & (pl.col(c) == "yes")).then(pl.lit("reactivated"))
                  .otherwise(pl.lit("changed")))
        parts.append(ch.select(pl.lit(obj).alias("object"), "id", action.alias("action"), pl.lit(c).alias("field"),
                               pl.col(f"{c}_old").alias("before"), pl.col(c).alias("after")))
    return pl.concat(parts)


def _plan(divs, typed, people, stored_divs, stored_units, stored_people) -> _Plan:
    yes = {True: "yes", False: "no"}
    units_text = typed.with_columns(pl.col("heads").list.join(","), pl.col("active").replace_strict(yes))
    old_units = stored_units.with_columns(pl.col("active").replace_strict(yes)).rename({"head_usernames": "heads"})
    ufields = ["name", "division_id", "tier", "heads", "plan_last_reviewed", "review_interval_months", "active"]
    people_t = people.with_columns(pl.col("email").fill_null(""), org.flag("active").replace_strict(yes))
    old_people = stored_people.with_columns(pl.col("active").replace_strict(yes))
    pfields = ["display_name", "email", "role", "active"]
    diff = pl.concat([_changes(divs, stored_divs, "division_id", ["name"], "division"),
                      _changes(units_text, old_units, "unit_id", ufields, "unit"),
                      _changes(people_t, old_people, "username", pfields, "person")])
    changed_ids = diff.filter(pl.col("object") == "unit")["id"].unique().to_list()
    people_ids = diff.filter(pl.col("object") == "person")
    new_ids = people_ids.filter(pl.col("action") == "added")["id"].to_list()
    changed_people_ids = people_ids.filter(pl.col("action") != "added")["id"].unique().to_list()
    div_ids = diff.filter(pl.col("object") == "division")["id"].unique().to_list()
    ptyped = people.select("username", "display_name", pl.col("email").replace("", None), "role",
                           org.flag("active").alias("active"))
    return _Plan(divs.filter(pl.col("division_id").is_in(div_ids)).select("division_id", "name"),
                 typed.filter(pl.col("unit_id").is_in(changed_ids)),
                 ptyped.filter(pl.col("username").is_in(new_ids)),
                 ptyped.filter(pl.col("username").is_in(changed_people_ids)), diff)


def _open(source, file: str | None, limits: Limits | None) -> tuple[OrgImport, dict[str, Sheet] | None]:
    name = file or (Path(source).name if isinstance(source, str | Path) else "upload.xlsx")
    result = OrgImport(name)
    try:
        sheets, problems, sha = _read(source, name, limits or Limits.from_settings())
    except UnsafeWorkbook as exc:
        result.problems.append(Problem(FILE, None, None, exc.reason))
        return result, None
    result.sha256 = sha
    result.problems.extend(problems)
    return result, sheets


def _sort(problems: list[Problem]) -> list[Problem]:
    order = {FILE: 0, "Divisions": 1, "Units": 2, "People": 3}
    return sorted(problems, key=lambda p: (order.get(p.sheet, 4), p.sheet, p.row or 0, p.column or ""))


def analyse(db: Database, actor: Actor, source: str | Path | bytes | BinaryIO, file: str | None = None,
            limits: Limits | None = None) -> OrgImport:
    """Dry run: every problem, or the diff (units, people and divisions added, changed field by field,
    deactivated). Writes nothing."""
    access.require(actor, "manage_units")
    result, sheets = _open(source, file, limits)
    if sheets is None:
        return result
    with db.read() as cur:
        problems, plan = _analyse(cur, actor, sheets)
    result.problems = _sort(result.problems + problems)
    if plan is not None and not result.problems:
        result.diff = plan.diff
    return result


def commit(db: Database, actor: Actor, source: str | Path | bytes | BinaryIO, file: str | None = None,
           limits: Limits | None = None) -> OrgImport:
    """Write the whole file in ONE transaction, or nothing: divisions, units and their heads, people; new
    accounts get a one-time password (returned once) or, when single sign-on is configured, none."""
    access.require(actor, "manage_units")
    result, sheets = _open(source, file, limits)
    if sheets is None:
        return result
    sso = settings.read("ITSCM_SSO_MAPPING") is not None
    with db.read() as cur:
        problems, plan = _analyse(cur, actor, sheets)
    if result.problems or problems:  # every problem at once, the file's and the rows'
        result.problems = _sort(result.problems + problems)
        return result
    # argon2 runs before the transaction (which may be retried); generated passwords use the light hash.
    fresh = {} if sso or plan is None else {u: users.generate_password() for u in plan.new_people["username"]}
    hashes = {u: passwords.hash_generated(p) for u, p in fresh.items()}

    def work(cur) -> OrgImport:
        problems, plan = _analyse(cur, actor, sheets)
        if problems or plan is None:
            raise _Refused(OrgImport(result.file, result.sha256, _sort(problems)))
        at = clock.now()
        new = plan.new_people.with_columns(
            pl.col("username").replace_strict(hashes, default=None, return_dtype=pl.String).alias("password_hash"))
        org_sql.upsert_divisions(cur, plan.divisions)
        org_sql.insert_users(cur, new, at)
        org_sql.update_users(cur, plan.changed_people)
        gone = plan.changed_people.filter(~pl.col("active"))["username"].to_list()
        org_sql.end_sessions(cur, gone, at, "user disabled")
        people = org_sql.people(cur)
        org.write_units(cur, plan.units, dict(zip(people["username"], people["display_name"])))
        org.placement_changes(cur, plan.units["unit_id"].to_list())
        if plan.diff.height:
            audit.record(cur, actor, "organisation.import", "organisation", result.file,
                         after={"file": result.file, "sha256": result.sha256, "changes": plan.diff.to_dicts(),
                                "accounts_created": new["username"].to_list(), "sso_only": sso})
        done = OrgImport(result.file, result.sha256, [], plan.diff, True)
        done.passwords = {u: fresh[u] for u in new["username"] if u in fresh}
        done.sso_only = new["username"].to_list() if sso else []
        return done

    try:
        return db.transaction(work)
    except _Refused as refused:
        return refused.result
