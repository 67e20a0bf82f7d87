"""SQL for the service register: suppliers, sites, services with every version kept, and their dependencies."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from ._sql import fetch_row, in_list, registered, update_fields
from .db import frame, insert_frame

# The columns of a service version, in table order (services and service_versions share them).
SERVICE_COLS = ["service_id", "revision", "name", "unit_id", "owner", "recovery_tier", "activity", "mtpd_minutes",
                "rto_minutes", "rpo_minutes", "holds_data", "min_service_level", "approved_by", "approved_on",
                "next_review", "active", "updated_at", "updated_by"]
SERVICE_SCHEMA = pl.Schema({"service_id": pl.String(), "revision": pl.Int64(), "name": pl.String(),
                  "unit_id": pl.String(), "owner": pl.String(), "recovery_tier": pl.Int64(), "activity": pl.String(),
                  "mtpd_minutes": pl.Int64(),
                  "rto_minutes": pl.Int64(), "rpo_minutes": pl.Int64(), "holds_data": pl.Boolean(),
                  "min_service_level": pl.String(), "approved_by": pl.String(), "approved_on": pl.Date(),
                  "next_review": pl.Date(), "active": pl.Boolean(), "updated_at": pl.Datetime("us"),
                  "updated_by": pl.String()})
DEPENDENCY_COLS = ["service_id", "revision", "kind", "target_id", "note", "accepted_inversion"]
DEPENDENCY_SCHEMA = pl.Schema({"service_id": pl.String(), "revision": pl.Int64(), "kind": pl.String(),
                     "target_id": pl.String(),
                     "note": pl.String(), "accepted_inversion": pl.String()})
REGISTERS = {"supplier": ("suppliers", "supplier_id"), "site": ("sites", "site_id")}


# ---- suppliers and sites ---------------------------------------------------------------------------------

def register_entry(cur, kind: str, entry_id: str) -> dict | None:
    table, key = REGISTERS[kind]
    return fetch_row(cur, f"SELECT * FROM {table} WHERE {key} = ?", [entry_id])


def insert_register_entry(cur, kind: str, entry_id: str, name: str, at: datetime, by: str) -> None:
    table, _ = REGISTERS[kind]
    cur.execute(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", [entry_id, name, at, by])


def rename_register_entry(cur, kind: str, entry_id: str, name: str, at: datetime, by: str) -> None:
    table, key = REGISTERS[kind]
    update_fields(cur, table, key, entry_id, {"name", "updated_at", "updated_by"},
                  {"name": name, "updated_at": at, "updated_by": by})


def register(cur, kind: str) -> pl.DataFrame:
    table, key = REGISTERS[kind]
    return frame(cur, f"SELECT {key}, name, updated_at, updated_by FROM {table} ORDER BY {key}")


def insert_register(cur, kind: str, entries: pl.DataFrame) -> int:
    """Bulk insert (demo and import): columns <kind>_id, name, updated_at, updated_by."""
    table, key = REGISTERS[kind]
    return insert_frame(cur, table, entries, [key, "name", "updated_at", "updated_by"])


# ---- services ----------------------------------------------------------------------------------------------

def service(cur, service_id: str) -> dict | None:
    return fetch_row(cur, "SELECT * FROM services WHERE service_id = ?", [service_id])


def insert_current(cur, rows: pl.DataFrame) -> int:
    return insert_frame(cur, "services", rows, SERVICE_COLS)


def update_current(cur, row: dict) -> None:
    fields = {k: row[k] for k in SERVICE_COLS if k != "service_id"}
    update_fields(cur, "services", "service_id", row["service_id"], set(fields), fields)


def append_versions(cur, rows: pl.DataFrame, change: str | pl.Expr) -> int:
    """Append service versions (never updated afterwards): `change` says what happened (create, update…)."""
    return insert_frame(cur, "service_versions", rows.with_columns(
        change if isinstance(change, pl.Expr) else pl.lit(change).alias("change")), [*SERVICE_COLS, "change"])


def insert_dependencies(cur, deps: pl.DataFrame) -> int:
    """Dependencies of service versions (columns DEPENDENCY_COLS): each version carries its full set."""
    return insert_frame(cur, "service_dependencies", deps, DEPENDENCY_COLS)


def listing(cur, where: str, params: list, at: datetime | None = None, include_inactive: bool = False
            ) -> pl.DataFrame:
    """Services with their unit and division names, current (at=None) or as they stood at `at`.
    `where` filters the business unit aliased u (a reports Scope)."""
    source = "services" if at is None else f"({snapshot_sql()})"
    active = "" if include_inactive or at is not None else "AND s.active"
    return frame(cur, f"""
        SELECT {', '.join('s.' + c for c in SERVICE_COLS)}, u.name AS unit, u.division_id, d.name AS division
        FROM {source} s JOIN business_units u ON u.unit_id = s.unit_id
        JOIN divisions d ON d.division_id = u.division_id
        WHERE {where} {active} ORDER BY s.service_id""", [*([at] if at is not None else []), *params])


def placements(cur, where: str, params: list, at: datetime | None = None) -> pl.DataFrame:
    """The active services of the units `where` selects (a reports Scope on u), current or as they stood at
    `at`, with only where they sit: service_id, unit_id, unit, division_id, division."""
    source = "(SELECT * FROM services WHERE active)" if at is None else f"({snapshot_sql()})"
    return frame(cur, f"""
        SELECT s.service_id, s.unit_id, u.name AS unit, u.division_id, d.name AS division
        FROM {source} s JOIN business_units u ON u.unit_id = s.unit_id
        JOIN divisions d ON d.division_id = u.division_id
        WHERE {where}""", [*([at] if at is not None else []), *params])


def listing_dependencies(cur, where: str, params: list, at: datetime | None = None) -> pl.DataFrame:
    """Dependencies of the listed services (current, or of the versions valid at `at`), with the name of
    what they depend on and its RTO when it is a service."""
    source = "SELECT * FROM services WHERE active" if at is None else snapshot_sql()
    return frame(cur, f"""
        WITH snap AS ({source}),
        s AS (SELECT snap.* FROM snap JOIN business_units u ON u.unit_id = snap.unit_id WHERE {where})
        SELECT d.service_id, s.name AS service, s.rto_minutes AS service_rto, d.kind, d.target_id,
               coalesce(t.name, sp.name, si.name) AS target, t.rto_minutes AS target_rto, d.note,
               d.accepted_inversion
        FROM service_dependencies d JOIN s ON s.service_id = d.service_id AND s.revision = d.revision
        LEFT JOIN snap t ON d.kind = 'service' AND t.service_id = d.target_id
        LEFT JOIN suppliers sp ON d.kind = 'supplier' AND sp.supplier_id = d.target_id
        LEFT JOIN sites si ON d.kind = 'site' AND si.site_id = d.target_id
        ORDER BY d.service_id, d.kind, d.target_id""", [*([at] if at is not None else []), *params])


def current(cur, unit_ids: list[str] | None = None, include_inactive: bool = False) -> pl.DataFrame:
    where, params = ["1=1"], []
    if not include_inactive:
        where.append("s.active")
    if unit_ids is not None:
        marks, values = in_list(unit_ids)
        where.append(f"s.unit_id IN {marks}")
        params += values
    return frame(cur, f"SELECT {', '.join('s.' + c for c in SERVICE_COLS)} FROM services s "
                      f"WHERE {' AND '.join(where)} ORDER BY s.service_id", params)


def current_dependencies(cur, service_ids: list[str] | None = None) -> pl.DataFrame:
    """Dependencies of the current version of every active service (or of the given ones)."""
    where, params = "s.active", list[object]()
    if service_ids is not None:
        marks, params = in_list(service_ids)
        where = f"s.service_id IN {marks}"
    return frame(cur, f"""
        SELECT {', '.join('d.' + c for c in DEPENDENCY_COLS)} FROM service_dependencies d
        JOIN services s ON s.service_id = d.service_id AND s.revision = d.revision
        WHERE {where} ORDER BY d.service_id, d.kind, d.target_id""", params)


def versions(cur, service_id: str) -> pl.DataFrame:
    return frame(cur, f"SELECT {', '.join(SERVICE_COLS)}, change FROM service_versions WHERE service_id = ? "
                      "ORDER BY revision", [service_id])


def version_dependencies(cur, service_id: str) -> pl.DataFrame:
    return frame(cur, f"SELECT {', '.join(DEPENDENCY_COLS)} FROM service_dependencies WHERE service_id = ? "
                      "ORDER BY revision, kind, target_id", [service_id])


def snapshot_sql(at_param: str = "?") -> str:
    """The active services as they were at a moment: per service, the newest version recorded by then.
    `at_param` is a SQL expression (a placeholder by default)."""
    return f"""
        SELECT v.* FROM service_versions v JOIN (
            SELECT service_id, max(revision) AS revision FROM service_versions
            WHERE updated_at <= {at_param} GROUP BY service_id) m
          ON m.service_id = v.service_id AND m.revision = v.revision
        WHERE v.active"""


def as_of(cur, at: datetime, unit_ids: list[str] | None = None) -> pl.DataFrame:
    """The register as it stood at `at` (active services only)."""
    where, params = "1=1", list[object]()
    if unit_ids is not None:
        marks, params = in_list(unit_ids)
        where = f"s.unit_id IN {marks}"
    return frame(cur, f"SELECT {', '.join('s.' + c for c in SERVICE_COLS)} FROM ({snapshot_sql()}) s "
                      f"WHERE {where} ORDER BY s.service_id", [at, *params])


def rto_graph(cur, at: datetime | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What the RTO-inversion walk reads of the register, current (at=None) or as it stood at `at`: the
    active services (service_id, rto_minutes) and their service-to-service dependencies (service_id,
    target_id, accepted_inversion). Only those columns: at 50,000 services the full rows cost ten times more."""
    if at is None:
        source, params = "SELECT service_id, revision, rto_minutes FROM services WHERE active", []
    else:
        source, params = snapshot_sql(), [at]
    nodes = frame(cur, f"SELECT s.service_id, s.rto_minutes FROM ({source}) s", params)
    edges = frame(cur, f"""
        SELECT d.service_id, d.target_id, d.accepted_inversion FROM service_dependencies d
        JOIN ({source}) s ON s.service_id = d.service_id AND s.revision = d.revision
        WHERE d.kind = 'service'""", params)
    return nodes, edges


def dependencies_as_of(cur, at: datetime) -> pl.DataFrame:
    """The dependencies of the versions valid at `at`."""
    return frame(cur, f"""
        SELECT {', '.join('d.' + c for c in DEPENDENCY_COLS)} FROM service_dependencies d
        JOIN ({snapshot_sql()}) s ON s.service_id = d.service_id AND s.revision = d.revision
        ORDER BY d.service_id, d.kind, d.target_id""", [at])


def versions_at(cur, points: pl.DataFrame) -> pl.DataFrame:
    """For each row of `points` (service_id, at), the version of that service valid at `at`, or nothing
    when the service did not exist yet or was inactive then. Used to judge exercise results and incidents
    against the objectives that were in force."""
    with registered(cur, "_service_points", points.select("service_id", pl.col("at").cast(pl.Datetime("us")))):
        return frame(cur, f"""
            SELECT p.service_id, p.at, {', '.join('v.' + c for c in SERVICE_COLS if c != 'service_id')}
            FROM _service_points p JOIN service_versions v ON v.service_id = p.service_id
            AND v.revision = (SELECT max(w.revision) FROM service_versions w
                              WHERE w.service_id = p.service_id AND w.updated_at <= p.at)
            WHERE v.active""")
