"""The demo organisation's improvement actions: a handful raised from the records' findings (the failed card
switchover, the card outage still without its post-mortem, the ledger failover's lessons), from gaps of the
last closed cycle, an audit and a management review; open, overdue, done, verified and one risk accepted.
Pure and deterministic for a given date; every date counts back from it."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import polars as pl

from .storage.actions import ACTION_SCHEMA, EVENT_SCHEMA

# unit, title, source, source ref ("gap": the last closed cycle), questions, service, created (days ago),
# due (days from today; negative: overdue), status path [(status, days ago)] after "open" at creation
ACTIONS = [
    ("RET-CARD", "Install the scheme certificates on the standby and repeat the switchover", "exercise",
     "EX-00006", ("TEST-02",), "CARD-AUTH", 90, -20, [("in_progress", 60)]),
    ("RET-CARD", "Hold the post-mortem of the card authorisation outage", "incident", "INC-00002", ("TEST-07",),
     "CARD-AUTH", 140, -110, []),
    ("OPT-DC", "Alert on ledger replication lag before a switch-back", "postmortem", "INC-00003", ("TEST-08",),
     "CORE-DB", 50, -30, [("in_progress", 45), ("done", 35), ("verified", 25)]),
    ("RET-BR", "Give branches a manual fallback for teller outages", "postmortem", "INC-00003", ("TEST-08",),
     "BR-TELLER", 50, 40, [("in_progress", 20)]),
    ("CMK-TRD", "Make the market data feed handler start automatically on the standby site", "exercise", "EX-00008",
     ("TEST-02",), "MKT-DATA", 55, 10, []),
    ("RET-MORT", "Agree and approve recovery objectives for mortgage origination", "gap", None, ("RISK-04",),
     "MORT-ORIG", 170, -80, [("risk_accepted", 75)]),
    ("GRP-PROC", "Add continuity clauses to the ten most critical supplier contracts", "audit", "IA-2026-07", (),
     None, 120, 60, []),
    ("OPT-APP", "Re-test the hosting platform restore after the storage upgrade", "management_review", "MR-2026-1",
     ("TEST-01",), "APP-HOST", 100, -30, [("in_progress", 50), ("done", 36), ("verified", 34)]),
    ("RET-PAY", "Keep one action register for the payment services' test findings", "gap", None, ("TEST-08",),
     None, 150, 15, []),
    ("RET-PAY", "Document the instant payments failover runbook", "gap", None, ("TEST-01",), "FAST-PAY", 150, -60,
     [("in_progress", 120), ("done", 70), ("verified", 65)]),
]
EVIDENCE = "Change record and re-test report on the continuity site"
RISK = ("The origination platform is replaced next quarter; objectives are set for the new platform",
        "Chief Operating Officer", 45)


def generate(today: date, owners: dict[str, str], manager: str, gap_campaign: str
             ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(actions, action_questions, action_events) for storage.actions.insert; owners: unit -> head user."""
    rows: list[dict] = []
    questions: list[dict] = []
    events: list[dict] = []
    for n, (unit, title, source, ref, qids, service, created, due, path) in enumerate(ACTIONS, start=1):
        aid = f"ACT-{n:05d}"
        made = datetime.combine(today - timedelta(days=created), time(9))
        owner = owners[unit]
        row = {"action_id": aid, "revision": 1 + len(path), "source": source,
               "source_ref": gap_campaign if source == "gap" else ref,
               "campaign_id": gap_campaign if source == "gap" else None, "unit_id": unit, "service_id": service,
               "title": title, "description": None, "owner": owner, "due_on": today + timedelta(days=due),
               "priority": 4.0 if source == "gap" else None, "status": "open", "risk_reason": None,
               "risk_approver": None, "risk_expires_on": None, "evidence_text": None, "evidence_url": None,
               "evidence_date": None, "verified_by": None, "verified_on": None, "closed_on": None,
               "created_at": made, "created_by": manager, "updated_at": made, "updated_by": manager}
        events.append({"action_id": aid, "revision": 1, "status": "open", "changed_at": made, "changed_by": manager,
                       "note": "created"})
        for rev, (status, ago) in enumerate(path, start=2):
            at = datetime.combine(today - timedelta(days=ago), time(14))
            by = manager if status in ("verified", "risk_accepted") else owner
            events.append({"action_id": aid, "revision": rev, "status": status, "changed_at": at, "changed_by": by,
                           "note": None})
            row.update(status=status, updated_at=at, updated_by=by)
            if status == "done":
                row.update(evidence_text=EVIDENCE, evidence_date=at.date())
            if status == "verified":
                row.update(verified_by=manager, verified_on=at.date(), closed_on=at.date())
            if status == "risk_accepted":
                row.update(risk_reason=RISK[0], risk_approver=RISK[1],
                           risk_expires_on=today + timedelta(days=RISK[2]), closed_on=at.date())
        rows.append(row)
        questions.extend({"action_id": aid, "question_id": q} for q in qids)
    return (pl.DataFrame(rows, schema=ACTION_SCHEMA),
            pl.DataFrame(questions, schema={"action_id": pl.String, "question_id": pl.String}),
            pl.DataFrame(events, schema=EVENT_SCHEMA))
