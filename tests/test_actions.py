"""Improvement actions through the engine on a real database: the loop from an incident to verified actions
beside the next cycle's questions, status history with stale-write detection, bulk creation from gaps,
deadlines, the dashboard's aggregates, and every role x operation."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import polars as pl
import pytest

from assessment import access, actions, audit, campaigns, clock, incidents, recovery, users, workflow
from assessment.errors import InvalidState, PermissionDenied, StaleWrite, ValidationError
from assessment.model import Actor, AffectedService, Answer, Incident
from assessment.questionnaire import QUESTIONNAIRE_DIR, load_file
from assessment.storage import audit as audit_store

from .conftest import ADMIN

TODAY = date(2026, 6, 30)
MANAGER = Actor("continuity.manager", access.MANAGER)
HEAD = Actor("amira.haddad", access.HEAD, frozenset({"U1"}))
OTHER_HEAD = Actor("mei.lin", access.HEAD, frozenset({"U3"}))


def _users(db):
    users.create(db, ADMIN, "continuity.manager", "Continuity Manager", access.MANAGER, None)
    users.create(db, ADMIN, "amira.haddad", "Amira Haddad", access.HEAD, None, ["U1"])
    users.create(db, ADMIN, "mei.lin", "Mei Lin", access.HEAD, None, ["U3"])
    users.create(db, ADMIN, "lead", "Leader", access.LEADERSHIP, None)


def _new(unit="U1", owner="amira.haddad", **changes) -> actions.NewAction:
    base = dict(unit_id=unit, title="Re-test the payment gateway failover", owner=owner, due_on=date(2026, 8, 31),
                source="manual")
    return actions.NewAction(**{**base, **changes})


@pytest.fixture
def people(org):
    _users(org)
    return org


def _audit_head(db):
    with db.read() as cur:
        return audit_store.head(cur)


def _rows(db):
    with db.read() as cur:
        return [cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                for t in ("actions", "action_events", "action_questions")]


# ---- the loop ---------------------------------------------------------------------------------------------

def test_the_loop_incident_postmortem_actions_verified_next_cycle(reg):
    """An incident over RTO -> its post-mortem -> two actions -> done -> verified; in the next cycle TEST-07
    and TEST-08 show those records beside the questions and the dashboard's open-action counts move."""
    db = reg
    _users(db)
    q = load_file(QUESTIONNAIRE_DIR / "itscm-core-1.1.yaml")
    with clock.frozen(datetime(2026, 1, 5)):
        campaigns.create(db, ADMIN, "C1", "Cycle 2026", q, date(2026, 1, 5), date(2026, 2, 28), date(2026, 3, 15),
                         status="open")
    with clock.frozen(datetime(2026, 2, 11, 9)):
        iid = incidents.record_incident(db, ADMIN, Incident(
            "Gateway down", "critical", datetime(2026, 2, 10, 8), (AffectedService("PAY-GW"),),
            ended_at=datetime(2026, 2, 10, 14), postmortem_due=date(2026, 2, 24)))
    over = recovery.incidents_over_rto(db, ADMIN, today=date(2026, 2, 11))
    assert over.select("incident_id", "service_id", "postmortem_status").rows() == [(iid, "PAY-GW", "due")]
    with clock.frozen(datetime(2026, 2, 20, 9)):
        incidents.record_postmortem(db, MANAGER, iid, done_on=date(2026, 2, 20), base_revision=1,
                                    report_url="https://wiki.example/pm/inc-1")
        row = incidents.incident_log(db, ADMIN).row(0, named=True)
        lessons = actions.from_incident(row, "amira.haddad", lessons=True)
        a1 = actions.create(db, MANAGER, replace(lessons, question_ids=("TEST-07",)))
        a2 = actions.create(db, MANAGER, _new(title="Track the gateway fixes in the action register",
                                              source="postmortem", source_ref=iid, service_id="PAY-GW",
                                              question_ids=("TEST-08",), due_on=date(2026, 4, 30)))
    assert (a1, a2) == ("ACT-00001", "ACT-00002")
    totals, by_div, _ = actions.dashboard(db, ADMIN, today=date(2026, 3, 2))
    # Both created on 2026-02-20: 10 days old on 2026-03-02; none past due yet.
    assert (totals["open"], totals["overdue"], totals["median_age_days"]) == (2, 0, 10)
    assert by_div.select("division_id", "open", "overdue").rows() == [("D1", 2, 0)]

    with clock.frozen(datetime(2026, 3, 10, 9)):
        for aid in (a1, a2):
            assert actions.progress(db, HEAD, aid, "in_progress", base_revision=1) == 2
            actions.progress(db, HEAD, aid, "done", base_revision=2, evidence_text="runbook updated, re-tested",
                             evidence_url="https://wiki.example/runbook")
    assert actions.dashboard(db, ADMIN, today=date(2026, 3, 11))[0]["open"] == 2  # done awaits verification
    with clock.frozen(datetime(2026, 9, 2, 9)):
        campaigns.set_status(db, ADMIN, "C1", "closed")
        campaigns.create(db, ADMIN, "C2", "Cycle 2027", q, date(2026, 9, 1), date(2026, 10, 31), date(2026, 11, 15),
                         status="open")
        for aid in (a1, a2):
            actions.verify(db, MANAGER, aid, base_revision=3)
    totals, by_div, per_cycle = actions.dashboard(db, ADMIN, today=date(2026, 9, 2))
    assert (totals["open"], totals["overdue"], by_div.height) == (0, 0, 0)
    assert per_cycle.select("campaign_id", "verified").rows() == [("C1", 0), ("C2", 2)]

    # The head answering the next cycle sees what was promised, beside the questions.
    form = actions.for_form(db, HEAD, "U1", today=date(2026, 9, 10))
    assert form.select("question_id", "action_id", "status", "verified_by").rows() == [
        ("TEST-07", a1, "verified", "continuity.manager"), ("TEST-08", a2, "verified", "continuity.manager")]
    checks = recovery.record_checks(db, HEAD, "C2", "U1", as_of=date(2026, 9, 10))
    assert checks.filter(pl.col("question_id") == "TEST-07").select("applies", "holds").rows() == [(True, True)]
    history = actions.get_action(db, HEAD, a1)["history"]
    assert history.select("revision", "status", "changed_by").rows() == [
        (1, "open", "continuity.manager"), (2, "in_progress", "amira.haddad"), (3, "done", "amira.haddad"),
        (4, "verified", "continuity.manager")]
    trail = audit.entries(db, ADMIN, action=None)
    assert trail.filter(pl.col("object_id") == a1)["action"].to_list().count("action.verify") == 1


# ---- status changes -------------------------------------------------------------------------------------------

def test_stale_write_is_refused_and_keeps_the_stored_state(people):
    aid = actions.create(people, MANAGER, _new(), today=TODAY)
    actions.progress(people, HEAD, aid, "in_progress", base_revision=1, today=TODAY)
    before = (_rows(people), _audit_head(people))
    with pytest.raises(StaleWrite, match="changed by amira.haddad") as err:
        actions.progress(people, MANAGER, aid, "open", base_revision=1, today=TODAY)
    assert err.value.conflicts[0]["revision"] == 2
    assert (_rows(people), _audit_head(people)) == before


def test_every_problem_at_once_and_nothing_written(people):
    before = (_rows(people), _audit_head(people))
    with pytest.raises(ValidationError) as err:
        actions.create(people, MANAGER, _new(title=" ", owner="nobody", due_on=date(2026, 1, 1), source="rumour",
                                             priority=-1), today=TODAY)
    assert [p.split(":")[0] for p in err.value.problems] == ["title", "source", "due_on", "priority", "owner"]
    assert (_rows(people), _audit_head(people)) == before


def test_done_needs_evidence_verify_needs_done_risk_acceptance_needs_reason_approver_expiry(people):
    aid = actions.create(people, MANAGER, _new(), today=TODAY)
    with pytest.raises(ValidationError, match="evidence: say what was done"):
        actions.progress(people, HEAD, aid, "done", base_revision=1, today=TODAY)
    with pytest.raises(InvalidState, match="only a done action"):
        actions.verify(people, MANAGER, aid, base_revision=1, today=TODAY)
    with pytest.raises(ValidationError) as err:
        actions.accept_risk(people, MANAGER, aid, base_revision=1, reason="", approver="", expires_on=TODAY,
                            today=TODAY)
    assert [p.split(":")[0] for p in err.value.problems] == ["risk_reason", "risk_approver", "risk_expires_on"]
    actions.accept_risk(people, MANAGER, aid, base_revision=1, reason="supplier replaces the gateway in Q4",
                        approver="CIO", expires_on=date(2026, 12, 31), today=TODAY)
    got = actions.get_action(people, ADMIN, aid)
    assert (got["status"], got["risk_approver"], got["closed_on"]) == ("risk_accepted", "CIO", TODAY)
    # The owner cannot reopen a closed action; the continuity office can.
    with pytest.raises(PermissionDenied):
        actions.progress(people, HEAD, aid, "open", base_revision=2, today=TODAY)
    actions.progress(people, MANAGER, aid, "open", base_revision=2, today=TODAY)
    assert actions.get_action(people, ADMIN, aid)["risk_reason"] is None


# ---- bulk from gaps -----------------------------------------------------------------------------------------

def _scored(db):
    """U1 (tier 1) and U3 (tier 2) submitted on the mini questionnaire: U1 has gaps on every question."""
    for unit, level in (("U1", 1), ("U3", 3)):
        workflow.save_answers(db, ADMIN, "C1", unit, [Answer("GOV-01", level), Answer("GOV-02", level),
                                                       Answer("TEST-01", level), Answer("TEST-02", level)],
                              today=TODAY)
        workflow.submit(db, ADMIN, "C1", unit, today=TODAY)


def test_create_from_gaps_preview_then_create_then_no_second_action(people):
    _scored(people)
    with people.read() as cur:
        gaps = cur.sql("SELECT unit_id, question_id, priority FROM question_scores WHERE campaign_id = 'C1' "
                       "AND priority > 1 ORDER BY priority DESC, unit_id, question_id").pl()
    assert gaps.height > 0
    before = (_rows(people), _audit_head(people))
    preview = actions.create_from_gaps(people, MANAGER, "C1", min_priority=1, today=TODAY, dry_run=True)
    assert (_rows(people), _audit_head(people)) == before  # a dry run writes nothing
    keys = ["unit_id", "question_id"]
    assert sorted(preview.select(keys).rows()) == sorted(gaps.select(keys).rows())
    assert set(preview.filter(pl.col("unit_id") == "U1")["owner"]) == {"amira.haddad"}  # the unit's head
    assert set(preview["due_on"]) == {TODAY + timedelta(days=90)}
    # One gap already has an open action: it is not doubled.
    first = preview.row(0, named=True)
    assert first["title"] == actions.from_gap(first, "C1", "x", TODAY).title  # one title rule, row and frame
    actions.create(people, MANAGER, actions.from_gap(first, "C1", "amira.haddad", TODAY), today=TODAY)
    made = actions.create_from_gaps(people, MANAGER, "C1", min_priority=1, today=TODAY)
    assert made.height == preview.height - 1
    assert made["action_id"].to_list() == [f"ACT-{n:05d}" for n in range(2, preview.height + 1)]
    stored = actions.list_actions(people, ADMIN, today=TODAY)
    assert stored.height == preview.height and set(stored["source"]) == {"gap"}
    by_key = {(r["unit_id"], r["question_ids"]): r["priority"] for r in stored.iter_rows(named=True)}
    assert by_key == {(u, q): pytest.approx(p) for u, q, p in gaps.rows()}  # priority = the gap's priority
    assert actions.create_from_gaps(people, MANAGER, "C1", min_priority=1, today=TODAY).height == 0
    entries = audit.entries(people, ADMIN).filter(pl.col("action") == "action.create_from_gaps")
    assert entries.height == 1


def test_a_head_creates_from_gaps_only_for_own_units(people):
    _scored(people)
    made = actions.create_from_gaps(people, HEAD, "C1", min_priority=0, today=TODAY)
    assert set(made["unit_id"]) == {"U1"}


# ---- deadlines ----------------------------------------------------------------------------------------------

def test_due_for_lists_due_overdue_and_expiring_risk_acceptances(people):
    with clock.frozen(datetime(2026, 5, 1)):
        late = actions.create(people, MANAGER, _new(title="late", due_on=date(2026, 6, 1)))
        soon = actions.create(people, MANAGER, _new(title="soon", due_on=date(2026, 7, 20)))
        far = actions.create(people, MANAGER, _new(unit="U3", owner="mei.lin", title="far", due_on=date(2027, 3, 1)))
        risk = actions.create(people, MANAGER, _new(title="risk", due_on=date(2026, 6, 15)))
        actions.accept_risk(people, MANAGER, risk, base_revision=1, reason="r", approver="CIO",
                            expires_on=date(2026, 8, 1))
        gone = actions.create(people, MANAGER, _new(title="done and verified", due_on=date(2026, 6, 2)))
        actions.progress(people, HEAD, gone, "done", base_revision=1, evidence_text="x")
        actions.verify(people, MANAGER, gone, base_revision=2)
    df = actions.due_for(people, ADMIN, today=TODAY)
    assert df.select("action_id", "kind", "days_left", "bucket").rows() == [
        (late, "action due", -29, "overdue"), (soon, "action due", 20, "due in 30 days"),
        (risk, "risk acceptance", 32, "due in 60 days"), (far, "action due", 244, "later")]
    assert actions.due_for(people, ADMIN, today=TODAY, horizon_days=30)["action_id"].to_list() == [late, soon]
    assert actions.due_for(people, ADMIN, today=TODAY, owner="mei.lin")["action_id"].to_list() == [far]
    assert actions.due_for(people, OTHER_HEAD, today=TODAY)["action_id"].to_list() == [far]
    assert actions.list_actions(people, ADMIN, overdue=True, today=TODAY)["action_id"].to_list() == [late]


def test_dashboard_median_age_and_overdue_by_division(people):
    for day, unit, owner, due in ((date(2026, 6, 1), "U1", "amira.haddad", date(2026, 6, 20)),
                                  (date(2026, 6, 10), "U2", "amira.haddad", date(2026, 9, 1)),
                                  (date(2026, 6, 25), "U1", "amira.haddad", date(2026, 9, 1)),
                                  (date(2026, 6, 29), "U3", "mei.lin", date(2026, 6, 29))):
        with clock.frozen(day):
            actions.create(people, MANAGER, _new(unit=unit, owner=owner, due_on=due))
    totals, by_div, _ = actions.dashboard(people, ADMIN, today=TODAY)
    # Ages on 2026-06-30: 29, 20, 5 (D1) and 1 (D2); overall median of 1, 5, 20, 29 = 12.5.
    assert (totals["open"], totals["overdue"], totals["median_age_days"]) == (4, 2, 12.5)
    assert by_div.select("division_id", "open", "overdue", "median_age_days").rows() == [
        ("D1", 3, 1, 20.0), ("D2", 1, 1, 1.0)]
    assert actions.dashboard(people, HEAD, today=TODAY)[0]["open"] == 2  # a head sees their own units


# ---- access: every role x operation, own and other unit -------------------------------------------------------

ACTORS = {
    "admin": Actor("adm", access.ADMIN),
    "manager": MANAGER,
    "head (owner)": HEAD,
    "leadership": Actor("lead", access.LEADERSHIP),
    "auditor": Actor("aud", access.AUDITOR),
}


def _setup(db, unit) -> str:
    owner = "amira.haddad" if unit == "U1" else "mei.lin"
    aid = actions.create(db, ADMIN, _new(unit=unit, owner=owner), today=TODAY)
    actions.progress(db, ADMIN, aid, "done", base_revision=1, evidence_text="fixed", today=TODAY)
    return aid


def op_create(db, actor, unit, aid):
    actions.create(db, actor, _new(unit=unit), today=TODAY)


def op_progress(db, actor, unit, aid):
    actions.progress(db, actor, aid, "in_progress", base_revision=2, today=TODAY)


def op_verify(db, actor, unit, aid):
    actions.verify(db, actor, aid, base_revision=2, today=TODAY)


def op_accept(db, actor, unit, aid):
    actions.accept_risk(db, actor, aid, base_revision=2, reason="r", approver="CIO", expires_on=date(2026, 12, 1),
                        today=TODAY)


def op_read(db, actor, unit, aid):
    actions.get_action(db, actor, aid)


def op_bulk(db, actor, unit, aid):
    actions.create_from_gaps(db, actor, "C1", min_priority=0, today=TODAY,
                             filters=actions.Filters(unit_ids=(unit,)))


OPS = {"create": op_create, "progress": op_progress, "verify": op_verify, "accept risk": op_accept,
       "read": op_read, "create from gaps": op_bulk}
EVERYONE = set(ACTORS)
# (operation, the head's own unit?) -> roles allowed. U1's actions are owned by the head, U3's by another.
ALLOWED = {
    "create": {True: {"admin", "manager", "head (owner)"}, False: {"admin", "manager"}},
    "progress": {True: {"admin", "manager", "head (owner)"}, False: {"admin", "manager"}},
    "verify": {True: {"admin", "manager"}, False: {"admin", "manager"}},
    "accept risk": {True: {"admin", "manager"}, False: {"admin", "manager"}},
    "read": {True: EVERYONE, False: EVERYONE - {"head (owner)"}},
    "create from gaps": {True: {"admin", "manager", "head (owner)"}, False: {"admin", "manager"}},
}


@pytest.mark.parametrize("role", ACTORS)
@pytest.mark.parametrize("own", [True, False], ids=["own unit", "other unit"])
@pytest.mark.parametrize("op", OPS)
def test_action_operations_by_role(people, role, own, op):
    unit = "U1" if own else "U3"
    if op == "create from gaps":
        _scored(people)
    aid = _setup(people, unit)
    before = (_rows(people), _audit_head(people))
    if role in ALLOWED[op][own]:
        OPS[op](people, ACTORS[role], unit, aid)
        if op != "read":
            assert _audit_head(people) != before[1]
        return
    with pytest.raises(PermissionDenied):
        OPS[op](people, ACTORS[role], unit, aid)
    assert (_rows(people), _audit_head(people)) == before  # a denial writes nothing


# ---- command line -------------------------------------------------------------------------------------------

def test_cli_create_from_gaps_dry_run_then_list_and_deadlines(people, capsys):
    from assessment import cli

    from .conftest import duckdb_only

    duckdb_only(people)
    _scored(people)
    path = str(people.path)
    preview = actions.gaps_to_action(people, ADMIN, "C1", min_priority=1, today=TODAY)
    expected, of_mei = preview.height, preview.filter(pl.col("owner") == "mei.lin").height
    assert 0 < of_mei < expected
    assert cli.main(["--db", path, "actions", "create-from-gaps", "C1", "--min-priority", "1", "--dry-run",
                     "--today", "2026-06-30"]) == 0
    assert f"C1: would create {expected} action(s) for gaps above priority 1" in capsys.readouterr().out
    assert actions.list_actions(people, ADMIN).height == 0
    assert cli.main(["--db", path, "actions", "create-from-gaps", "C1", "--min-priority", "1",
                     "--today", "2026-06-30"]) == 0
    assert f"C1: created {expected} action(s)" in capsys.readouterr().out
    assert actions.list_actions(people, ADMIN).height == expected
    # On 2026-09-28 (their due date) none is overdue, on 2026-10-01 every one; mei.lin owns U3's.
    assert cli.main(["--db", path, "actions", "list", "--overdue", "--today", "2026-09-28"]) == 0
    assert "(nothing to show)" in capsys.readouterr().out
    assert cli.main(["--db", path, "actions", "list", "--overdue", "--today", "2026-10-01"]) == 0
    assert capsys.readouterr().out.count("| ACT-") == expected
    assert cli.main(["--db", path, "actions", "list", "--owner", "mei.lin"]) == 0
    out = capsys.readouterr().out
    assert out.count("| ACT-") == of_mei and "amira.haddad" not in out
    assert cli.main(["--db", path, "deadlines", "--campaign", "C1", "--today", "2026-10-01"]) == 0
    out = capsys.readouterr().out.split("Improvement actions due and overdue")[1]
    assert out.count("| overdue") == expected and "action due" in out


def test_a_gap_action_takes_the_gaps_priority_by_default(people):
    _scored(people)
    with people.read() as cur:
        want = cur.execute("SELECT priority FROM question_scores WHERE campaign_id = 'C1' AND unit_id = 'U1' "
                           "AND question_id = 'GOV-01'").fetchall()[0][0]
    assert want > 0
    aid = actions.create(people, MANAGER, _new(source="gap", campaign_id="C1", question_ids=("GOV-01",)), today=TODAY)
    assert actions.get_action(people, ADMIN, aid)["priority"] == pytest.approx(want)
    manual = actions.create(people, MANAGER, _new(), today=TODAY)
    assert actions.get_action(people, ADMIN, manual)["priority"] is None
