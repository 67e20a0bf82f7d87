"""The continuity records page, the recovery view on the dashboard and unit page, the records beside the
self-assessment questions and the record deadlines, through AppTest for each role."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from assessment import access, clock, exercises, incidents, services, workflow
from assessment.model import Answer

from .helpers.apptest import (
    ADMIN,
    HEAD_PAY,
    LEADERSHIP,
    MANAGER,
    UNIT_PAY,
    app_db,
    assert_ok,
    open_campaign,
    open_page,
)
from .test_app_pages import Q

SYSTEM = access.SYSTEM
RECORD_BUTTONS = {"rec|svc|save", "rec|ex|save", "rec|inc|save"}


def buttons(at) -> set[str]:
    return {b.key for b in at.button}


def frames(at) -> list[pl.DataFrame]:
    return [pl.from_pandas(d.value) for d in at.dataframe]


def frame_with(at, column: str, text: str) -> pl.DataFrame:
    """The first table whose `column` contains `text`."""
    for df in frames(at):
        if column in df.columns and df[column].cast(pl.String).str.contains(text, literal=True).any():
            return df
    raise AssertionError(f"no table with {text!r} in {column!r}")


def texts(at) -> str:
    return "\n".join(str(x.value) for x in [*at.markdown, *at.warning, *at.success, *at.error, *at.info])


# ---- who may see and do what ----------------------------------------------------------------------------------

@pytest.mark.usefixtures("app_env")
@pytest.mark.parametrize("user", [MANAGER, ADMIN])
def test_the_continuity_office_sees_every_unit_and_every_form(user):
    at = open_page(user, "records.py")
    assert at.title[0].value == "Continuity records"
    assert RECORD_BUTTONS <= buttons(at)
    register = frame_with(at, "service_id", "CARD-AUTH")
    assert register.height == 18
    assert set(register["rto"].to_list()) >= {"2 h", "30 min", "8 h"}  # durations, not minutes
    log = frame_with(at, "exercise_id", "EX-")
    assert log["unit"].n_unique() > 3


@pytest.mark.usefixtures("app_env")
def test_head_maintains_own_services_and_only_reads_own_records():
    at = open_page(HEAD_PAY, "records.py")
    assert "rec|svc|save" in buttons(at)
    assert not {"rec|ex|save", "rec|inc|save"} & buttons(at)  # exercises and incidents are the office's
    register = frame_with(at, "service_id", "PAY-GW")
    assert set(register["service_id"].to_list()) == {"PAY-GW", "FAST-PAY"}
    assert set(at.selectbox(key="rec|svc|pick").options) == {"+ new service", "PAY-GW · Payment gateway",
                                                           "FAST-PAY · Instant payments"}
    assert set(at.selectbox(key="rec|svc|unit").options) == {"Payments · Retail Banking"}
    log = frame_with(at, "exercise_id", "EX-")
    assert set(log["service_id"].to_list()) == {"PAY-GW"}  # the other services' results are not theirs


@pytest.mark.usefixtures("app_env")
@pytest.mark.parametrize("user", [LEADERSHIP, "auditor"])
def test_leadership_and_auditors_read_without_forms(user):
    at = open_page(user if user != "auditor" else _auditor(), "records.py")
    assert not RECORD_BUTTONS & buttons(at)
    assert frame_with(at, "service_id", "CARD-AUTH").height == 18
    assert frame_with(at, "incident_id", "INC-").height >= 4


def _auditor() -> str:
    from assessment import users

    names = users.list_users(app_db(), SYSTEM).filter(pl.col("role") == access.AUDITOR)["username"]
    return names[0]


# ---- writes through the page ------------------------------------------------------------------------------

@pytest.mark.usefixtures("app_env")
def test_a_new_service_with_bad_objectives_shows_every_problem_and_saves_nothing():
    at = open_page(HEAD_PAY, "records.py")
    at.text_input(key="rec|svc|id").set_value("PAY-NEW")
    at.text_input(key="rec|svc|name").set_value("New payments hub")
    at.selectbox(key="rec|svc|unit").set_value(UNIT_PAY)
    at.text_input(key="rec|svc|owner").set_value(HEAD_PAY)
    at.text_input(key="rec|svc|mtpd").set_value("30m")
    at.text_input(key="rec|svc|rto").set_value("1h")           # longer than the MTPD, shorter than CORE-DB's 8 h
    at.text_input(key="rec|svc|rpo").set_value("")             # holds data: needs an RPO
    at.text_area(key="rec|svc|deps").set_value("service CORE-DB | postings\nwarehouse X")
    at.button(key="rec|svc|save").click().run()
    shown = "\n".join(e.value for e in at.error)
    assert "dependencies line 2" in shown  # the unreadable line first (the form cannot be built)
    at.text_area(key="rec|svc|deps").set_value("service CORE-DB | postings")
    at.button(key="rec|svc|save").click().run()
    shown = "\n".join(e.value for e in at.error)
    assert "RTO" in shown and "MTPD" in shown and "RPO" in shown, shown
    assert "CORE-DB" in shown and "inversion" in shown.lower(), shown  # the chain is named
    assert services.list_services(app_db(), SYSTEM).filter(pl.col("service_id") == "PAY-NEW").height == 0
    assert at.text_input(key="rec|svc|name").value == "New payments hub"  # the input is kept


@pytest.mark.usefixtures("app_env")
def test_head_adds_a_service_and_a_stale_edit_keeps_the_input():
    at = open_page(HEAD_PAY, "records.py")
    at.text_input(key="rec|svc|id").set_value("PAY-NEW")
    at.text_input(key="rec|svc|name").set_value("New payments hub")
    at.selectbox(key="rec|svc|unit").set_value(UNIT_PAY)
    at.text_input(key="rec|svc|owner").set_value(HEAD_PAY)
    for f, v in (("mtpd", "1d"), ("rto", "4h"), ("rpo", "15m")):
        at.text_input(key=f"rec|svc|{f}").set_value(v)
    at.text_area(key="rec|svc|deps").set_value("service NET-CORE | network\nsupplier SWIFTNET")
    at.button(key="rec|svc|save").click().run()
    assert_ok(at)
    row = services.get_service(app_db(), SYSTEM, "PAY-NEW")
    assert (row["rto_minutes"], row["mtpd_minutes"], row["rpo_minutes"], row["unit_id"]) == (240, 1440, 15, UNIT_PAY)
    assert {(d["kind"], d["target_id"]) for d in row["dependencies"]} == {("service", "NET-CORE"),
                                                                          ("supplier", "SWIFTNET")}
    # Edit it while someone else changes it: the save is refused and the input stays.
    at.selectbox(key="rec|svc|pick").set_value("PAY-NEW").run()
    at.text_input(key="rec|svc|rto").set_value("3h")
    services.update_service(app_db(), SYSTEM, services.as_service({**row, "name": "Payments hub"}), base_revision=1)
    at.button(key="rec|svc|save").click().run()
    assert any("was changed by system" in x.value for x in at.warning), [x.value for x in at.warning]
    assert at.text_input(key="rec|svc|rto").value == "3h"
    assert services.get_service(app_db(), SYSTEM, "PAY-NEW")["rto_minutes"] == 240
    at.button(key="rec|svc|reload").click().run()
    assert at.text_input(key="rec|svc|name").value == "Payments hub"
    at.text_input(key="rec|svc|rto").set_value("3h")
    at.button(key="rec|svc|save").click().run()
    assert_ok(at)
    assert services.get_service(app_db(), SYSTEM, "PAY-NEW")["rto_minutes"] == 180


@pytest.mark.usefixtures("app_env")
def test_manager_records_an_exercise_then_withdraws_it():
    at = open_page(MANAGER, "records.py")
    at.text_input(key="rec|ex|title").set_value("Network failover")
    at.multiselect(key="rec|ex|services").set_value(["NET-CORE", "APP-HOST"]).run()
    at.text_input(key="rec|ex|NET-CORE|took").set_value("2h")
    at.text_input(key="rec|ex|APP-HOST|took").set_value("forty minutes")
    at.text_input(key="rec|ex|APP-HOST|lost").set_value("soon")
    at.button(key="rec|ex|save").click().run()
    shown = "\n".join(e.value for e in at.error)
    assert "APP-HOST recovery time" in shown and "APP-HOST data lost" in shown  # every problem at once
    at.text_input(key="rec|ex|APP-HOST|took").set_value("40m")
    at.text_input(key="rec|ex|APP-HOST|lost").set_value("5m")
    at.button(key="rec|ex|save").click().run()
    assert_ok(at)
    log = exercises.exercise_log(app_db(), SYSTEM).filter(pl.col("title") == "Network failover")
    got = dict(zip(log["service_id"], log["passed"]))
    assert got == {"NET-CORE": False, "APP-HOST": True}  # 2 h against 30 min; 40 min against 1 h
    xid = log["exercise_id"][0]
    at.selectbox(key="rec|exw|pick").set_value(xid)
    at.text_input(key="rec|exw|reason").set_value("Recorded against the wrong date")
    at.button(key="rec|exw|go").click().run()
    assert_ok(at)
    assert exercises.exercise_log(app_db(), SYSTEM).filter(pl.col("exercise_id") == xid).height == 0


@pytest.mark.usefixtures("app_env")
def test_manager_records_an_incident_and_its_post_mortem():
    at = open_page(MANAGER, "records.py")
    at.text_input(key="rec|inc|title").set_value("Gateway outage")
    at.date_input(key="rec|inc_start|day").set_value(clock.today() - timedelta(days=2))
    at.checkbox(key="rec|inc|ended").check().run()
    at.date_input(key="rec|inc_end|day").set_value(clock.today() - timedelta(days=1))
    at.multiselect(key="rec|inc|services").set_value(["PAY-GW"]).run()
    at.button(key="rec|inc|save").click().run()
    assert_ok(at)
    log = incidents.incident_log(app_db(), SYSTEM).filter(pl.col("title") == "Gateway outage")
    assert log["outage_minutes"].to_list() == [1440] and log["over_rto"].to_list() == [True]
    iid = log["incident_id"][0]
    at.selectbox(key="rec|pm|pick").set_value(iid).run()
    at.date_input(key=f"rec|pm|{iid}|done").set_value(clock.today())
    at.button(key="rec|pm|save").click().run()
    assert_ok(at)
    assert incidents.get_incident(app_db(), SYSTEM, iid)["postmortem_done"] == clock.today()


# ---- the records in the other pages ---------------------------------------------------------------------------

def _claim_failover_testing(unit: str = "OPT-NET") -> str:
    """The unit claims level 4 on TEST-02 with fresh evidence (so only the records can cap it)."""
    cid = open_campaign()
    workflow.save_answers(app_db(), SYSTEM, cid, unit, [Answer("TEST-02", 4, evidence="DR test report",
                                                                evidence_date=clock.today() - timedelta(days=10))])
    return cid


@pytest.mark.usefixtures("app_env")
def test_a_failed_failover_caps_test_02_on_the_unit_page_and_the_dashboard():
    cid = _claim_failover_testing()
    at = open_page(MANAGER, "records.py")
    at.text_input(key="rec|ex|title").set_value("Core network failover")
    at.multiselect(key="rec|ex|services").set_value(["NET-CORE"]).run()
    at.text_input(key="rec|ex|NET-CORE|took").set_value("2h")
    at.button(key="rec|ex|save").click().run()
    assert_ok(at)
    reason = f"NET-CORE's latest failover/switchover on {clock.today()} took 2 h against an RTO of 30 min"
    at.session_state["unit_pick"], at.session_state["unit_campaign"] = "OPT-NET", cid
    at.switch_page("views/unit.py").run()
    assert_ok(at)
    answers = frame_with(at, "status", "capped (continuity records)")
    row = answers.filter(pl.col("question_id") == "TEST-02").row(0, named=True)
    assert row["status"] == "capped (continuity records)" and reason in row["explanation"], row
    assert any("capped by the continuity records" in x.value for x in at.warning)
    assert any(reason in x.value.replace("\\", "").replace("\u2060", "") for x in at.markdown)
    recovery_table = frame_with(at, "service_id", "NET-CORE")
    assert "status" in recovery_table.columns or "Status" in recovery_table.columns
    # Submitted, the capped answer and its reason show on the dashboard.
    current = workflow.current_answers(app_db(), SYSTEM, cid, "OPT-NET")
    missing = [x.id for x in Q.questions if x.id not in set(current["question_id"])]
    workflow.save_answers(app_db(), SYSTEM, cid, "OPT-NET", [Answer(m, 2) for m in missing])
    workflow.submit(app_db(), SYSTEM, cid, "OPT-NET")
    at.switch_page("views/dashboard.py").run()
    assert_ok(at)
    lines = [line.replace("\\", "").replace("\u2060", "") for x in at.markdown for line in x.value.splitlines()
             if "Network Services" in line]
    test02 = [line for line in lines if "TEST-02" in line]
    assert len(test02) == 1 and "(answered 4)" in test02[0], lines
    assert "capped at 2" in test02[0] and reason in test02[0], test02
    assert any("capped by the continuity records" in x.value for x in at.warning)


@pytest.mark.usefixtures("app_env")
def test_dashboard_shows_recovery_by_division_with_drill_down():
    at = open_page(LEADERSHIP, "dashboard.py")
    per = frame_with(at, "division", "Retail Banking")
    assert per.filter(pl.col("division") == "Retail Banking")["services"].to_list() == [6]
    at.selectbox(key="dash_recovery_division").set_value("RET").run()
    worst = frame_with(at, "service_id", "CARD-AUTH")
    assert worst["service_id"][0] == "CARD-AUTH" and worst["gap"][0] == "+4 h"  # 6 h against 2 h, worst first
    assert set(worst["service_id"]) == {"PAY-GW", "FAST-PAY", "CARD-AUTH", "CARD-PORTAL", "BR-TELLER", "MORT-ORIG"}


@pytest.mark.usefixtures("app_env")
def test_unit_page_shows_demonstrated_against_required_recovery():
    at = open_page(HEAD_PAY, "unit.py")
    table = frame_with(at, "service_id", "PAY-GW")
    rows = {r["service_id"]: r for r in table.iter_rows(named=True)}
    assert set(rows) == {"PAY-GW", "FAST-PAY"}
    assert (rows["PAY-GW"]["rto"], rows["PAY-GW"]["demonstrated"], rows["PAY-GW"]["gap"]) == ("2 h", "1 h 40 min",
                                                                                            "-20 min")
    assert rows["PAY-GW"]["proof_age_days"] == 150
    assert rows["FAST-PAY"]["status"] == "never tested"
    assert frame_with(at, "service_id", "FAST-PAY") is not None
    assert frame_with(at, "chain", "PAY-GW") is not None  # the accepted inversion over CORE-DB


@pytest.mark.usefixtures("app_env")
def test_self_assessment_shows_the_records_beside_the_rule_questions():
    at = open_page(HEAD_PAY, "self_assessment.py")
    shown = [x for x in at.expander if x.label == "What the continuity records show"]
    assert len(shown) == 4  # TEST-02, TEST-03, RISK-04, TEST-07 of questionnaire 1.1.0
    text = texts(at)
    assert "FAST-PAY has no failover/switchover or full interruption result since" in text
    assert "A level of 3 or more counts as 2" in text


@pytest.mark.usefixtures("app_env")
def test_deadlines_include_service_reviews_and_exercises_due():
    at = open_page(MANAGER, "deadlines.py")
    table = frame_with(at, "kind", "exercise due")
    kinds = set(table["kind"].to_list())
    assert {"service review", "exercise due"} <= kinds
    assert table.filter(pl.col("item").str.starts_with("FAST-PAY") & (pl.col("kind") == "exercise due")).height == 1
