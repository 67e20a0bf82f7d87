"""The exercise and incident logs: results judged against the objectives in force at the time and stored with
them, so a later change of an RTO never rewrites a past result; incidents updated with stale-write checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import polars as pl
import pytest

from assessment import access, audit, clock, exercises, incidents, services
from assessment.errors import InvalidState, NotFound, PermissionDenied, StaleWrite, ValidationError
from assessment.model import Actor, AffectedService, Exercise, ExerciseResult, Incident

from .conftest import ADMIN
from .helpers.records import pay_gw

NOW = datetime(2025, 11, 1, 12, 0)


def failover(when=date(2025, 10, 1), **results) -> Exercise:
    return Exercise(when, "failover", "Payments failover to the second site",
                    tuple(ExerciseResult(sid, took, lost) for sid, (took, lost) in results.items()),
                    scenario="Loss of the primary data centre", participants="IT operations, Acme",
                    supplier_ids=("ACME",), objectives="Fail over and back within RTO", objectives_met=False,
                    report_url="https://intranet.example/dr/2025-10")


def test_results_are_judged_against_the_version_valid_on_the_exercise_date(reg):
    with clock.frozen(datetime(2025, 9, 15, 9)):  # PAY-GW's RTO goes from 2 h to 8 h ... after the exercise
        services.update_service(reg, ADMIN, pay_gw(rto_minutes=480, mtpd_minutes=600), base_revision=1)
    with clock.frozen(NOW):
        eid = exercises.record_exercise(reg, ADMIN, failover(date(2025, 9, 1), **{"PAY-GW": (360, 0),
                                                                               "CORE-DB": (45, 10)}))
    assert eid == "EX-00001"
    x = exercises.get_exercise(reg, ADMIN, eid)
    got = {r["service_id"]: r for r in x["results"]}
    # Judged against the 2 h in force on 1 September: failed, and it stays failed.
    assert (got["PAY-GW"]["rto_minutes"], got["PAY-GW"]["service_revision"]) == (120, 1)
    assert (got["PAY-GW"]["recovery_met"], got["PAY-GW"]["passed"]) == (False, False)
    # CORE-DB recovered in time but lost 10 min of data against an RPO of 5 min.
    assert (got["CORE-DB"]["recovery_met"], got["CORE-DB"]["data_met"], got["CORE-DB"]["passed"]) == (True, False,
                                                                                                       False)
    assert x["suppliers"] == ["ACME"] and x["objectives_met"] is False
    with clock.frozen(NOW):
        later = exercises.record_exercise(reg, ADMIN, failover(date(2025, 10, 1), **{"PAY-GW": (360, 0)}))
    assert exercises.get_exercise(reg, ADMIN, later)["results"][0]["passed"] is True  # 6 h within the new 8 h


def test_a_result_without_a_measured_time_or_rto_never_passes(reg):
    with clock.frozen(datetime(2025, 2, 1)):
        services.create_service(reg, ADMIN, services.service_input(
            service_id="NEW", name="New service", unit_id="U2", owner="tom.okafor", recovery_tier=3, rpo="1h"))
    with clock.frozen(NOW):
        eid = exercises.record_exercise(reg, ADMIN, failover(**{"PAY-GW": (None, None), "NEW": (30, 0)}))
    got = {r["service_id"]: r for r in exercises.get_exercise(reg, ADMIN, eid)["results"]}
    assert got["PAY-GW"]["passed"] is None and got["NEW"]["passed"] is None


def test_exercise_validation_lists_every_problem_and_writes_nothing(reg):
    bad = Exercise(date(2025, 12, 1), "drill", " ", (ExerciseResult("PAY-GW", -5), ExerciseResult("PAY-GW")),
                   report_url="javascript:alert(1)")
    with clock.frozen(NOW), pytest.raises(ValidationError) as err:
        exercises.record_exercise(reg, ADMIN, bad)
    assert err.value.problems == [
        "exercise_type: expected one of walkthrough, tabletop, restore_test, failover, full_interruption, got 'drill'",
        "title: an exercise needs a title",
        "exercise_date: 2025-12-01 is in the future; record an exercise once it took place",
        "report_url: expected an http(s) link or a file path",
        "results[0].achieved_recovery_minutes: cannot be negative",
        "results[1].service_id: PAY-GW is listed twice"]
    with clock.frozen(NOW), pytest.raises(ValidationError) as err:
        exercises.record_exercise(reg, ADMIN, replace(failover(date(2025, 1, 5), **{"PAY-GW": (60, 0)}),
                                                      supplier_ids=("GHOST",)))
    assert err.value.problems == ["results.service_id: PAY-GW is not a service of the register on 2025-01-05",
                                  "supplier_ids: unknown supplier 'GHOST'"]
    assert exercises.exercise_log(reg, ADMIN).height == 0


def test_a_withdrawn_exercise_leaves_the_log_but_not_the_audit_trail(reg):
    with clock.frozen(NOW):
        eid = exercises.record_exercise(reg, ADMIN, failover(**{"PAY-GW": (60, 0)}))
        exercises.withdraw_exercise(reg, ADMIN, eid, reason="recorded against the wrong service")
        with pytest.raises(InvalidState, match="already withdrawn"):
            exercises.withdraw_exercise(reg, ADMIN, eid, reason="again")
    assert exercises.exercise_log(reg, ADMIN).height == 0
    log = exercises.exercise_log(reg, ADMIN, include_withdrawn=True)
    assert log["withdrawn_reason"].to_list() == ["recorded against the wrong service"]
    assert {"exercise.record", "exercise.withdraw"} <= set(audit.entries(reg, ADMIN)["action"])


def outage(**changes) -> Incident:
    base = dict(title="Payment outage", severity="critical", started_at=datetime(2025, 10, 3, 8, 0),
                ended_at=datetime(2025, 10, 3, 14, 0), services=(AffectedService("PAY-GW"),
                                                                 AffectedService("CORE-DB", 30, 2)),
                plan_invoked=True, postmortem_due=date(2025, 10, 17), ticket_url="https://itsm.example/INC123")
    return Incident(**{**base, **changes})


def test_an_incident_is_judged_against_the_rto_in_force_when_it_started(reg):
    with clock.frozen(NOW):
        iid = incidents.record_incident(reg, ADMIN, outage())
    got = incidents.get_incident(reg, ADMIN, iid)
    by = {s["service_id"]: s for s in got["services"]}
    # PAY-GW was down for the whole incident (6 h) against 2 h; CORE-DB for 30 min against 1 h.
    assert (by["PAY-GW"]["outage_minutes"], by["PAY-GW"]["over_rto"]) == (360, True)
    assert (by["CORE-DB"]["outage_minutes"], by["CORE-DB"]["over_rto"], by["CORE-DB"]["over_rpo"]) == (30, False,
                                                                                                        False)
    assert (got["revision"], got["plan_invoked"], got["ticket_url"]) == (1, True, "https://itsm.example/INC123")


def test_an_ongoing_incident_is_judged_once_it_ends_and_updates_check_the_revision(reg):
    with clock.frozen(NOW):
        iid = incidents.record_incident(reg, ADMIN, outage(ended_at=None, services=(AffectedService("PAY-GW"),)))
        assert incidents.get_incident(reg, ADMIN, iid)["services"][0]["over_rto"] is None
        rev = incidents.update_incident(reg, ADMIN, iid, outage(services=(AffectedService("PAY-GW"),)),
                                        base_revision=1)
        assert rev == 2 and incidents.get_incident(reg, ADMIN, iid)["services"][0]["over_rto"] is True
        with pytest.raises(StaleWrite, match="revision 2, you started from 1"):
            incidents.update_incident(reg, ADMIN, iid, outage(), base_revision=1)
        incidents.record_postmortem(reg, ADMIN, iid, done_on=date(2025, 10, 20), base_revision=2,
                                    report_url="https://intranet.example/pm/INC123")
    got = incidents.get_incident(reg, ADMIN, iid)
    assert (got["revision"], got["postmortem_done"], got["report_url"]) == (
        3, date(2025, 10, 20), "https://intranet.example/pm/INC123")
    assert got["services"][0]["outage_minutes"] == 360  # still follows the incident's duration
    actions = audit.entries(reg, ADMIN, object_type="incident")["action"].to_list()
    assert sorted(actions) == ["incident.record", "incident.update", "incident.update"]


def test_incident_validation_lists_every_problem(reg):
    bad = outage(title="", severity="sev0", ended_at=datetime(2025, 10, 3, 7), postmortem_due=date(2025, 10, 1),
                 postmortem_done=date(2025, 12, 1), ticket_url="ftp://x",
                 services=(AffectedService("PAY-GW", 900), AffectedService("PAY-GW", -1)))
    with clock.frozen(NOW), pytest.raises(ValidationError) as err:
        incidents.record_incident(reg, ADMIN, bad)
    assert err.value.problems == [
        "title: an incident needs a title",
        "severity: expected one of critical, high, medium, low, got 'sev0'",
        "ended_at: 2025-10-03 07:00 is before the start",
        "postmortem_due: 2025-10-01 is before the incident started",
        "postmortem_done: 2025-12-01 must lie between the start of the incident and today",
        "ticket_url: expected an http(s) link or a file path",
        "services[1].service_id: PAY-GW is listed twice",
        "services[1].outage_minutes: cannot be negative"]
    with clock.frozen(NOW), pytest.raises(ValidationError) as err:
        incidents.record_incident(reg, ADMIN, outage(services=(AffectedService("PAY-GW", 361),)))
    assert err.value.problems == ["services[0].outage_minutes: PAY-GW's outage is longer than the incident"]
    with clock.frozen(NOW), pytest.raises(ValidationError, match="NOPE is not a service of the register"):
        incidents.record_incident(reg, ADMIN, outage(services=(AffectedService("NOPE"),)))
    with pytest.raises(NotFound):
        incidents.get_incident(reg, ADMIN, "INC-00042")


def test_a_head_reads_the_records_of_their_own_units_only(reg):
    with clock.frozen(datetime(2025, 2, 1)):
        services.create_service(reg, ADMIN, services.service_input(
            service_id="TRD", name="Trading", unit_id="U3", owner="mei.lin", recovery_tier=1, rto="1h", rpo="0m"))
    with clock.frozen(NOW):
        eid = exercises.record_exercise(reg, ADMIN, failover(**{"PAY-GW": (60, 0), "TRD": (30, 0)}))
        iid = incidents.record_incident(reg, ADMIN, outage(services=(AffectedService("TRD"),)))
    head = Actor("head", access.HEAD, frozenset({"U1"}))
    assert exercises.exercise_log(reg, head)["service_id"].to_list() == ["PAY-GW"]
    assert [r["service_id"] for r in exercises.get_exercise(reg, head, eid)["results"]] == ["PAY-GW"]
    assert incidents.incident_log(reg, head).height == 0
    with pytest.raises(PermissionDenied):
        incidents.get_incident(reg, head, iid)
    lead = Actor("lead", access.LEADERSHIP)
    assert exercises.exercise_log(reg, lead).height == 2 and incidents.incident_log(reg, lead).height == 1
    log = exercises.exercise_log(reg, lead, since=date(2025, 10, 2))
    assert log.height == 0 and isinstance(log, pl.DataFrame)
