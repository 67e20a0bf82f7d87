"""The demo organisation is deterministic and shows what it was generated to show."""

from __future__ import annotations

import json
from datetime import date, datetime

import polars as pl
import pytest

from assessment import audit, campaigns, demo, recovery, reports, services
from assessment.catalog import campaign_questionnaire
from assessment.cli import main
from assessment.questionnaire import load_default, load_file
from assessment.service_checks import validate_services
from assessment.storage import scores as scores_sql

from .conftest import ADMIN

TODAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def q():
    return load_default()


@pytest.fixture
def loaded(db, q):
    demo.load(db, ADMIN, q, TODAY)
    return db


def test_generator_is_deterministic(q):
    a, b = demo.generate(q, TODAY), demo.generate(q, TODAY)
    assert a.answers.equals(b.answers) and a.states.equals(b.states) and a.units.equals(b.units)
    assert a.records.results.equals(b.records.results)
    assert not demo.generate(q, TODAY, seed=8).answers.equals(a.answers)


def test_shape_of_the_organisation(q):
    d = demo.generate(q, TODAY)
    assert 12 <= d.units.height <= 20
    assert set(d.units["tier"]) == {1, 2, 3}
    assert d.divisions.height >= 3
    closed = [c for c in d.campaigns if c["status"] == "closed"]
    assert len(closed) >= 4 and d.campaigns[-1]["status"] == "open"
    scored = d.answers.filter(pl.col("level") >= 3)
    assert scored.filter(pl.col("evidence").is_null()).height > 0  # answers without evidence


def _trend(db, unit_id):
    t = reports.trends(db, ADMIN, reports.Filters(unit_ids=(unit_id,)), by="unit")
    return t.sort("opens_on")["score"].to_list()


def test_trends_follow_the_profiles(loaded):
    improving, regressing = _trend(loaded, "RET-PAY"), _trend(loaded, "CMK-TRD")
    assert improving[-1] > improving[0] + 0.5
    assert regressing[-1] < regressing[0] - 0.5


def test_units_that_skipped_the_last_closed_cycle_show_as_not_reassessed(loaded):
    prev, changes = reports.changes(loaded, ADMIN, "2026-H1")
    assert prev == "2025-H2"
    skipped = changes.filter(pl.col("not_reassessed") > 0)["unit_id"].to_list()
    assert sorted(skipped) == sorted(demo.SKIPPED_LAST_CLOSED)
    assert changes.filter(pl.col("improved") > 0).height > 0 and changes.filter(pl.col("regressed") > 0).height > 0


def test_overdue_plan_reviews_match_the_generator(loaded):
    dl = reports.deadlines(loaded, ADMIN, None, today=TODAY).filter(pl.col("kind") == "plan review")
    overdue = set(dl.filter(pl.col("bucket").is_in(["overdue", "never reviewed"]))["unit_id"])
    intended = {u for u, age in demo.REVIEW_AGE_MONTHS.items() if age is None or age > 12}
    assert overdue == intended
    assert reports.summary(loaded, ADMIN, "2026-H1", today=TODAY)["overdue_reviews"] == len(intended)


def test_cli_status_shows_scores_gaps_and_overdue_reviews(tmp_path, capsys):
    path = str(tmp_path / "demo.duckdb")
    assert main(["--db", path, "init", "--demo", "--today", TODAY.isoformat()]) == 0
    assert main(["--db", path, "status", "--campaign", "2026-H1", "--today", TODAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "5 plan review(s) overdue" in out
    assert "14/16 assessments submitted" in out
    row = next(line for line in out.splitlines() if "| RET-MORT" in line)
    assert "overdue" in row and "approved" in row
    assert main(["--db", path, "deadlines", "--within", "30", "--today", TODAY.isoformat()]) == 0
    assert "never reviewed" in capsys.readouterr().out


# ---- the open cycle on 1.1.0 and the continuity records --------------------------------------------------

def test_records_are_deterministic_and_pass_the_register_rules(q):
    a, b = demo.generate(q, TODAY).records, demo.generate(q, TODAY).records
    for name in ("versions", "dependencies", "exercises", "results", "incidents", "incident_services"):
        assert getattr(a, name).equals(getattr(b, name)), name
    current = a.versions.sort("revision").group_by("service_id").last()
    deps = a.dependencies.join(current.select("service_id", "revision"), on=["service_id", "revision"])
    units = set(demo.generate(q, TODAY).units["unit_id"])
    assert validate_services(current, deps, units, a.suppliers["supplier_id"], a.sites["site_id"]) == []


def test_closed_cycles_stay_on_1_0_0_and_the_open_cycle_moves_to_1_1_0(loaded):
    cycles = campaigns.list_campaigns(loaded, ADMIN).sort("opens_on")
    assert cycles.select("questionnaire_version").to_series().to_list() == ["1.0.0"] * 4 + ["1.1.0"]
    open_id = cycles["campaign_id"][-1]
    assert len(campaign_questionnaire(loaded, open_id).questions) == 47
    # Created as a continuity manager would: from the previous cycle, with the newer version, audited.
    created = audit.entries(loaded, ADMIN, action="campaign.create").row(0, named=True)
    assert created["object_id"] == open_id
    assert json.loads(created["after_json"])["previous"] == cycles["campaign_id"][-2]
    assert json.loads(created["after_json"])["questionnaire"] == "itscm-core@1.1.0"


def test_trends_and_changes_across_the_version_change(loaded, q):
    trend = reports.trends(loaded, ADMIN)
    assert trend.height == 5 and trend["units"].to_list()[-1] == 11
    prev, detail = "2026-H1", reports.change_details(loaded, ADMIN, "2026-H2", "2026-H1", limit=5000)
    new_ids = {x.id for x in load_file(demo.OPEN_CYCLE_QUESTIONNAIRE).questions} - {x.id for x in q.questions}
    assert new_ids and not detail.filter(pl.col("question_id").is_in(sorted(new_ids))
                                         & pl.col("change").is_in(["improved", "regressed"])).height
    by_unit = reports.changes(loaded, ADMIN, "2026-H2")[1]
    # Matched by id: the questions 1.1.0 added count as new (and 1.0.0's all remain), never as regressions.
    trd = by_unit.filter(pl.col("unit_id") == "CMK-TRD").row(0, named=True)
    assert (trd["new"], trd["removed"]) == (len(new_ids), 0)
    assert prev == reports.changes(loaded, ADMIN, "2026-H2")[0]


def _scores(db, unit):
    with db.read() as cur:
        return {r["question_id"]: r for r in scores_sql.question_scores(cur, "2026-H2", unit).iter_rows(named=True)}


def test_the_record_rules_cap_what_the_records_do_not_bear_out(loaded):
    card, trading, mortgages, dc = (_scores(loaded, u) for u in ("RET-CARD", "CMK-TRD", "RET-MORT", "OPT-DC"))
    assert (card["TEST-02"]["level"], card["TEST-02"]["score"], card["TEST-02"]["status"]) == (4, 2.0,
                                                                                              "capped_records")
    assert "CARD-AUTH's latest failover/switchover on 2026-08-24 took 6 h against an RTO of 2 h" in \
        card["TEST-02"]["explanation"]
    assert card["TEST-07"]["status"] == "capped_records"
    assert "INC-00002 (started 2026-06-30: CARD-AUTH down 7 h against an RTO of 2 h) has no post-mortem" in \
        card["TEST-07"]["explanation"]
    assert trading["TEST-02"]["status"] == "capped_records"
    assert "MKT-DATA's latest full interruption on 2026-09-28 took 50 min against an RTO of 30 min" in \
        trading["TEST-02"]["explanation"]
    assert mortgages["RISK-04"]["status"] == "capped_records"
    assert "MORT-ORIG's objectives were approved on 2025-08-24" in mortgages["RISK-04"]["explanation"]
    assert (dc["TEST-03"]["score"], dc["TEST-03"]["status"]) == (4.0, "answered")
    assert "the records bear it out" in dc["TEST-03"]["explanation"]
    with loaded.read() as cur:
        n = cur.execute("SELECT count(*) FROM question_scores WHERE campaign_id = '2026-H2' "
                        "AND status = 'capped_records'").fetchall()[0][0]
    assert n >= 5
    # Units without services are not judged, and say so.
    legal = _scores(loaded, "GRP-LEG")["TEST-07"]
    assert legal["explanation"].endswith("TEST-07's record rule does not apply: the unit has no services in the "
                                         "service register")


def test_the_records_tell_the_story(loaded):
    inv = recovery.inversions(loaded, ADMIN)
    assert inv.select("service_id", "depends_on").rows() == [("PAY-GW", "CORE-DB")]
    assert inv["accepted_inversion"][0].startswith("Payments queue at the gateway")
    assert services.history(loaded, ADMIN, "CORE-DB")["rto_minutes"].to_list() == [120, 480]
    closed_before = services.cycle_as_of(loaded, "2025-H2")
    core = services.list_services(loaded, ADMIN, at=closed_before).filter(pl.col("service_id") == "CORE-DB")
    assert core["rto_minutes"].to_list() == [120]   # the cycle closed before the change keeps 2 h
    slow = recovery.demonstrated(loaded, ADMIN, at=datetime(2026, 11, 27, 12)).filter(
        pl.col("status") == "slower than RTO")
    assert set(slow["service_id"]) == {"CARD-AUTH", "MKT-DATA"}
    over = recovery.incidents_over_rto(loaded, ADMIN, today=TODAY)
    assert over.select("service_id", "postmortem_status").sort("service_id").rows() == [
        ("CARD-AUTH", "overdue"), ("NET-CORE", "done")]
    assert set(services.list_services(loaded, ADMIN)["unit_id"]).isdisjoint({"GRP-LEG", "GRP-PROC"})
    dl = reports.deadlines(loaded, ADMIN, "2026-H2", today=TODAY)
    assert {"service review", "exercise due"} <= set(dl["kind"])
