"""The service register through the engine: suppliers, sites, services with their recovery objectives and
dependencies (create, update with stale-write detection, deactivate), every version kept, as-of reads."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any

import polars as pl

from . import access, audit, clock
from .catalog import campaign_row
from .errors import InvalidState, NotFound, StaleWrite, ValidationError
from .model import Actor, Dependency, Service
from .reports import Filters, scope_for
from .reuse import reused
from .service_checks import ID_PATTERN, validate_services
from .storage import Database
from .storage import catalog as catalog_sql
from .storage import services as services_sql

_ID = re.compile(ID_PATTERN)


def end_of_day(d: date) -> datetime:
    """The last moment of a day: a version recorded on that day is valid "at" it."""
    return datetime.combine(d, time.max)


@reused
def cycle_as_of(db: Database, campaign_id: str) -> datetime:
    """The moment a cycle looks at the register: its close date when closed, now while it is open (one
    moment per build of a composite document, so its sheets read the register as of the same instant)."""
    c = campaign_row(db, campaign_id)
    if c is None:
        raise NotFound(f"unknown campaign {campaign_id!r}")
    return end_of_day(c["closes_on"]) if c["status"] == "closed" else clock.now()


# ---- suppliers and sites ---------------------------------------------------------------------------------

def _register_entry(db: Database, actor: Actor, kind: str, entry_id: str, name: str, *, create: bool) -> None:
    access.require(actor, "manage_suppliers")
    entry_id, name = entry_id.strip(), name.strip()
    problems = [] if _ID.match(entry_id) else [f"{kind}_id: {entry_id!r} is not a usable id: letters, digits, "
                                               "'.', '_' or '-', at most 64"]
    if not name:
        problems.append(f"name: a {kind} needs a name")
    if problems:
        raise ValidationError(problems, f"{kind} {entry_id}")

    def work(cur) -> None:
        before = services_sql.register_entry(cur, kind, entry_id)
        if create and before:
            raise InvalidState(f"{kind} {entry_id!r} already exists")
        if not create and not before:
            raise NotFound(f"unknown {kind} {entry_id!r}")
        at = clock.now()
        if create:
            services_sql.insert_register_entry(cur, kind, entry_id, name, at, actor.username)
        else:
            services_sql.rename_register_entry(cur, kind, entry_id, name, at, actor.username)
        audit.record(cur, actor, f"{kind}.{'create' if create else 'rename'}", kind, entry_id,
                     before={"name": before["name"]} if before else None, after={"name": name})

    db.transaction(work)


def create_supplier(db: Database, actor: Actor, *, supplier_id: str, name: str) -> None:
    _register_entry(db, actor, "supplier", supplier_id, name, create=True)


def rename_supplier(db: Database, actor: Actor, *, supplier_id: str, name: str) -> None:
    _register_entry(db, actor, "supplier", supplier_id, name, create=False)


def create_site(db: Database, actor: Actor, *, site_id: str, name: str) -> None:
    _register_entry(db, actor, "site", site_id, name, create=True)


def rename_site(db: Database, actor: Actor, *, site_id: str, name: str) -> None:
    _register_entry(db, actor, "site", site_id, name, create=False)


def suppliers(db: Database, actor: Actor) -> pl.DataFrame:
    access.require(actor, "read")
    with db.read() as cur:
        return services_sql.register(cur, "supplier")


def sites(db: Database, actor: Actor) -> pl.DataFrame:
    access.require(actor, "read")
    with db.read() as cur:
        return services_sql.register(cur, "site")


# ---- services ----------------------------------------------------------------------------------------------

def _text(value: str) -> str | None:
    return value.strip() or None


def _version(s: Service, revision: int, at: datetime, by: str, active: bool = True) -> dict:
    return {"service_id": s.service_id.strip(), "revision": revision, "name": s.name.strip(),
            "unit_id": s.unit_id.strip(), "owner": s.owner.strip(), "recovery_tier": s.recovery_tier,
            "activity": _text(s.activity), "mtpd_minutes": s.mtpd_minutes, "rto_minutes": s.rto_minutes,
            "rpo_minutes": s.rpo_minutes, "holds_data": bool(s.holds_data),
            "min_service_level": _text(s.min_service_level), "approved_by": _text(s.approved_by),
            "approved_on": s.approved_on, "next_review": s.next_review, "active": active, "updated_at": at,
            "updated_by": by}


def _deps_frame(service_id: str, revision: int, deps: tuple[Dependency, ...]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"service_id": service_id, "revision": revision, "kind": d.kind.strip(), "target_id": d.target_id.strip(),
          "note": _text(d.note), "accepted_inversion": _text(d.accepted_inversion)} for d in deps],
        schema=services_sql.DEPENDENCY_SCHEMA)


def _service_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=services_sql.SERVICE_SCHEMA)


def _check(cur, row: dict, deps: pl.DataFrame) -> None:
    """Validate the register as it would be after this write, reporting the problems this service is in."""
    sid = row["service_id"]
    current = services_sql.current(cur).filter(pl.col("service_id") != sid)
    current_deps = services_sql.current_dependencies(cur).filter(pl.col("service_id") != sid)
    if row["active"]:
        current = pl.concat([current, _service_frame([row])], how="vertical_relaxed")
        current_deps = pl.concat([current_deps, deps], how="vertical_relaxed")
    units = catalog_sql.units(cur)["unit_id"].to_list()
    problems = validate_services(current, current_deps, units,
                                 services_sql.register(cur, "supplier")["supplier_id"].to_list(),
                                 services_sql.register(cur, "site")["site_id"].to_list(), focus=[sid])
    if problems:
        raise ValidationError([str(p) for p in problems], f"service {sid}")


def _public(row: dict, deps: pl.DataFrame) -> dict:
    out = {k: row[k] for k in services_sql.SERVICE_COLS if k not in ("updated_at", "updated_by")}
    out["dependencies"] = deps.select("kind", "target_id", "note", "accepted_inversion").to_dicts()
    return out


def _write(cur, actor: Actor, row: dict, deps: pl.DataFrame, change: str, before: dict | None) -> int:
    """Store a new version (current row, history, its dependencies) and its audit entry."""
    if before is None:
        services_sql.insert_current(cur, _service_frame([row]))
    else:
        services_sql.update_current(cur, row)
    services_sql.append_versions(cur, _service_frame([row]), change)
    services_sql.insert_dependencies(cur, deps)
    audit.record(cur, actor, f"service.{change}", "service", row["service_id"],
                 before=_public(before, before["_deps"]) if before else None, after=_public(row, deps))
    return row["revision"]


def create_service(db: Database, actor: Actor, service: Service) -> int:
    """Add a service to the register (revision 1); ValidationError lists every problem it would bring."""
    access.require(actor, "manage_services", service.unit_id.strip())
    return db.transaction(lambda cur: create_in(cur, actor, service))


def create_in(cur, actor: Actor, service: Service, *, check: bool = True) -> int:
    """create_service inside the caller's transaction (an import writes many services in one); `check=False`
    when the caller has already validated the register as it will be after all its writes."""
    access.require(actor, "manage_services", service.unit_id.strip())
    if services_sql.service(cur, service.service_id.strip()):
        raise InvalidState(f"service {service.service_id!r} already exists: update it instead")
    row = _version(service, 1, clock.now(), actor.username)
    deps = _deps_frame(row["service_id"], 1, service.dependencies)
    if check:
        _check(cur, row, deps)
    return _write(cur, actor, row, deps, "create", None)


def _current_for_write(cur, actor: Actor, service_id: str, base_revision: int) -> dict:
    before = services_sql.service(cur, service_id)
    if before is None:
        raise NotFound(f"unknown service {service_id!r}")
    access.require(actor, "manage_services", before["unit_id"])
    if before["revision"] != base_revision:
        raise StaleWrite(
            f"service {service_id} was changed by {before['updated_by']} at {before['updated_at']:%Y-%m-%d %H:%M} "
            f"UTC (revision {before['revision']}, you started from {base_revision}). Your input is kept: "
            "review their change, then save again.",
            [{"service_id": service_id, "by": before["updated_by"], "at": before["updated_at"],
              "revision": before["revision"]}])
    if not before["active"]:
        raise InvalidState(f"service {service_id} is deactivated")
    deps = services_sql.version_dependencies(cur, service_id).filter(pl.col("revision") == before["revision"])
    before["_deps"] = deps
    return before


def update_service(db: Database, actor: Actor, service: Service, *, base_revision: int) -> int:
    """Replace a service's fields and dependencies; StaleWrite if it changed since `base_revision`.
    Returns the new revision; the old version stays in the history."""
    access.require(actor, "manage_services", service.unit_id.strip())
    return db.transaction(lambda cur: update_in(cur, actor, service, base_revision=base_revision))


def update_in(cur, actor: Actor, service: Service, *, base_revision: int, check: bool = True) -> int:
    """update_service inside the caller's transaction (see create_in for `check`)."""
    access.require(actor, "manage_services", service.unit_id.strip())
    before = _current_for_write(cur, actor, service.service_id.strip(), base_revision)
    row = _version(service, before["revision"] + 1, clock.now(), actor.username)
    deps = _deps_frame(row["service_id"], row["revision"], service.dependencies)
    if check:
        _check(cur, row, deps)
    return _write(cur, actor, row, deps, "update", before)


def deactivate_service(db: Database, actor: Actor, service_id: str, *, base_revision: int, reason: str) -> int:
    """Take a service out of the register (its history stays); refused while others depend on it."""
    if not reason.strip():
        raise ValidationError(["reason: say why the service leaves the register"], f"service {service_id}")
    access.require(actor, "manage_services")  # and, once the service is read, for its unit
    return db.transaction(lambda cur: deactivate_in(cur, actor, service_id, base_revision=base_revision))


def deactivate_in(cur, actor: Actor, service_id: str, *, base_revision: int, check: bool = True) -> int:
    """deactivate_service inside the caller's transaction (the caller checked the reason; see create_in)."""
    before = _current_for_write(cur, actor, service_id, base_revision)
    row = {**{k: before[k] for k in services_sql.SERVICE_COLS}, "revision": before["revision"] + 1,
           "active": False, "updated_at": clock.now(), "updated_by": actor.username}
    deps = before["_deps"].with_columns(pl.lit(row["revision"], dtype=pl.Int64).alias("revision"))
    if check:
        _check(cur, row, deps)
    return _write(cur, actor, row, deps, "deactivate", before)


def get_service(db: Database, actor: Actor, service_id: str) -> dict:
    """The current version of a service with its dependencies (a list of dicts) and its revision."""
    with db.read() as cur:
        row = services_sql.service(cur, service_id)
        if row is None:
            raise NotFound(f"unknown service {service_id!r}")
        access.require(actor, "read", row["unit_id"])
        deps = services_sql.version_dependencies(cur, service_id).filter(pl.col("revision") == row["revision"])
    row["dependencies"] = deps.drop("service_id", "revision").to_dicts()
    return row


def as_service(row: dict) -> Service:
    """A stored service (get_service) as the Service an edit starts from."""
    fields: dict[str, Any] = {k: row[k] or "" if k in ("activity", "min_service_level", "approved_by") else row[k]
              for k in Service.__dataclass_fields__ if k != "dependencies"}
    deps = tuple(Dependency(d["kind"], d["target_id"], d["note"] or "", d["accepted_inversion"] or "")
                 for d in row.get("dependencies", []))
    return Service(**fields, dependencies=deps)


def list_services(db: Database, actor: Actor, filters: Filters | None = None, *, at: datetime | None = None,
                  include_inactive: bool = False) -> pl.DataFrame:
    """Services the actor may read (columns services_sql.SERVICE_COLS + unit, division_id, division),
    current or as they stood at `at` (a cycle's view: cycle_as_of)."""
    where, params = scope_for(actor, filters).where("u")
    with db.read() as cur:
        return services_sql.listing(cur, where, params, at, include_inactive)


def list_dependencies(db: Database, actor: Actor, filters: Filters | None = None, *,
                      at: datetime | None = None) -> pl.DataFrame:
    """Dependencies of the services the actor may read: service_id, service, service_rto, kind, target_id,
    target, target_rto, note, accepted_inversion."""
    where, params = scope_for(actor, filters).where("u")
    with db.read() as cur:
        return services_sql.listing_dependencies(cur, where, params, at)


def history(db: Database, actor: Actor, service_id: str) -> pl.DataFrame:
    """Every version of a service, oldest first (columns SERVICE_COLS + change, dependencies as text)."""
    with db.read() as cur:
        versions = services_sql.versions(cur, service_id)
        if versions.height == 0:
            raise NotFound(f"unknown service {service_id!r}")
        for unit in set(versions["unit_id"]):
            access.require(actor, "read", unit)
        deps = services_sql.version_dependencies(cur, service_id)
    text = deps.group_by("revision").agg(
        pl.format("{} {}", "kind", "target_id").sort().str.join(", ").alias("dependencies"))
    return versions.join(text, on="revision", how="left").sort("revision")


def service_input(**fields) -> Service:
    """A Service from loose keyword values (pages and tests): durations may be given as text ("4h")."""
    from . import durations

    for key in ("mtpd", "rto", "rpo"):
        if key in fields:
            value = fields.pop(key)
            fields[f"{key}_minutes"] = durations.parse(value, key) if isinstance(value, str) else value
    deps = tuple(d if isinstance(d, Dependency) else Dependency(**d) for d in fields.pop("dependencies", ()))
    return Service(**fields, dependencies=deps)

