"""The service register workbook: export, template and import (safe, validated, dry-run diff, all-or-nothing).

The workbook has a Services sheet (one row per service, recovery objectives as durations such as "4 h"), a
Dependencies sheet (a service's full set of dependencies: what the file lists replaces what is stored), the
Suppliers and Sites known to the application (for reference, not read back), Instructions and a hidden _meta.

Import: safety.check_workbook before any parser, cell values read as text (reading), every problem at once
naming its sheet, row, column and cell; the register rules are service_checks.validate_services over the
register as it would be after the import (the rows of the file plus the stored services it leaves alone), so
an RTO inversion or a cycle through stored services is found too. A row carries the revision it was exported
at: a service changed in the application since then is a conflict and is never overwritten. The dry run is
`analyse`; `commit` re-runs the analysis and writes every change in ONE transaction through the engine
(services.create_in / update_in / deactivate_in: each change is a new version with its audit entry).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import polars as pl
import polars.selectors as cs
import xlsxwriter

from .. import __version__, access, audit, durations
from .. import services as services_engine
from ..errors import EngineError
from ..model import Actor, Dependency, Service
from ..reports import Filters
from ..service_checks import DEPENDENCIES, validate_services
from ..storage import Database
from ..storage import catalog as catalog_sql
from ..storage import services as services_sql
from .export import Col, Formats, write_key_values, write_table
from .format import META_SHEET, generated_now
from .reading import (
    FILE,
    Problem,
    Sheet,
    formula_problems,
    open_reader,
    problems_frame,
    read_sheet,
    unexpected_sheets,
    whole_number,
)
from .safety import Limits, UnsafeWorkbook, check_workbook, from_literal, from_literal_expr

KIND = "service-register"
FORMAT_VERSION = "1"
SERVICES_SHEET, DEPS_SHEET = "Services", "Dependencies"
SHEETS = ("Instructions", SERVICES_SHEET, DEPS_SHEET, "Suppliers", "Sites", META_SHEET)
ACTIONS = ("added", "changed", "deactivated", "unchanged")
YES, NO = frozenset({"yes", "y", "true", "1"}), frozenset({"no", "n", "false", "0"})

# Services sheet: header, key in the typed frame, cell kind on export.
SERVICE_COLS = [
    Col("Service ID", "service_id", width=14), Col("Name", "name", width=28), Col("Unit ID", "unit_id", width=12),
    Col("Owner", "owner", width=16), Col("Recovery tier", "recovery_tier", "int", 9),
    Col("Business activity", "activity", width=26), Col("MTPD", "mtpd", width=10), Col("RTO", "rto", width=10),
    Col("RPO", "rpo", width=10), Col("Holds data", "holds_data", "bool", 8),
    Col("Minimum service level", "min_service_level", width=22), Col("Approved by", "approved_by", width=18),
    Col("Approved on", "approved_on", "date", 12), Col("Next review", "next_review", "date", 12),
    Col("Revision", "revision", "int", 9), Col("Deactivate (reason)", "deactivate", width=24),
]
DEP_COLS = [
    Col("Service ID", "service_id", width=14), Col("Kind", "kind", width=10), Col("Depends on", "target_id", width=14),
    Col("Name (not read)", "target", width=26), Col("Note", "note", width=30),
    Col("Accepted inversion (reason)", "accepted_inversion", width=30),
]
REQUIRED = {SERVICES_SHEET: ("Service ID", "Name", "Unit ID", "Owner", "Recovery tier", "MTPD", "RTO", "RPO"),
            DEPS_SHEET: ("Service ID", "Kind", "Depends on")}
HEADER = {SERVICES_SHEET: {c.key: c.header for c in SERVICE_COLS}, DEPS_SHEET: {c.key: c.header for c in DEP_COLS}}
for _m in ("mtpd", "rto", "rpo"):
    HEADER[SERVICES_SHEET][f"{_m}_minutes"] = HEADER[SERVICES_SHEET][_m]
# Fields a change is named by in the diff (the dependency set counts as one field).
COMPARED = ("name", "unit_id", "owner", "recovery_tier", "activity", "mtpd_minutes", "rto_minutes", "rpo_minutes",
            "holds_data", "min_service_level", "approved_by", "approved_on", "next_review", "dependencies")
DIFF_SCHEMA = {"row": pl.Int64, "service_id": pl.String, "action": pl.String, "fields": pl.String}
CHANGE_SCHEMA = {"row": pl.Int64, "service_id": pl.String, "field": pl.String, "before": pl.String,
                 "after": pl.String}


@dataclass
class RegisterImport:
    """What an import found: problems (nothing is written while there are any), the diff per service and
    field by field, and after a commit how many versions were written."""

    file: str
    sha256: str | None = None
    size: int = 0
    problems: list[Problem] = field(default_factory=list)
    diff: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DIFF_SCHEMA))
    changes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CHANGE_SCHEMA))
    committed: bool = False
    written: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(ACTIONS, 0)
        for action, n in self.diff.group_by("action").len().iter_rows():
            counts[action] = n
        return counts

    def summary_text(self) -> str:
        s = self.summary
        text = ", ".join(f"{s[a]} {a}" for a in ACTIONS)
        return text + (f"; {self.written} service version(s) saved" if self.committed else "")

    def problems_frame(self) -> pl.DataFrame:
        return problems_frame(self.problems)


class _Refused(EngineError):
    def __init__(self, result: RegisterImport):
        self.result = result
        super().__init__("; ".join(str(p) for p in result.problems[:5]))


# ------------------------------------------------------------------------------------------------ export


def _services_frame(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(*[durations.expr(pl.col(f"{m}_minutes")).alias(m) for m in ("mtpd", "rto", "rpo")],
                           pl.lit(None, dtype=pl.String).alias("deactivate"))


def _instructions(actor: Actor, generated: datetime, services: int) -> list[tuple[str, object]]:
    return [
        ("Document", "ITSCM service register (services, recovery objectives and dependencies)"),
        ("Generated at (UTC)", generated), ("Generated by", actor.username), ("Services", services),
        ("Application version", f"itscm {__version__}"),
        ("Services sheet", "One row per service. MTPD, RTO and RPO are durations: 30m, 4h, 2d, 1w, 1h30m or "
                           "ISO 8601 PT4H. Holds data: yes or no (a service holding data needs an RPO). Recovery "
                           "tier: 1 is the most critical. Leave Revision as exported: it tells the import which "
                           "version you edited, and a service changed in the application since then is refused "
                           "as a conflict. New services have no revision. To take a service out of the register, "
                           "give the reason under 'Deactivate (reason)'."),
        ("Dependencies sheet", "A service's dependencies, one per row: Kind is service, supplier or site; Depends "
                               "on is its id. The rows listed for a service replace all its stored dependencies "
                               "(a service on the Services sheet without rows here depends on nothing). An RTO "
                               "inversion (depending on a service with a longer RTO) is refused unless the reason "
                               "it is accepted is given."),
        ("Suppliers, Sites", "The ids known to the application, for reference; they are not imported."),
        ("Import", "itscm services import FILE --dry-run shows every problem or what would change; without "
                   "--dry-run every change is saved at once, or nothing is."),
    ]


def write_register(db: Database, actor: Actor, out: str | Path | BinaryIO, filters: Filters | None = None, *,
                   template: bool = False) -> int:
    """Write the register workbook of the services the actor may read (an empty one when `template`);
    returns the number of services written."""
    access.require(actor, "read")
    if template:
        services = _services_frame(pl.DataFrame(schema=services_sql.SERVICE_SCHEMA))
        deps = pl.DataFrame(schema={c.key: pl.String for c in DEP_COLS})
    else:
        services = _services_frame(services_engine.list_services(db, actor, filters))
        deps = services_engine.list_dependencies(db, actor, filters)
    suppliers, sites = services_engine.suppliers(db, actor), services_engine.sites(db, actor)
    generated = generated_now()
    wb = xlsxwriter.Workbook(str(out) if isinstance(out, Path) else out, {
        "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
        "strings_to_numbers": False, "remove_timezone": True})
    try:
        f = Formats(wb)
        write_key_values(wb, f, "Instructions", "ITSCM service register", _instructions(actor, generated,
                                                                                         services.height))
        write_table(wb, f, SERVICES_SHEET, SERVICE_COLS, services, freeze_cols=1)
        write_table(wb, f, DEPS_SHEET, DEP_COLS, deps, freeze_cols=1)
        write_table(wb, f, "Suppliers", [Col("Supplier ID", "supplier_id", width=14), Col("Name", "name", width=30)],
                    suppliers)
        write_table(wb, f, "Sites", [Col("Site ID", "site_id", width=14), Col("Name", "name", width=30)], sites)
        write_key_values(wb, f, META_SHEET, None, [("kind", KIND), ("format_version", FORMAT_VERSION),
                                                   ("generated_at", generated.isoformat()),
                                                   ("generated_by", actor.username)], hide=True)
    finally:
        wb.close()
    return services.height


def register_bytes(db: Database, actor: Actor, filters: Filters | None = None, *, template: bool = False) -> bytes:
    buf = io.BytesIO()
    write_register(db, actor, buf, filters, template=template)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class _Parsed:
    services: pl.DataFrame      # typed Services rows (row = sheet row)
    deps: pl.DataFrame          # typed Dependencies rows
    sheets: dict[str, Sheet]


def _text(df: pl.DataFrame, header: str) -> pl.Expr:
    if header not in df.columns:
        return pl.lit(None, dtype=pl.String)
    t = from_literal_expr(pl.col(header)).str.strip_chars()
    return pl.when(t == "").then(None).otherwise(t)


def _date(df: pl.DataFrame, header: str) -> pl.Expr:
    return (_text(df, header).str.extract(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[ T][0-9:.]+)?$")
            .str.to_date("%Y-%m-%d", strict=False))


def _nonblank(df: pl.DataFrame) -> pl.DataFrame:
    cols = [c for c in df.columns if c != "row"]
    if not cols:
        return df
    return df.filter(pl.any_horizontal([pl.col(c).str.strip_chars().fill_null("") != "" for c in cols]))


def _typed_services(sheet: Sheet, problems: list[Problem]) -> pl.DataFrame:
    df = _nonblank(sheet.frame)
    holds = _text(df, "Holds data").str.to_lowercase()
    typed = df.select(
        "row", *[_text(df, c.header).alias(c.key) for c in SERVICE_COLS if c.kind == "text" and c.key not in
                 ("mtpd", "rto", "rpo", "deactivate")],
        whole_number(_text(df, "Recovery tier")).alias("recovery_tier"),
        _text(df, "Recovery tier").alias("_tier_text"),
        pl.when(holds.is_null()).then(True).when(holds.is_in(list(YES))).then(True)
        .when(holds.is_in(list(NO))).then(False).alias("holds_data"), holds.alias("_holds_text"),
        _date(df, "Approved on").alias("approved_on"), _text(df, "Approved on").alias("_approved_text"),
        _date(df, "Next review").alias("next_review"), _text(df, "Next review").alias("_review_text"),
        whole_number(_text(df, "Revision"), signed=False).alias("revision"), _text(df, "Revision").alias("_rev_text"),
        _text(df, "Deactivate (reason)").alias("deactivate"),
        *[_text(df, m.upper()).alias(f"_{m}_text") for m in ("mtpd", "rto", "rpo")],
    )
    for m in ("mtpd", "rto", "rpo"):
        minutes, why = durations.parse_column(typed[f"_{m}_text"])
        typed = typed.with_columns(minutes.alias(f"{m}_minutes"))
        for row, message in zip(typed["row"], why):
            if message is not None:
                problems.append(sheet.at(row, m.upper(), message))
    bad = [("_tier_text", "recovery_tier", "Recovery tier", "a recovery tier is a whole number"),
           ("_holds_text", "holds_data", "Holds data", "write yes or no"),
           ("_approved_text", "approved_on", "Approved on", "not a date: write it as YYYY-MM-DD"),
           ("_review_text", "next_review", "Next review", "not a date: write it as YYYY-MM-DD"),
           ("_rev_text", "revision", "Revision", "not a revision number: leave it as exported")]
    for raw, key, header, message in bad:
        for row, text in typed.filter(pl.col(raw).is_not_null() & pl.col(key).is_null()).select("row", raw).iter_rows():
            problems.append(sheet.at(row, header, f"{text!r}: {message}"))
    return typed.drop(cs.starts_with("_"))


def _typed_deps(sheet: Sheet) -> pl.DataFrame:
    df = _nonblank(sheet.frame)
    return df.select("row", *[_text(df, c.header).alias(c.key) for c in DEP_COLS if c.key != "target"]
                     ).with_columns(pl.col("kind").str.to_lowercase())


def _parse(checked) -> tuple[_Parsed | None, list[Problem]]:
    reader = open_reader(checked)
    names = reader.sheet_names
    problems = [Problem(s, None, None, f"missing sheet {s!r}: import a service register workbook made by this "
                                       "application (itscm services template)")
                for s in (SERVICES_SHEET, DEPS_SHEET, META_SHEET) if s not in names]
    if problems:
        return None, problems
    meta = read_sheet(reader, checked, META_SHEET, header=False).frame.drop("row")
    values = {from_literal(k).strip(): from_literal(v or "").strip()
              for k, v in meta.select(meta.columns[:2]).iter_rows() if k} if meta.width >= 2 else {}
    if values.get("kind") != KIND:
        problems.append(Problem(META_SHEET, None, "kind", f"this is not a service register workbook (kind "
                                                          f"{values.get('kind')!r})"))
    elif values.get("format_version") != FORMAT_VERSION:
        problems.append(Problem(META_SHEET, None, "format_version", f"format version {values.get('format_version')!r}"
                                f" is not supported (expected {FORMAT_VERSION}): export a new workbook"))
    sheets = {s: read_sheet(reader, checked, s) for s in (SERVICES_SHEET, DEPS_SHEET)}
    problems += unexpected_sheets(checked, SHEETS, "a service register workbook",
                                  "the Services and Dependencies sheets")
    problems += formula_problems(checked, sheets)
    for name, sheet in sheets.items():
        problems += [Problem(name, sheet.header_row, h, f"missing column {h!r}") for h in REQUIRED[name]
                     if h not in sheet.frame.columns]
    if any(p.message.startswith("missing column") for p in problems):
        return None, problems
    parsed = _Parsed(_typed_services(sheets[SERVICES_SHEET], problems), _typed_deps(sheets[DEPS_SHEET]), sheets)
    if parsed.services.height == 0:
        problems.append(Problem(SERVICES_SHEET, None, None, "the Services sheet has no service rows: nothing to "
                                                            "import"))
    return parsed, problems


# --------------------------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class _Stored:
    services: pl.DataFrame      # every stored service, current version, active or not
    deps: pl.DataFrame          # dependencies of the current versions of active services
    units: list[str]
    suppliers: list[str]
    sites: list[str]


def _read_stored(cur) -> _Stored:
    return _Stored(services_sql.current(cur, include_inactive=True), services_sql.current_dependencies(cur),
                   catalog_sql.units(cur)["unit_id"].to_list(),
                   services_sql.register(cur, "supplier")["supplier_id"].to_list(),
                   services_sql.register(cur, "site")["site_id"].to_list())


def _row_checks(actor: Actor, p: _Parsed, stored: _Stored) -> list[Problem]:
    """What the register rules cannot know: rights, revisions, deactivation, dependencies of unlisted services.
    Each check is a filter over the whole sheet; only the rows it hits become problems."""
    sheet, deps_sheet = p.sheets[SERVICES_SHEET], p.sheets[DEPS_SHEET]
    s = p.services.join(stored.services.select("service_id", pl.col("unit_id").alias("_unit"),
                                               pl.col("revision").alias("_rev"), pl.col("active").alias("_active"),
                                               pl.col("updated_by").alias("_by"), pl.col("updated_at").alias("_at")),
                        on="service_id", how="left")
    units = pl.concat([s.select("row", pl.col("unit_id").alias("u")), s.select("row", pl.col("_unit").alias("u"))]
                      ).drop_nulls("u").unique(maintain_order=True)
    refused = [u for u in units["u"].unique().to_list() if not access.allowed(actor, "manage_services", u)]
    sid, rev, stored_rev = pl.col("service_id").fill_null("(no id)"), pl.col("revision"), pl.col("_rev")
    checks: list[tuple[Sheet, pl.DataFrame, str, pl.Expr, pl.Expr]] = [
        (sheet, units, "Unit ID", pl.col("u").is_in(refused),
         pl.format(f"{actor.username} may not maintain the services of unit {{}}", "u")),
        (sheet, s, "Deactivate (reason)", stored_rev.is_null() & pl.col("deactivate").is_not_null(),
         pl.format("{} is not in the register: nothing to deactivate", sid)),
        (sheet, s, "Revision", stored_rev.is_null() & rev.is_not_null(),
         pl.format("{} is not in the register, so it has no revision: clear the cell to add it as a new service",
                   sid)),
        (sheet, s, "Service ID", stored_rev.is_not_null() & ~pl.col("_active").fill_null(True),
         pl.format("{} was deactivated; its id cannot be used again", sid)),
        (sheet, s, "Revision", pl.col("_active").fill_null(False) & rev.is_not_null() & (rev != stored_rev),
         pl.format("conflict: {} was changed by {} at {} UTC after this file was exported (revision {}, the file "
                   "has {}); it is not overwritten: export the register again", sid, "_by",
                   pl.col("_at").dt.strftime("%Y-%m-%d %H:%M"), stored_rev, rev)),
        (deps_sheet, p.deps, "Service ID", ~pl.col("service_id").is_in(s["service_id"].drop_nulls().implode()),
         pl.format("{} is not on the Services sheet: a service's dependencies are replaced as a whole, so list the "
                   "service too", sid)),
    ]
    out = []
    for where, df, header, bad, message in checks:
        hit = df.filter(bad.fill_null(False)).select("row", message.alias("m"))
        out += [where.at(row, header, m) for row, m in hit.iter_rows()]
    return out


def _register_checks(p: _Parsed, stored: _Stored) -> list[Problem]:
    """service_checks over the register as it would be after the import, problems mapped to the file's cells."""
    listed = p.services["service_id"].drop_nulls().unique()
    keep = p.services.filter(pl.col("deactivate").is_null())
    kept_ids = keep["service_id"].drop_nulls().implode()
    file_deps = p.deps.filter(pl.col("service_id").is_in(kept_ids))
    rest = stored.services.filter(pl.col("active") & ~pl.col("service_id").is_in(listed.implode()))
    rest_deps = stored.deps.filter(~pl.col("service_id").is_in(listed.implode()))
    services = pl.concat([keep.drop("row", "revision", "deactivate", strict=False),
                          rest.select(keep.drop("row", "revision", "deactivate").columns)], how="vertical_relaxed")
    cols = ["service_id", "kind", "target_id", "accepted_inversion"]
    deps = pl.concat([file_deps.select(cols), rest_deps.select(cols)], how="vertical_relaxed")
    found = validate_services(services, deps, stored.units, stored.suppliers, stored.sites)
    ids = set(listed.to_list())
    out = []
    for prob in found:
        table = DEPS_SHEET if prob.table == DEPENDENCIES else SERVICES_SHEET
        frame = file_deps if table == DEPS_SHEET else keep
        if prob.row < frame.height:
            out.append(p.sheets[table].at(frame["row"][prob.row], HEADER[table].get(prob.field, prob.field),
                                          prob.message))
        elif ids.intersection(prob.services):  # a stored service the file's changes break
            out.append(Problem(table, None, HEADER[table].get(prob.field, prob.field),
                               f"in the register, {prob.service_id}: {prob.message}"))
    return out


def _deps_text(deps: pl.DataFrame) -> pl.DataFrame:
    """service_id -> its dependency set as one comparable text."""
    item = pl.format("{} {}{}{}", "kind", "target_id",
                     pl.when(pl.col("note").is_not_null()).then(pl.format(" ({})", "note")).otherwise(pl.lit("")),
                     pl.when(pl.col("accepted_inversion").is_not_null())
                     .then(pl.format(" [accepted: {}]", "accepted_inversion")).otherwise(pl.lit("")))
    return deps.group_by("service_id").agg(item.sort().str.join("; ").alias("dependencies"))


def _shown(field: str, col: str) -> pl.Expr:
    """A compared field as text for the diff: durations as "4 h", yes/no."""
    if field.endswith("_minutes"):
        return durations.expr(pl.col(col))
    if field == "holds_data":
        return pl.when(pl.col(col)).then(pl.lit("yes")).when(pl.col(col).is_not_null()).then(pl.lit("no"))
    return pl.col(col).cast(pl.String)


def _diff(p: _Parsed, stored: _Stored) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per file row: added, changed (with every field that changes), deactivated or unchanged."""
    new = p.services.join(_deps_text(p.deps), on="service_id", how="left").with_columns(
        pl.col("dependencies").fill_null(""))
    old = stored.services.filter(pl.col("active")).join(_deps_text(stored.deps), on="service_id", how="left"
                                                        ).with_columns(pl.col("dependencies").fill_null(""))
    old = old.select("service_id", pl.lit(True).alias("_stored"), *[pl.col(c).alias(f"{c}_old") for c in COMPARED])
    j = new.join(old, on="service_id", how="left").with_columns(pl.col("_stored").fill_null(False))
    differs = {c: ~pl.col(c).eq_missing(pl.col(f"{c}_old")) for c in COMPARED}
    fields = pl.concat_str([pl.when(d).then(pl.lit(c)) for c, d in differs.items()], separator=", ",
                           ignore_nulls=True).fill_null("")
    action = (pl.when(~pl.col("_stored")).then(pl.lit("added"))
              .when(pl.col("deactivate").is_not_null()).then(pl.lit("deactivated"))
              .when(pl.any_horizontal(list(differs.values()))).then(pl.lit("changed"))
              .otherwise(pl.lit("unchanged")))
    j = j.with_columns(action.alias("action"), fields.alias("fields"))
    diff = j.select("row", "service_id", "action",
                    pl.when(pl.col("action") == "changed").then("fields").otherwise(pl.lit("")).alias("fields"))
    long = pl.concat([j.filter((pl.col("action") == "changed") & d).select(
        "row", "service_id", pl.lit(c).alias("field"), _shown(c, f"{c}_old").alias("before"),
        _shown(c, c).alias("after"))
        for c, d in differs.items()], how="vertical_relaxed")
    return diff.sort("row"), long.sort("row", "field")


def _analyse(cur, actor: Actor, p: _Parsed, result: RegisterImport) -> None:
    stored = _read_stored(cur)
    result.problems += _row_checks(actor, p, stored) + _register_checks(p, stored)
    result.problems.sort(key=lambda x: (x.sheet != FILE, x.sheet != SERVICES_SHEET, x.sheet, x.row or 0,
                                        x.column or ""))
    if result.problems:
        return
    diff, changes = _diff(p, stored)
    unversioned = diff.filter(pl.col("action").is_in(["changed", "deactivated"])).join(
        p.services.select("row", "revision"), on="row").filter(pl.col("revision").is_null())
    result.problems += [p.sheets[SERVICES_SHEET].at(row, "Revision", f"{sid} is already in the register: edit the "
                                                    "row of an export (its Revision says which version you changed)")
                        for row, sid in unversioned.select("row", "service_id").iter_rows()]
    if not result.problems:
        result.diff, result.changes = diff.select(list(DIFF_SCHEMA)), changes.select(list(CHANGE_SCHEMA))


def _open(source, file: str | None, limits: Limits | None) -> tuple[RegisterImport, _Parsed | None]:
    name = file or (Path(source).name if isinstance(source, str | Path) else "upload.xlsx")
    result = RegisterImport(name)
    try:
        checked = check_workbook(source, name, limits)
        result.sha256, result.size = checked.sha256, checked.size
        parsed, problems = _parse(checked)
    except UnsafeWorkbook as exc:
        result.problems.append(Problem(FILE, None, None, exc.reason))
        return result, None
    result.problems += problems
    # Values that could not be read are reported and left empty: the register rules still run on the rest.
    return result, parsed if parsed is not None and parsed.services.height else None


def analyse(db: Database, actor: Actor, source: str | Path | BinaryIO | bytes, file: str | None = None,
            limits: Limits | None = None) -> RegisterImport:
    """Dry run: every problem, or what commit would change (diff, and changes field by field). Writes nothing."""
    access.require(actor, "manage_services")
    result, parsed = _open(source, file, limits)
    if parsed is not None:
        with db.read() as cur:
            _analyse(cur, actor, parsed, result)
    return result


def commit(db: Database, actor: Actor, source: str | Path | BinaryIO | bytes, file: str | None = None,
           limits: Limits | None = None) -> RegisterImport:
    """Write every added, changed and deactivated service in ONE transaction, or nothing (result.problems)."""
    access.require(actor, "manage_services")
    opened, parsed = _open(source, file, limits)
    if parsed is None:
        return opened

    def work(cur) -> RegisterImport:
        result = RegisterImport(opened.file, opened.sha256, opened.size, list(opened.problems))
        _analyse(cur, actor, parsed, result)
        if result.problems:
            raise _Refused(result)
        result.written = _write(cur, actor, parsed, result.diff)
        if result.written:
            audit.record(cur, actor, "services.import", "service_register", result.file, after={
                "file": result.file, "sha256": result.sha256, "bytes": result.size, **result.summary,
                "deactivated_because": dict(parsed.services.filter(pl.col("deactivate").is_not_null())
                                            .select("service_id", "deactivate").iter_rows())})
        result.committed = True
        return result

    try:
        return db.transaction(work)
    except _Refused as refused:
        return refused.result


def _as_service(r: dict, deps: list[Dependency]) -> Service:
    return Service(r["service_id"], r["name"], r["unit_id"], r["owner"], r["recovery_tier"], r["activity"] or "",
                   r["mtpd_minutes"], r["rto_minutes"], r["rpo_minutes"], r["holds_data"],
                   r["min_service_level"] or "", r["approved_by"] or "", r["approved_on"], r["next_review"],
                   tuple(deps))


def _write(cur, actor: Actor, p: _Parsed, diff: pl.DataFrame) -> int:
    """Each change through the engine, inside this transaction; the register was validated as a whole
    (as it will be after every write), so the per-service check is not repeated."""
    todo = diff.filter(pl.col("action") != "unchanged").select("row", "action")
    if todo.height == 0:
        return 0
    rows = todo.join(p.services, on="row")
    deps: dict[str, list[Dependency]] = {}
    wanted = rows["service_id"].implode()
    for sid, kind, target, note, acc in p.deps.filter(pl.col("service_id").is_in(wanted)).select(
            "service_id", "kind", "target_id", "note", "accepted_inversion").iter_rows():
        deps.setdefault(sid, []).append(Dependency(kind, target, note or "", acc or ""))
    for r in rows.iter_rows(named=True):
        sid = r["service_id"]
        if r["action"] == "added":
            services_engine.create_in(cur, actor, _as_service(r, deps.get(sid, [])), check=False)
        elif r["action"] == "changed":
            services_engine.update_in(cur, actor, _as_service(r, deps.get(sid, [])), base_revision=r["revision"],
                                      check=False)
        else:
            services_engine.deactivate_in(cur, actor, sid, base_revision=r["revision"], check=False)
    return rows.height
