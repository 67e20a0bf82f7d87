"""The rules of a valid service register, checked on a whole set of services at once (page edits and the
workbook import alike): every problem, each naming the service, the field and the row it came from.

Field checks are set-based polars. The two graph checks walk the service-to-service dependencies once:
- RTO inversion: a service must not depend on one whose RTO is longer than its own. Checking every direct
  dependency is enough wherever both ends have an RTO, because "RTO no longer than mine" is transitive: a
  chain A -> B -> C with a longer RTO at C than at A has a direct violation on one of its edges. A service
  without an RTO breaks that argument (A -> B (no RTO) -> C), so the walk goes on through services that have
  no RTO until it reaches ones that do. Each violation is reported once, on the dependency it starts from.
- Dependency cycles (Tarjan's strongly connected components, linear in services + dependencies): each
  cycle is named, e.g. "A -> B -> C -> A".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from . import durations
from .model import DEPENDENCY_KINDS, RECOVERY_TIERS

SERVICES, DEPENDENCIES = "services", "dependencies"
# Ids of services, suppliers and sites: what people type in a workbook cell and read in a message.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a register: `table` and `row` (0-based, in the frames given) locate it, `field`
    and `code` classify it, `message` says it for people; `services` are every service it involves."""

    table: str
    row: int
    service_id: str
    field: str
    code: str
    message: str
    services: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.service_id or '(no id)'}.{self.field}: {self.message}"


SERVICE_FRAME = {"service_id": pl.String, "name": pl.String, "unit_id": pl.String, "owner": pl.String,
                 "recovery_tier": pl.Int64, "mtpd_minutes": pl.Int64, "rto_minutes": pl.Int64,
                 "rpo_minutes": pl.Int64, "holds_data": pl.Boolean, "approved_by": pl.String,
                 "approved_on": pl.Date, "next_review": pl.Date}
DEPENDENCY_FRAME = {"service_id": pl.String, "kind": pl.String, "target_id": pl.String,
                    "accepted_inversion": pl.String}


def _conform(df: pl.DataFrame, schema: dict) -> pl.DataFrame:
    cols = [pl.col(c).cast(t) if c in df.columns else pl.lit(None, dtype=t).alias(c) for c, t in schema.items()]
    return df.select(cols).with_row_index("_row")


def _blank(col: str) -> pl.Expr:
    return pl.col(col).is_null() | (pl.col(col).str.strip_chars() == "")


def validate_services(services: pl.DataFrame, dependencies: pl.DataFrame, units: Collection[str],
                      suppliers: Collection[str], sites: Collection[str],
                      focus: Collection[str] | None = None) -> list[Problem]:
    """Every problem with a register: `services` (one row per active service, SERVICE_FRAME columns), its
    `dependencies` (DEPENDENCY_FRAME columns), and the known (active) unit, supplier and site ids.

    `focus` (service ids) limits the answer to the problems involving those services, and the cycle search
    to cycles through them: an edit of one service is checked against the whole register without paying
    for a search of the rest, and is not refused for a problem elsewhere.
    """
    s = _conform(services, SERVICE_FRAME)
    d = _conform(dependencies, DEPENDENCY_FRAME)
    problems = _service_problems(s, set(units))
    problems += _dependency_problems(d, s, set(suppliers), set(sites))
    known = s.filter(~_blank("service_id")).unique("service_id", keep="first", maintain_order=True)
    edges = d.filter((pl.col("kind") == "service") & pl.col("target_id").is_in(known["service_id"].implode())
                     & pl.col("service_id").is_in(known["service_id"].implode())
                     & (pl.col("service_id") != pl.col("target_id")))
    inv = rto_inversions(known, edges)
    for r in inv.filter(_blank("accepted_inversion")).iter_rows(named=True):
        problems.append(Problem(DEPENDENCIES, r["row"], r["service_id"], "target_id", "rto_inversion",
                                f"RTO inversion: {r['chain']}; give it an RTO no longer than "
                                f"{durations.format(r['service_rto'])} or accept the inversion with a reason",
                                tuple(r["path"])))
    problems += _cycles(edges) if focus is None else _cycles_through(edges, set(focus))
    if focus is not None:
        wanted = set(focus)
        problems = [p for p in problems if wanted.intersection(p.services)]
    return sorted(problems, key=lambda p: (p.table != SERVICES, p.row, p.field, p.code))


def _owner_pattern():
    # users imports demo, which imports this module: read the one user-name rule when it is needed.
    from .users import USERNAME_RE

    return USERNAME_RE.pattern


def _service_problems(s: pl.DataFrame, units: set[str]) -> list[Problem]:
    sid = pl.col("service_id").fill_null("")
    rto, mtpd, rpo = pl.col("rto_minutes"), pl.col("mtpd_minutes"), pl.col("rpo_minutes")
    fmt = durations.expr
    checks: list[tuple[str, str, pl.Expr, pl.Expr]] = [
        ("service_id", "missing", _blank("service_id"), pl.lit("a service needs an id")),
        ("service_id", "bad_id", ~_blank("service_id") & ~sid.str.contains(ID_PATTERN),
         pl.format("{} is not a usable id: letters, digits, '.', '_' or '-', at most 64", sid)),
        ("service_id", "duplicate", ~_blank("service_id") & sid.is_duplicated(),
         pl.format("the id {} is used by more than one service", sid)),
        ("name", "missing", _blank("name"), pl.lit("a service needs a name")),
        ("unit_id", "unknown_unit", ~pl.col("unit_id").fill_null("").is_in(sorted(units)),
         pl.format("unknown or inactive business unit {}", pl.col("unit_id").fill_null("(none)"))),
        ("owner", "missing", _blank("owner"), pl.lit("a service needs an owner (the owner's user name)")),
        ("owner", "bad_owner", ~_blank("owner") & ~pl.col("owner").str.contains(_owner_pattern()),
         pl.format("{} is not a user name (lower-case letters, digits, '.', '_', '@' or '-')", "owner")),
        ("recovery_tier", "unknown_tier", ~pl.col("recovery_tier").is_in(list(RECOVERY_TIERS)).fill_null(False),
         pl.format("expected a recovery tier {}, got {}", pl.lit(", ".join(map(str, RECOVERY_TIERS))),
                   pl.col("recovery_tier").cast(pl.String).fill_null("nothing"))),
        *[(f"{c}_minutes", "negative", pl.col(f"{c}_minutes") < 0, pl.lit(f"the {c.upper()} cannot be negative"))
          for c in ("mtpd", "rto", "rpo")],
        ("rto_minutes", "rto_over_mtpd", (rto > mtpd).fill_null(False),
         pl.format("the RTO ({}) is longer than the MTPD ({}): recovery must finish within the maximum "
                   "tolerable period of disruption", fmt(rto), fmt(mtpd))),
        ("rpo_minutes", "rpo_missing", pl.col("holds_data").fill_null(True) & rpo.is_null(),
         pl.lit("the service holds data, so it needs an RPO (how much data loss is acceptable)")),
        ("approved_on", "approval_incomplete", _blank("approved_by") & pl.col("approved_on").is_not_null(),
         pl.lit("an approval date needs the name of who approved")),
        ("approved_by", "approval_incomplete", ~_blank("approved_by") & pl.col("approved_on").is_null(),
         pl.lit("who approved needs the approval date")),
        ("next_review", "review_before_approval", (pl.col("next_review") < pl.col("approved_on")).fill_null(False),
         pl.format("the next review ({}) is before the approval ({})", "next_review", "approved_on")),
    ]
    out = []
    for field, code, bad, message in checks:
        hit = s.filter(bad.fill_null(False)).select("_row", sid.alias("sid"), message.alias("m"))
        out += [Problem(SERVICES, r, i, field, code, m, (i,) if i else ()) for r, i, m in hit.iter_rows()]
    return out


def _dependency_problems(d: pl.DataFrame, s: pl.DataFrame, suppliers: set[str], sites: set[str]) -> list[Problem]:
    ids = s.filter(~_blank("service_id"))["service_id"].unique().implode()
    kind, target, sid = pl.col("kind"), pl.col("target_id").fill_null(""), pl.col("service_id").fill_null("")
    known = {"service": ids, "supplier": pl.Series(sorted(suppliers), dtype=pl.String).implode(),
             "site": pl.Series(sorted(sites), dtype=pl.String).implode()}
    checks: list[tuple[str, str, pl.Expr, pl.Expr]] = [
        ("service_id", "unknown_service", ~sid.is_in(ids),
         pl.format("a dependency of {}, which is not in the register", sid)),
        ("kind", "unknown_kind", ~kind.fill_null("").is_in(list(DEPENDENCY_KINDS)),
         pl.format("expected {}, got {}", pl.lit(", ".join(DEPENDENCY_KINDS)), kind.fill_null("nothing"))),
        ("target_id", "missing", _blank("target_id"), pl.lit("a dependency needs what it depends on")),
        *[("target_id", f"unknown_{k}", (kind == k) & ~_blank("target_id") & ~target.is_in(known[k]),
           pl.format(f"depends on {{}}, which is not a known {'active service' if k == 'service' else k}", target))
          for k in DEPENDENCY_KINDS],
        ("target_id", "self_dependency", (kind == "service") & (target == sid),
         pl.lit("a service cannot depend on itself")),
        ("target_id", "duplicate", pl.struct(sid, kind, target).is_duplicated() & ~_blank("target_id"),
         pl.format("{} {} is listed more than once", kind, target)),
    ]
    out = []
    for field, code, bad, message in checks:
        hit = d.filter(bad.fill_null(False)).select("_row", sid.alias("sid"), message.alias("m"), target.alias("t"))
        out += [Problem(DEPENDENCIES, r, i, field, code, m, tuple(x for x in (i, t) if x))
                for r, i, m, t in hit.iter_rows()]
    return out


def _label(service_id: str, rto: int | None) -> str:
    return f"{service_id} (RTO {durations.format(rto)})" if rto is not None else f"{service_id} (no RTO)"


def rto_inversions(services: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """Every RTO inversion among `services` (service_id, rto_minutes) over service-to-service `edges`
    (service_id, target_id, accepted_inversion; an optional _row locates the dependency).

    Columns: service_id, service_rto, depends_on, depends_on_rto, path (list: the service, the services
    without an RTO walked through, the dependency with the longer RTO), row, accepted_inversion, chain.
    """
    rto = dict(zip(services["service_id"].to_list(), services["rto_minutes"].to_list()))
    e = edges.select("service_id", "target_id", pl.col("accepted_inversion") if "accepted_inversion" in edges.columns
                     else pl.lit(None, dtype=pl.String).alias("accepted_inversion"),
                     pl.col("_row") if "_row" in edges.columns else pl.lit(None, dtype=pl.UInt32).alias("_row"))
    r = services.select(pl.col("service_id"), pl.col("rto_minutes"))
    e = e.join(r.rename({"rto_minutes": "service_rto"}), on="service_id").join(
        r.rename({"service_id": "target_id", "rto_minutes": "target_rto"}), on="target_id")
    direct = e.filter(pl.col("service_rto").is_not_null() & (pl.col("target_rto") > pl.col("service_rto")))
    rows = [(a, ra, b, rb, [a, b], row, acc) for a, b, acc, row, ra, rb in direct.select(
        "service_id", "target_id", "accepted_inversion", "_row", "service_rto", "target_rto").iter_rows()]
    # Walk on through services without an RTO (the one case direct checks miss).
    blind = e.filter(pl.col("service_rto").is_not_null() & pl.col("target_rto").is_null())
    if blind.height:
        onward: dict[str, list[str]] = {}
        for a, b in e.filter(pl.col("service_rto").is_null()).select("service_id", "target_id").iter_rows():
            onward.setdefault(a, []).append(b)
        for a, b, acc, row, ra in blind.select("service_id", "target_id", "accepted_inversion", "_row",
                                               "service_rto").iter_rows():
            stack, seen = [(b, [a, b])], {a, b}
            while stack:
                node, path = stack.pop()
                for nxt in onward.get(node, ()):
                    if nxt in seen:
                        continue
                    seen.add(nxt)
                    if rto.get(nxt) is None:
                        stack.append((nxt, [*path, nxt]))
                    elif rto[nxt] > ra:
                        rows.append((a, ra, nxt, rto[nxt], [*path, nxt], row, acc))
    chains = []
    for a, ra, b, rb, path, _, _ in rows:
        middle = "".join(f"{_label(x, None)}, which depends on " for x in path[1:-1])
        chains.append(f"{_label(a, ra)} depends on {middle}{_label(b, rb)}")
    return pl.DataFrame(
        {"service_id": [x[0] for x in rows], "service_rto": [x[1] for x in rows], "depends_on": [x[2] for x in rows],
         "depends_on_rto": [x[3] for x in rows], "path": [x[4] for x in rows], "row": [x[5] for x in rows],
         "accepted_inversion": [x[6] for x in rows], "chain": chains},
        schema={"service_id": pl.String, "service_rto": pl.Int64, "depends_on": pl.String,
                "depends_on_rto": pl.Int64, "path": pl.List(pl.String), "row": pl.Int64,
                "accepted_inversion": pl.String, "chain": pl.String},
    ).sort("service_id", "depends_on")


def _graph(edges: pl.DataFrame) -> tuple[dict[str, list[str]], dict[tuple[str, str], int]]:
    graph: dict[str, list[str]] = {}
    rows: dict[tuple[str, str], int] = {}
    for a, b, row in edges.select("service_id", "target_id", "_row").iter_rows():
        graph.setdefault(a, []).append(b)
        rows.setdefault((a, b), row)
    return graph, rows


def _cycle_problem(cycle: list[str], rows: dict[tuple[str, str], int]) -> Problem:
    text = " -> ".join([*cycle, cycle[0]])
    return Problem(DEPENDENCIES, rows[(cycle[0], cycle[1])], cycle[0], "target_id", "dependency_cycle",
                   f"dependency cycle: {text}; a service cannot need itself to recover", tuple(cycle))


def _cycles(edges: pl.DataFrame) -> list[Problem]:
    """One named cycle per group of services that depend on each other in a circle."""
    graph, rows = _graph(edges)
    return [_cycle_problem(_cycle_in(min(c), graph, c), rows) for c in _strongly_connected(graph) if len(c) > 1]


def _cycles_through(edges: pl.DataFrame, focus: set[str]) -> list[Problem]:
    """The shortest cycle through each focus service, if any (a walk from each, not of the whole graph)."""
    graph, rows = _graph(edges)
    out, reported = [], set()
    for start in sorted(focus):
        cycle = _cycle_in(start, graph, None)
        if len(cycle) > 1 and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            out.append(_cycle_problem(cycle, rows))
    return out


def _strongly_connected(graph: dict[str, list[str]]) -> Iterable[set[str]]:
    """Tarjan's algorithm without recursion (a long dependency chain must not hit Python's stack limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, ()))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    component.add(x)
                    if x == node:
                        break
                yield component


def _cycle_in(start: str, graph: dict[str, list[str]], component: set[str] | None) -> list[str]:
    """A shortest cycle through `start` (inside `component` when given), breadth-first; [start] if none."""
    parent: dict[str, str] = {}
    frontier, seen = [start], {start}
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph.get(node, ())):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return path[::-1]
                if (component is None or child in component) and child not in seen:
                    seen.add(child)
                    parent[child] = node
                    nxt.append(child)
        frontier = nxt
    return [start]


def listed_services_problems(label: str, rows: Sequence[Any], minute_fields: tuple[str, ...]) -> list[str]:
    """The rule for the services an exercise or an incident lists (`label`: "results" or "services"): each
    service once, and no negative duration among `minute_fields`. Problems name the row: results[2].service_id."""
    problems, seen = [], set()
    for i, r in enumerate(rows):
        if r.service_id in seen:
            problems.append(f"{label}[{i}].service_id: {r.service_id} is listed twice")
        seen.add(r.service_id)
        problems += [f"{label}[{i}].{name}: cannot be negative" for name in minute_fields
                     if getattr(r, name) is not None and getattr(r, name) < 0]
    return problems

