"""The demo organisation's continuity records: services with believable objectives and dependencies (one
accepted RTO inversion), a year of exercises (some failing their RTO) and a few incidents (one over RTO
without its post-mortem). Pure and deterministic for a given date; every date counts back from it.

The story the open cycle tells with them (its answers are set in demo.STORY_ANSWERS):
- Cards claims level 4 on failover testing, but CARD-AUTH's latest failover took 6 h against an RTO of 2 h,
  and the card outage that went over its RTO still has no post-mortem.
- Trading claims level 4 on failover testing, but in the full interruption test MKT-DATA missed its RTO.
- Mortgages claims agreed objectives, but MORT-ORIG's were approved well over a year ago.
- Data Centre Operations' restore testing is borne out by the records.
- CORE-DB's RTO was relaxed from 2 h to 8 h after the ledger re-platforming: PAY-GW (RTO 2 h) depends on it,
  an inversion the Head of Payments accepted formally (the history shows the change).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import polars as pl

from . import durations
from .exercises import judge as judge_results
from .incidents import judge as judge_outages
from .service_checks import validate_services
from .storage.exercises import EXERCISE_SCHEMA
from .storage.incidents import INCIDENT_SCHEMA
from .storage.services import DEPENDENCY_SCHEMA, SERVICE_SCHEMA

SUPPLIERS = [("ACME-CLOUD", "Acme Cloud Hosting"), ("NETCO", "NetCo Telecom"), ("CARDPROC", "CardProc Services"),
             ("MKTFEED", "MarketFeed Data"), ("SWIFTNET", "Interbank messaging network")]
SITES = [("DC-NORTH", "Northgate data centre"), ("DC-SOUTH", "Southbank data centre"), ("HQ", "Head office")]
# service id, unit, name, recovery tier, activity, MTPD, RTO, RPO (None: no data held), approved days ago
# (None: not approved), dependencies (kind, id, note)
SERVICES = [
    ("CORE-DB", "OPT-DC", "Core banking ledger database", 1, "Account keeping and posting", "1d", "2h", "5m", 150,
     [("site", "DC-NORTH", "primary"), ("site", "DC-SOUTH", "standby"), ("service", "NET-CORE", "")]),
    ("NET-CORE", "OPT-NET", "Core network", 1, "Connectivity for every site", "4h", "30m", None, 100,
     [("supplier", "NETCO", "carrier lines"), ("site", "DC-NORTH", ""), ("site", "DC-SOUTH", "")]),
    ("APP-HOST", "OPT-APP", "Application hosting platform", 1, "Runs the customer-facing applications", "4h", "1h",
     "15m", 80, [("supplier", "ACME-CLOUD", "second region"), ("service", "NET-CORE", "")]),
    ("PAY-GW", "RET-PAY", "Payment gateway", 1, "Customer payments", "4h", "2h", "5m", 60,
     [("service", "CORE-DB", "postings"), ("service", "NET-CORE", ""), ("supplier", "SWIFTNET", "clearing")]),
    ("FAST-PAY", "RET-PAY", "Instant payments", 1, "Instant customer payments", "2h", "1h", "0m", 60,
     [("service", "NET-CORE", ""), ("service", "APP-HOST", "")]),
    ("CARD-AUTH", "RET-CARD", "Card authorisation", 1, "Card payments at shops and ATMs", "4h", "2h", "0m", 40,
     [("supplier", "CARDPROC", "scheme connection"), ("service", "NET-CORE", ""), ("site", "DC-NORTH", "")]),
    ("CARD-PORTAL", "RET-CARD", "Card self-service portal", 2, "Card blocking and limits online", "1d", "8h", "1h",
     40, [("service", "APP-HOST", "")]),
    ("BR-TELLER", "RET-BR", "Branch teller system", 2, "Cash and counter services", "1d", "8h", "1h", 200,
     [("service", "CORE-DB", ""), ("site", "HQ", "branch support desk")]),
    ("MORT-ORIG", "RET-MORT", "Mortgage origination", 3, "Mortgage applications", "1w", "2d", "1d", 460,
     [("service", "APP-HOST", "")]),
    ("TRD-EXEC", "CMK-TRD", "Trade execution", 1, "Trading on own and client account", "2h", "1h", "0m", 90,
     [("service", "MKT-DATA", "prices"), ("service", "NET-CORE", "")]),
    ("MKT-DATA", "CMK-TRD", "Market data distribution", 1, "Prices for trading and valuation", "1h", "30m", "0m",
     90, [("supplier", "MKTFEED", "exchange feeds"), ("service", "NET-CORE", "")]),
    ("TRS-LIQ", "CMK-TRS", "Liquidity management", 1, "Intraday liquidity and funding", "8h", "4h", "15m", 120,
     [("service", "NET-CORE", ""), ("supplier", "SWIFTNET", "payments")]),
    ("CB-LOANS", "CMK-CB", "Corporate lending", 2, "Corporate loan servicing", "2d", "8h", "4h", 170,
     [("service", "CORE-DB", "")]),
    ("CUS-SAFE", "CMK-CUS", "Custody and settlement", 2, "Securities settlement", "1d", "4h", "15m", 110,
     [("service", "APP-HOST", ""), ("supplier", "SWIFTNET", "settlement messages")]),
    ("SD-TOOL", "OPT-SD", "Service desk tool", 3, "Incident and request handling", "2d", "1d", "4h", 75,
     [("supplier", "ACME-CLOUD", "SaaS")]),
    ("HR-PAYROLL", "GRP-HR", "Payroll", 2, "Paying staff", "3d", "1d", "1d", 210, [("service", "APP-HOST", "")]),
    ("HR-PORTAL", "GRP-HR", "HR self-service portal", 3, "Leave and expenses", None, None, None, None, []),
    ("FIN-GL", "GRP-FIN", "General ledger", 2, "Financial reporting", "3d", "1d", "1h", 130,
     [("service", "CORE-DB", "daily extract")]),
]
# Units without services: Legal & Compliance and Procurement & Vendors (the record rules do not apply).
RELAXED = ("CORE-DB", "8h", "3d", 210)   # service, new RTO, new MTPD, days ago: after the ledger re-platforming
ACCEPTED = ("Payments queue at the gateway for up to 8 h during a ledger recovery; accepted by the Head of "
            "Payments until the ledger cluster upgrade")
# days ago, type, title, scenario, suppliers, objectives met, results: (service, took, data lost, findings)
# (days ago, type, title, scenario, suppliers, objectives met, [(service, took, data lost, findings)])
EXERCISES: list[tuple[int, str, str, str, tuple[str, ...], bool, list[tuple[str, str | None, str | None, str]]]] = [
    (330, "restore_test", "Ledger restore from immutable backup", "Ransomware encrypts the ledger", (), True,
     [("CORE-DB", "1h 30m", "5m", "")]),
    (250, "failover", "Market data and trading failover", "Loss of the primary data centre", ("MKTFEED",), True,
     [("TRD-EXEC", "40m", "0m", ""), ("MKT-DATA", "25m", "0m", "")]),
    (180, "tabletop", "Cyber-attack tabletop", "Ransomware across the hosting platform", ("ACME-CLOUD",), True,
     [("APP-HOST", None, None, "Decision log was not kept"), ("PAY-GW", None, None, ""),
      ("SD-TOOL", None, None, "")]),
    (150, "failover", "Northgate to Southbank site failover", "Loss of the Northgate data centre", ("NETCO",), True,
     [("CORE-DB", "5h", "5m", "Replication lag above target during switch-back"), ("NET-CORE", "20m", None, ""),
      ("APP-HOST", "50m", "10m", ""), ("PAY-GW", "1h 40m", "5m", "")]),
    (120, "restore_test", "Liquidity platform restore", "Corrupted database", (), True,
     [("TRS-LIQ", "3h", "15m", "")]),
    (95, "failover", "Card authorisation switchover", "Loss of the card processing link", ("CARDPROC",), False,
     [("CARD-AUTH", "6h", "0m", "Scheme certificates missing on the standby; manual re-keying took 4 h")]),
    (70, "walkthrough", "Branch continuity plan walkthrough", "Loss of the head office", (), True,
     [("BR-TELLER", None, None, "Contact list out of date")]),
    (60, "full_interruption", "Trading full interruption test", "Primary site switched off for a day",
     ("MKTFEED",), False,
     [("TRD-EXEC", "45m", "0m", ""), ("MKT-DATA", "50m", "0m", "Feed handler did not start automatically")]),
    (35, "restore_test", "Hosting platform restore", "Loss of a storage array", ("ACME-CLOUD",), True,
     [("APP-HOST", "40m", "5m", "")]),
]
# days ago, hours, title, severity, plan invoked, post-mortem due after (days), done after (days; None: not
# done), services hit: (service, outage or None for the whole incident)
# (days ago, hours, title, severity, plan invoked, post-mortem due in days, done after days, [(service, outage)])
INCIDENTS: list[tuple[int, float, str, str, bool, int | None, int | None, list[tuple[str, str | None]]]] = [
    (270, 0.75, "Core network degradation", "high", False, 10, 8, [("NET-CORE", None)]),
    (150, 7.0, "Card authorisation outage", "critical", True, 14, None, [("CARD-AUTH", None)]),
    (62, 3.0, "Ledger database failover", "high", True, 14, 9, [("CORE-DB", None), ("BR-TELLER", "2h")]),
    (21, 0.34, "Hosting platform incident", "medium", False, None, None, [("APP-HOST", None)]),
]
SERVICE_FROM_DAYS = 420  # the register was filled 14 months ago


@dataclass(frozen=True)
class DemoRecords:
    suppliers: pl.DataFrame
    sites: pl.DataFrame
    versions: pl.DataFrame        # every service version (storage SERVICE_COLS + change)
    dependencies: pl.DataFrame    # the dependencies of every version
    exercises: pl.DataFrame
    exercise_suppliers: pl.DataFrame
    results: pl.DataFrame         # judged against the version valid on the exercise date
    incidents: pl.DataFrame
    incident_services: pl.DataFrame


def _minutes(text: str | None) -> int | None:
    return durations.parse(text) if text else None


def generate(today: date, unit_heads: dict[str, str], manager: str) -> DemoRecords:
    """The records around `today`; unit_heads maps unit id -> the head's user name (the services' owners)."""
    start = datetime.combine(today - timedelta(days=SERVICE_FROM_DAYS), time(9))
    suppliers = pl.DataFrame({"supplier_id": [s for s, _ in SUPPLIERS], "name": [n for _, n in SUPPLIERS],
                              "updated_at": [start] * len(SUPPLIERS), "updated_by": [manager] * len(SUPPLIERS)})
    sites = pl.DataFrame({"site_id": [s for s, _ in SITES], "name": [n for _, n in SITES],
                          "updated_at": [start] * len(SITES), "updated_by": [manager] * len(SITES)})
    versions: list[dict[str, Any]] = []
    deps: list[dict[str, Any]] = []
    for sid, unit, name, tier, activity, mtpd, rto, rpo, approved, dependencies in SERVICES:
        approved_on = today - timedelta(days=approved) if approved is not None else None
        row: dict[str, Any] = {
               "service_id": sid, "revision": 1, "name": name, "unit_id": unit, "owner": unit_heads[unit],
               "recovery_tier": tier, "activity": activity, "mtpd_minutes": _minutes(mtpd),
               "rto_minutes": _minutes(rto), "rpo_minutes": _minutes(rpo), "holds_data": rpo is not None,
               "min_service_level": None, "approved_by": f"Head of {unit}" if approved_on else None,
               "approved_on": approved_on, "next_review": approved_on + timedelta(days=365) if approved_on else None,
               "active": True, "updated_at": start, "updated_by": manager, "change": "create"}
        if sid == RELAXED[0]:  # the first version: RTO 2 h, approved before the register was filled
            row["approved_on"] = start.date() - timedelta(days=30)
            row["next_review"] = row["approved_on"] + timedelta(days=365)
        versions.append(row)
        deps += [{"service_id": sid, "revision": 1, "kind": k, "target_id": t, "note": n or None,
                  "accepted_inversion": None} for k, t, n in dependencies]
    # CORE-DB's RTO is relaxed; PAY-GW's owner accepts the inversion first (one minute earlier).
    when = datetime.combine(today - timedelta(days=RELAXED[3]), time(15))
    pay = {**next(v for v in versions if v["service_id"] == "PAY-GW"), "revision": 2,
           "updated_at": when - timedelta(minutes=1), "updated_by": unit_heads["RET-PAY"], "change": "update"}
    core = {**next(v for v in versions if v["service_id"] == RELAXED[0]), "revision": 2, "updated_at": when,
            "rto_minutes": _minutes(RELAXED[1]), "mtpd_minutes": _minutes(RELAXED[2]), "change": "update",
            "approved_on": when.date(), "next_review": when.date() + timedelta(days=365)}
    versions += [pay, core]
    for d in [d for d in deps if d["service_id"] in ("PAY-GW", RELAXED[0]) and d["revision"] == 1]:
        accepted = ACCEPTED if (d["service_id"], d["target_id"]) == ("PAY-GW", RELAXED[0]) else None
        deps.append({**d, "revision": 2, "accepted_inversion": accepted})
    versions_df = pl.DataFrame(versions, schema={**SERVICE_SCHEMA, "change": pl.String})
    deps_df = pl.DataFrame(deps, schema=DEPENDENCY_SCHEMA)
    exercises, ex_suppliers, ex_results = _exercises(today, manager)
    incidents, affected = _incidents(today, manager)
    records = DemoRecords(
        suppliers, sites, versions_df, deps_df, exercises, ex_suppliers,
        judge_results(_as_of(ex_results, versions_df, "exercise_date")).drop("holds_data", "at"),
        incidents, judge_outages(_as_of(affected, versions_df, "started_at")).drop("holds_data", "at"))
    _check(records, set(unit_heads))
    return records


def _exercises(today: date, manager: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rows, suppliers, results = [], [], []
    for i, (days, kind, title, scenario, sups, met, res) in enumerate(sorted(EXERCISES, key=lambda e: -e[0]),
                                                                       start=1):
        eid = f"EX-{i:05d}"
        when = today - timedelta(days=days)
        rows.append({"exercise_id": eid, "exercise_date": when, "exercise_type": kind, "title": title,
                     "scenario": scenario, "participants": "IT operations, service owners, continuity office"
                     + "".join(f", {s}" for s in sups), "objectives": "Recover every service in scope within its RTO",
                     "objectives_met": met, "report_url": f"https://intranet.example/itscm/exercises/{eid}",
                     "recorded_at": datetime.combine(when + timedelta(days=3), time(16)), "recorded_by": manager})
        suppliers += [{"exercise_id": eid, "supplier_id": s} for s in sups]
        results += [{"exercise_id": eid, "service_id": sid, "exercise_date": when,
                     "achieved_recovery_minutes": _minutes(took), "achieved_data_loss_minutes": _minutes(lost),
                     "findings": findings or None} for sid, took, lost, findings in res]
    return (pl.DataFrame(rows, schema=EXERCISE_SCHEMA),
            pl.DataFrame(suppliers, schema={"exercise_id": pl.String, "supplier_id": pl.String}),
            pl.DataFrame(results, schema={"exercise_id": pl.String, "service_id": pl.String,
                                          "exercise_date": pl.Date, "achieved_recovery_minutes": pl.Int64,
                                          "achieved_data_loss_minutes": pl.Int64, "findings": pl.String}))


def _incidents(today: date, manager: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows, affected = [], []
    for i, (days, hours, title, severity, invoked, due, done, hit) in enumerate(INCIDENTS, start=1):
        iid = f"INC-{i:05d}"
        start = datetime.combine(today - timedelta(days=days), time(7, 40))
        end = start + timedelta(minutes=round(hours * 60))
        recorded = end + timedelta(hours=2)
        rows.append({"incident_id": iid, "revision": 1, "title": title, "severity": severity, "started_at": start,
                     "ended_at": end, "plan_invoked": invoked,
                     "postmortem_due": start.date() + timedelta(days=due) if due is not None else None,
                     "postmortem_done": start.date() + timedelta(days=done) if done is not None else None,
                     "report_url": f"https://intranet.example/itscm/post-mortems/{iid}" if done is not None else None,
                     "ticket_url": f"https://itsm.example/incident/{iid}", "recorded_at": recorded,
                     "recorded_by": manager, "updated_at": recorded, "updated_by": manager})
        affected += [{"incident_id": iid, "service_id": sid, "started_at": start,
                      "outage_minutes": _minutes(outage) if outage else round(hours * 60), "data_loss_minutes": None}
                     for sid, outage in hit]
    return (pl.DataFrame(rows, schema=INCIDENT_SCHEMA),
            pl.DataFrame(affected, schema={"incident_id": pl.String, "service_id": pl.String,
                                           "started_at": pl.Datetime("us"), "outage_minutes": pl.Int64,
                                           "data_loss_minutes": pl.Int64}))


def _as_of(facts: pl.DataFrame, versions: pl.DataFrame, when: str) -> pl.DataFrame:
    """Each fact with the objectives of the service version valid at its date (end of day for dates)."""
    at = (pl.col(when).cast(pl.Datetime("us")) + pl.duration(days=1) - pl.duration(microseconds=1)
          if facts.schema[when] == pl.Date else pl.col(when))
    v = versions.select("service_id", pl.col("revision").alias("service_revision"), "unit_id", "rto_minutes",
                        "rpo_minutes", "holds_data", "updated_at")
    return (facts.with_columns(at.alias("at")).join(v, on="service_id").filter(pl.col("updated_at") <= pl.col("at"))
            .sort("service_revision").group_by(facts.columns, maintain_order=True).last()
            .drop("updated_at", when))


def _check(r: DemoRecords, units: set[str]) -> None:
    """The demo passes the register's own rules (its one inversion is an accepted one)."""
    current = r.versions.sort("revision").group_by("service_id").last()
    deps = r.dependencies.join(current.select("service_id", "revision"), on=["service_id", "revision"])
    problems = validate_services(current, deps, units, r.suppliers["supplier_id"], r.sites["site_id"])
    if problems:
        raise ValueError("the demo's service register breaks its rules: " + "; ".join(map(str, problems)))
