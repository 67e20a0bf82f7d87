"""Every page of the Streamlit app through AppTest, against the app's own DuckDB file in a temp folder.

The first run of each test bootstraps a fresh database with the demo organisation (assessment.bootstrap),
exactly as the app does on first start. Users sign in through a server-side session (no password).
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from assessment import access, actions, campaigns, reports, unit_detail, users, workflow
from assessment.demo import OPEN_CYCLE_QUESTIONNAIRE
from assessment.model import Answer
from assessment.questionnaire import load_file

from .helpers.apptest import (
    ADMIN,
    HEAD_CB,
    HEAD_PAY,
    LEADERSHIP,
    MANAGER,
    UNIT_CB,
    UNIT_PAY,
    app_db,
    assert_ok,
    by_key,
    metric,
    number,
    open_campaign,
    open_page,
    sa_key,
    sign_in,
    start,
)

Q = load_file(OPEN_CYCLE_QUESTIONNAIRE)  # the demo's open cycle (1.1.0, 47 questions); closed cycles use 1.0.0
SYSTEM = access.SYSTEM


def fill_all(at, cid: str, uid: str, level: int = 2) -> None:
    for x in Q.questions:
        at.radio(key=sa_key(cid, uid, x.id, "level")).set_value(level)


# ---- first start and every page ------------------------------------------------------------------------------

@pytest.mark.usefixtures("empty_app_env")
def test_first_start_loads_the_demo_and_asks_to_sign_in():
    at = start()
    assert at.text_input(key="login_username") is not None
    assert (app_db().path.parent / "demo-credentials.txt").exists()
    assert reports.summary(app_db(), SYSTEM, open_campaign())["units"] == 16
    sign_in(at, LEADERSHIP)
    assert at.title[0].value == "Leadership dashboard"


@pytest.mark.usefixtures("empty_app_env")
def test_a_start_without_the_demo_and_without_accounts_says_how_to_create_the_first_administrator(monkeypatch):
    monkeypatch.setenv("ITSCM_DEMO", "0")
    at = start()
    assert not (app_db().path.parent / "demo-credentials.txt").exists()
    hint = [i.value for i in at.info if "create-admin" in i.value]
    assert hint and "itscm create-admin admin" in hint[0]
    users.create_first_admin(app_db(), "first.admin", "a long enough passphrase")
    at.run()
    assert not [i for i in at.info if "create-admin" in i.value]      # once an account exists, only sign-in


@pytest.mark.usefixtures("app_env")
@pytest.mark.parametrize("page", ["dashboard.py", "unit.py", "deadlines.py"])
def test_pages_render_for_leadership(page):
    at = open_page(LEADERSHIP, page)
    assert at.title[0].value
    assert not at.exception


@pytest.mark.usefixtures("app_env")
def test_leadership_gets_no_self_assessment_or_campaign_pages():
    at = sign_in(start(), LEADERSHIP)
    for page in ("self_assessment.py", "campaigns.py"):
        with pytest.raises(ValueError, match="navigation page"):
            at.switch_page(f"views/{page}")


@pytest.mark.usefixtures("app_env")
def test_administrator_renders_all_five_pages():
    at = sign_in(start(), ADMIN)
    for page in ("dashboard.py", "self_assessment.py", "unit.py", "deadlines.py", "campaigns.py"):
        at.switch_page(f"views/{page}").run()
        assert_ok(at)


@pytest.mark.usefixtures("app_env")
def test_pages_render_for_a_department_head_with_only_their_unit():
    at = open_page(HEAD_CB, "self_assessment.py")
    assert by_key(at.selectbox, "sa_unit").options == ["Corporate Banking · Corporate & Markets"]
    at.switch_page("views/unit.py").run()
    assert_ok(at)
    assert by_key(at.selectbox, "unit_pick").options == ["Corporate Banking · Corporate & Markets"]
    at.switch_page("views/dashboard.py").run()
    assert_ok(at)
    assert metric(at, "Assessments submitted") == "0 / 1"  # the engine scopes the head to their unit
    at.switch_page("views/deadlines.py").run()
    assert_ok(at)


# ---- dashboard ----------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("app_env")
def test_dashboard_filters_change_the_numbers():
    at = open_page(LEADERSHIP, "dashboard.py")
    cid = open_campaign()
    org = reports.summary(app_db(), SYSTEM, cid)
    assert metric(at, "Organisation score") == f"{org['score']:.2f}"
    assert metric(at, "Assessments submitted") == f"{org['submitted']} / {org['expected']}"

    by_key(at.multiselect, "dash_division").set_value(["OPT"]).run()
    assert_ok(at)
    opt = reports.summary(app_db(), SYSTEM, cid, reports.Filters(division_ids=("OPT",)))
    assert metric(at, "Organisation score") == f"{opt['score']:.2f}" != f"{org['score']:.2f}"
    assert metric(at, "Assessments submitted") == f"{opt['submitted']} / 4"

    by_key(at.multiselect, "dash_tier").set_value([1]).run()
    both = reports.summary(app_db(), SYSTEM, cid, reports.Filters(division_ids=("OPT",), tiers=(1,)))
    assert metric(at, "Assessments submitted") == f"{both['submitted']} / {both['expected']}"
    assert both["expected"] == 3

    by_key(at.multiselect, "dash_division").set_value([]).run()
    by_key(at.multiselect, "dash_tier").set_value([]).run()
    assert metric(at, "Organisation score") == f"{org['score']:.2f}"
    previous = by_key(at.selectbox, "dash_campaign").options[1]
    by_key(at.selectbox, "dash_campaign").set_value(by_key(at.selectbox, "dash_campaign").options[1]).run()
    assert_ok(at)
    assert metric(at, "Assessments submitted") != f"{org['submitted']} / {org['expected']}", previous


@pytest.mark.usefixtures("app_env")
def test_dashboard_drill_down_and_unit_profile():
    at = open_page(LEADERSHIP, "dashboard.py")
    by_key(at.selectbox, "dash_drill").set_value("CMK").run()
    assert_ok(at)
    assert len([c for c in at.get("plotly_chart")]) >= 7  # the units of the division get their own heatmap
    units = by_key(at.selectbox, "dash_unit")
    assert units.value == "CMK-TRD"                           # worst gap first
    by_key(at.button, "dash_open_unit").click().run()
    assert_ok(at)
    assert at.title[0].value == "Business unit"
    assert by_key(at.selectbox, "unit_pick").value == "CMK-TRD"


def _large_cycle(divisions: int) -> str:
    """A cycle over `divisions` one-unit divisions, every unit submitted at level (i mod 5) on the mini
    questionnaire (tier 2, target 3): a dashboard with more divisions than its figures show."""
    from assessment.questionnaire import load_file as load

    from .conftest import FIXTURES, add_org

    db = app_db()
    q = load(FIXTURES / "mini.yaml")
    units = [(f"BIG{i:02d}", f"BD{i:02d}", 2) for i in range(divisions)]
    add_org(db, units)
    campaigns.create(db, SYSTEM, "BIG", "Large cycle", q, date(2026, 6, 1), date(2026, 6, 30), date(2026, 7, 15),
                     unit_ids=[u for u, _, _ in units], status="open")
    for i, (unit, _, _) in enumerate(units):
        workflow.save_answers(db, SYSTEM, "BIG", unit, [
            Answer(x.id, i % 5, evidence="report", evidence_date=date(2026, 6, 1)) for x in q.questions],
            today=date(2026, 6, 20))
        workflow.submit(db, SYSTEM, "BIG", unit, today=date(2026, 6, 20))
    return "BIG"


def _charts(at) -> list[dict]:
    import json

    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


@pytest.mark.usefixtures("app_env")
def test_dashboard_of_many_divisions_shows_the_worst_and_drills_to_any():
    """22 divisions: the heatmap draws the 20 furthest below target (the two at level 4 are left out), the
    workflow chart the 15 most behind, and the drill-down still offers all 22."""
    at = start()  # bootstraps the demo; the large cycle is added before any page reads (and caches) the cycles
    cid = _large_cycle(22)
    at = open_page(LEADERSHIP, "dashboard.py", at)
    by_key(at.selectbox, "dash_campaign").set_value(cid).run()
    assert_ok(at)
    heat = next(c for c in _charts(at) if c["data"][0]["type"] == "heatmap")
    rows = heat["data"][0]["y"]
    assert len(rows) == 20
    assert {"Division BD19", "Division BD14"}.isdisjoint(rows)  # level 4: at target, the best two of the 22
    assert "Division BD00" in rows                                # level 0: among the worst
    assert any("The 20 divisions furthest below target, of 22" in c.value for c in at.caption)
    assert any("Workflow of the 15 divisions with the most assessments still to come in, of 22" in c.value
               for c in at.caption)
    bars = next(c for c in _charts(at) if c["data"][0]["type"] == "bar" and c["data"][0].get("name") == "approved")
    assert len(bars["data"][0]["y"]) == 15
    drill = by_key(at.selectbox, "dash_drill")
    assert len(drill.options) == 23  # "choose a division" and the 22
    drill.set_value("BD19").run()
    assert_ok(at)
    unit_heat = [c for c in _charts(at) if c["data"][0]["type"] == "heatmap"][1]
    assert unit_heat["data"][0]["y"] == ["Unit BIG19"]


# ---- self-assessment ----------------------------------------------------------------------------------------

@pytest.mark.usefixtures("app_env")
def test_saved_draft_is_in_the_database_and_survives_reruns():
    at = open_page(HEAD_PAY, "self_assessment.py")
    cid = open_campaign()
    k = lambda q, f: sa_key(cid, UNIT_PAY, q, f)  # noqa: E731
    at.radio(key=k("GOV-01", "level")).set_value(3)
    at.text_area(key=k("GOV-01", "evidence")).set_value("Policy v3, approved by the board")
    at.text_input(key=k("GOV-01", "url")).set_value("https://intranet.example/policy")
    at.date_input(key=k("GOV-01", "date")).set_value(date(2026, 9, 1))
    at.checkbox(key=k("PLAN-09", "na")).check().run()
    at.text_input(key=k("PLAN-09", "reason")).set_value("No third-party recovery site in scope")
    at.radio(key=k("GOV-02", "level")).set_value(1).run()
    assert_ok(at)
    assert "3 unsaved change(s)" in at.caption[-1].value or any("3 unsaved" in c.value for c in at.caption)

    by_key(at.button, "sa_save").click().run()
    assert_ok(at)
    assert any("Draft saved: 3 answer(s) changed" in s.value for s in at.success)
    at.run()  # another rerun: nothing lost, nothing saved twice
    saved = workflow.current_answers(app_db(), SYSTEM, cid, UNIT_PAY)
    rows = {r["question_id"]: r for r in saved.iter_rows(named=True)}
    assert set(rows) == {"GOV-01", "GOV-02", "PLAN-09"}
    assert rows["GOV-01"]["level"] == 3 and rows["GOV-01"]["evidence"] == "Policy v3, approved by the board"
    assert rows["GOV-01"]["evidence_date"] == date(2026, 9, 1) and rows["GOV-01"]["answered_by"] == HEAD_PAY
    assert rows["PLAN-09"]["is_na"] and rows["PLAN-09"]["na_reason"] == "No third-party recovery site in scope"
    assert at.radio(key=k("GOV-01", "level")).value == 3
    assert at.text_input(key=k("PLAN-09", "reason")).value == "No third-party recovery site in scope"
    assert any("All changes saved" in c.value for c in at.caption)
    assert at.get("progress")[0].proto.value == 6  # 3 of 47 answered

    # Discarding unsaved changes brings back the saved answer.
    at.radio(key=k("GOV-02", "level")).set_value(5).run()
    by_key(at.button, "sa_discard").click().run()
    assert at.radio(key=k("GOV-02", "level")).value == 1

    # Switching pages and back keeps unsaved input (session-persisted widgets).
    at.radio(key=k("GOV-03", "level")).set_value(4).run()
    at.switch_page("views/unit.py").run()
    at.switch_page("views/self_assessment.py").run()
    assert at.radio(key=k("GOV-03", "level")).value == 4
    assert at.radio(key=k("GOV-01", "level")).value == 3


@pytest.mark.usefixtures("app_env")
def test_na_without_reason_is_refused_with_the_field_and_input_kept():
    at = open_page(HEAD_PAY, "self_assessment.py")
    cid = open_campaign()
    at.checkbox(key=sa_key(cid, UNIT_PAY, "PPL-06", "na")).check().run()
    by_key(at.button, "sa_save").click().run()
    assert any("PPL-06.na_reason" in e.value for e in at.error)
    assert at.checkbox(key=sa_key(cid, UNIT_PAY, "PPL-06", "na")).value is True
    assert workflow.current_answers(app_db(), SYSTEM, cid, UNIT_PAY).height == 0


@pytest.mark.usefixtures("app_env")
def test_concurrent_change_is_refused_and_the_users_input_kept():
    at = open_page(HEAD_CB, "self_assessment.py")
    cid = open_campaign()
    k = lambda f: sa_key(cid, UNIT_CB, "GOV-02", f)  # noqa: E731
    # Someone else (an administrator, e.g. through an Excel import) changes GOV-02 after the form was loaded.
    workflow.save_answers(app_db(), SYSTEM, cid, UNIT_CB, [Answer("GOV-02", 5, evidence="audit report",
                                                                  evidence_date=date(2026, 10, 1))])
    at.radio(key=k("level")).set_value(1).run()
    by_key(at.button, "sa_save").click().run()
    assert any("Someone else saved these answers" in e.value and "GOV-02" in e.value for e in at.error)
    assert at.radio(key=k("level")).value == 1          # input kept
    current = workflow.current_answers(app_db(), SYSTEM, cid, UNIT_CB).filter(pl.col("question_id") == "GOV-02")
    assert current["level"][0] == 5                     # their change is not overwritten
    by_key(at.button, "sa_keep_mine").click().run()     # the user decides to keep theirs
    assert_ok(at)
    current = workflow.current_answers(app_db(), SYSTEM, cid, UNIT_CB).filter(pl.col("question_id") == "GOV-02")
    assert current["level"][0] == 1


@pytest.mark.usefixtures("app_env")
def test_submit_with_missing_answers_is_refused_with_the_list():
    at = open_page(HEAD_PAY, "self_assessment.py")
    cid = open_campaign()
    for x in Q.questions[:40]:
        at.radio(key=sa_key(cid, UNIT_PAY, x.id, "level")).set_value(2)
    by_key(at.button, "sa_submit").click().run()
    missing = [x.id for x in Q.questions[40:]]
    errors = [e.value for e in at.error]
    assert any(f"{len(missing)} question(s) still need an answer" in e and all(m in e for m in missing)
               for e in errors), errors
    assert workflow.assessment(app_db(), SYSTEM, cid, UNIT_PAY)["status"] == "draft"
    # The answers given were saved on the way, so nothing typed is lost.
    assert workflow.current_answers(app_db(), SYSTEM, cid, UNIT_PAY).height == 40


@pytest.mark.usefixtures("app_env")
def test_submit_complete_assessment_persists_scores_and_changes_the_dashboard():
    cid = open_campaign()
    lead = open_page(LEADERSHIP, "dashboard.py")
    before_submitted = number(metric(lead, "Assessments submitted"))
    before_score = metric(lead, "Organisation score")

    head = open_page(HEAD_PAY, "self_assessment.py")
    fill_all(head, cid, UNIT_PAY, level=2)
    head.radio(key=sa_key(cid, UNIT_PAY, "GOV-01", "level")).set_value(4)   # no evidence: will be capped
    by_key(head.button, "sa_save").click().run()
    assert any("GOV-01" in w.value and "cap" in w.value for w in head.warning)  # preview warns before submit
    by_key(head.button, "sa_submit").click().run()
    assert_ok(head)
    assert any("Submitted for review" in s.value for s in head.success)
    assert any("read-only" in i.value for i in head.info)                   # locked after submit
    assert not any(r.key and r.key.startswith("sa|") for r in head.radio)

    a = workflow.assessment(app_db(), SYSTEM, cid, UNIT_PAY)
    assert a["status"] == "submitted" and a["submitted_by"] == HEAD_PAY
    qs = unit_detail.questions(app_db(), SYSTEM, cid, UNIT_PAY)
    assert not qs["provisional"].any() and qs["scored_at"].is_not_null().all()
    assert qs.filter(pl.col("question_id") == "GOV-01")["status"][0] == "capped"
    unit = reports.units(app_db(), SYSTEM, cid).filter(pl.col("unit_id") == UNIT_PAY).row(0, named=True)
    assert unit["score"] == pytest.approx(2.0)

    lead.run()
    assert number(metric(lead, "Assessments submitted")) == before_submitted + 1
    assert metric(lead, "Organisation score") != before_score


# ---- business unit ------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("app_env")
def test_unit_page_explains_scores_and_shows_history():
    at = open_page(LEADERSHIP, "unit.py")
    cid = open_campaign()
    by_key(at.selectbox, "unit_pick").set_value("CMK-TRD").run()
    assert_ok(at)
    row = reports.units(app_db(), SYSTEM, cid).filter(pl.col("unit_id") == "CMK-TRD").row(0, named=True)
    assert metric(at, "Unit score") == f"{row['score']:.2f}"
    assert metric(at, "Capped by evidence rule") == str(row["capped"])
    answers = at.dataframe[1].value
    assert len(answers) == len(Q.questions)
    assert "capped (evidence rule)" in set(answers["status"])
    assert any("capped at 2" in str(x) for x in answers["explanation"])
    # Trading's TEST-02 is capped by the records (demo story), and counted apart from the evidence rule's caps.
    assert "capped (continuity records)" in set(answers["status"])
    by_records = int((answers["status"] == "capped (continuity records)").sum())
    by_key(at.button_group, "unit_answer_filter").set_value("capped").run()
    assert len(at.dataframe[1].value) == row["capped"] + by_records
    history = at.dataframe[2].value
    assert len(history) >= len(Q.questions) and set(history["answered_by"]) == {"mei.lin"}


@pytest.mark.usefixtures("app_env")
def test_unit_page_previews_a_draft():
    at = open_page(LEADERSHIP, "unit.py")
    by_key(at.selectbox, "unit_pick").set_value(UNIT_CB).run()
    assert_ok(at)
    assert metric(at, "Unit score") == "—"
    assert any("provisional preview" in i.value for i in at.info)


# ---- deadlines ----------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("app_env")
def test_deadlines_buckets_and_filters():
    at = open_page(LEADERSHIP, "deadlines.py")
    cid = open_campaign()
    # Every kind the page offers, service objective reviews and exercises due included.
    page_kinds = ["plan review", "assessment due", "evidence expiry", "service review", "exercise due"]
    all_items = reports.deadlines(app_db(), SYSTEM, cid).filter(pl.col("kind").is_in(page_kinds))
    # Improvement actions due and risk acceptances expiring are on the page too (actions.due_for).
    late_actions = actions.due_for(app_db(), SYSTEM).filter(pl.col("bucket") == "overdue").height
    overdue = all_items.filter(pl.col("bucket") == "overdue").height + late_actions
    assert late_actions > 0 and metric(at, "Overdue") == str(overdue)
    never = all_items.filter(pl.col("bucket") == reports.NEVER_REVIEWED)
    assert metric(at, "Never reviewed or exercised") == str(never.height)
    assert never.filter(pl.col("kind") == "plan review").height == 1

    by_key(at.multiselect, "dl_kinds").set_value(["plan review"]).run()
    plans = all_items.filter((pl.col("kind") == "plan review") & (pl.col("bucket") == "overdue")).height
    assert metric(at, "Overdue") == str(plans) != str(overdue)

    by_key(at.multiselect, "dl_division").set_value(["GRP"]).run()
    table = at.dataframe[-1].value
    assert set(table["division"]) == {"Group Functions"} and set(table["kind"]) == {"plan review"}
    by_key(at.text_input, "dl_search").set_value("Legal").run()
    assert list(at.dataframe[-1].value["unit"]) == ["Legal & Compliance"]


# ---- campaigns ----------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("app_env")
def test_campaigns_approve_and_return_with_comment():
    at = open_page(MANAGER, "campaigns.py")
    cid = open_campaign()
    waiting = by_key(at.selectbox, "cp_review_unit").options
    assert len(waiting) == 11  # the demo's open cycle: 11 of 16 submitted (demo.OPEN_CYCLE_STATES and its draws)
    by_key(at.selectbox, "cp_review_unit").set_value("OPT-DC").run()
    by_key(at.button, "cp_approve").click().run()
    assert_ok(at)
    assert any("approved" in s.value for s in at.success)
    assert workflow.assessment(app_db(), SYSTEM, cid, "OPT-DC")["status"] == "approved"
    assert "Data Centre Operations" not in by_key(at.selectbox, "cp_review_unit").options

    by_key(at.selectbox, "cp_review_unit").set_value("CMK-TRD").run()
    by_key(at.button, "cp_return").click().run()             # no comment: refused
    assert any("comment" in e.value for e in at.error)
    assert workflow.assessment(app_db(), SYSTEM, cid, "CMK-TRD")["status"] == "submitted"
    by_key(at.selectbox, "cp_review_unit").set_value("CMK-TRD").run()
    by_key(at.text_area, "cp_comment").set_value("Add dated evidence for RISK-04 and COMM-05.").run()
    by_key(at.button, "cp_return").click().run()
    assert_ok(at)
    a = workflow.assessment(app_db(), SYSTEM, cid, "CMK-TRD")
    assert a["status"] == "returned" and a["return_comment"] == "Add dated evidence for RISK-04 and COMM-05."
    assert metric(at, "Awaiting review") == "9" and metric(at, "Returned") == "1"

    # The department head sees the comment and can edit again.
    head = open_page("mei.lin", "self_assessment.py")
    assert any("Add dated evidence for RISK-04" in w.value for w in head.warning)
    assert len([r for r in head.radio if r.key and r.key.startswith("sa|")]) == len(Q.questions)


@pytest.mark.usefixtures("app_env")
def test_campaigns_create_from_previous_set_dates_and_open():
    at = open_page(MANAGER, "campaigns.py")
    cid = open_campaign()
    by_key(at.text_input, "cp_new_id").set_value("2027-H1")
    by_key(at.text_input, "cp_new_name").set_value("ITSCM self-assessment 2027 H1")
    by_key(at.date_input, "cp_new_opens").set_value(date(2027, 5, 1))
    by_key(at.date_input, "cp_new_due").set_value(date(2027, 6, 8))
    by_key(at.date_input, "cp_new_closes").set_value(date(2027, 6, 20))
    by_key(at.selectbox, "cp_prev").set_value(cid)
    by_key(at.button, "cp_create").click().run()
    assert_ok(at)
    new = campaigns.get(app_db(), SYSTEM, "2027-H1")
    assert new["status"] == "planned" and new["previous_campaign_id"] == cid and new["due_on"] == date(2027, 6, 8)
    assert len(campaigns.assessments(app_db(), SYSTEM, "2027-H1")) == 16

    by_key(at.selectbox, "cp_manage_campaign").set_value("2027-H1").run()
    by_key(at.date_input, "cp_due|2027-H1").set_value(date(2027, 6, 15))
    by_key(at.button, "cp_save_dates").click().run()
    assert campaigns.get(app_db(), SYSTEM, "2027-H1")["due_on"] == date(2027, 6, 15)
    by_key(at.button, "cp_status_open").click().run()
    assert_ok(at)
    assert campaigns.get(app_db(), SYSTEM, "2027-H1")["status"] == "open"

    by_key(at.button, "cp_create").click().run()            # same id again: refused with the reason
    assert any("already exists" in e.value for e in at.error)
    by_key(at.text_input, "cp_new_id").set_value("2027-H2")
    by_key(at.date_input, "cp_new_closes").set_value(date(2027, 6, 1))
    by_key(at.button, "cp_create").click().run()            # closes before due: every problem listed
    assert any("closes_on" in e.value for e in at.error)
