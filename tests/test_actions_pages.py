"""Improvement actions in the app (AppTest on the demo organisation): the Actions page's register, status
changes by the owner, verification by the continuity manager, bulk creation from gaps, one-click actions from
the dashboard's top gaps and from incidents; actions beside the questions of the form; deadlines."""

from __future__ import annotations

import polars as pl

from assessment import access, actions, campaigns

from .helpers.apptest import (
    HEAD_PAY,
    LEADERSHIP,
    MANAGER,
    UNIT_PAY,
    app_db,
    assert_ok,
    metric,
    open_campaign,
    open_page,
)

SYSTEM = access.SYSTEM


def frame(at, *columns: str):
    """The first table on the page with these columns (AppTest does not expose a dataframe's key)."""
    found = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    assert found, f"no table with {columns}"
    return found[0]


def _action(aid: str) -> dict:
    return actions.get_action(app_db(), SYSTEM, aid)


def test_register_shows_the_demo_actions_and_the_owner_moves_hers_to_done(app_env):
    at = open_page(HEAD_PAY, "actions.py")
    table = frame(at, "action_id", "overdue", "source_ref")
    # A head sees only her unit's open actions: ACT-00009 (RET-PAY, open); ACT-00010 is verified.
    assert table["action_id"].tolist() == ["ACT-00009"]
    at.selectbox(key="act_pick").select("ACT-00009").run()
    at.selectbox(key="act_status").select("done").run()
    at.text_area(key="act_evidence").input("One register for the payment services, reviewed monthly").run()
    at.button(key="act_save").click().run()
    assert_ok(at)
    got = _action("ACT-00009")
    assert (got["status"], got["evidence_text"], got["updated_by"]) == (
        "done", "One register for the payment services, reviewed monthly", HEAD_PAY)
    assert not [b for b in at.button if b.key == "act_verify"]  # only the continuity office verifies


def test_done_without_evidence_is_refused_with_a_message(app_env):
    at = open_page(HEAD_PAY, "actions.py")
    at.selectbox(key="act_status").select("done").run()
    at.button(key="act_save").click().run()
    assert any("evidence: say what was done" in e.value for e in at.error)
    assert _action("ACT-00009")["status"] == "open"


def test_the_continuity_manager_verifies_a_done_action(app_env):
    db = app_db()
    owner = actions.get_action(db, SYSTEM, "ACT-00005")["owner"]
    actions.progress(db, SYSTEM, "ACT-00005", "done", base_revision=1, evidence_text="feed handler autostarts")
    at = open_page(MANAGER, "actions.py")
    at.selectbox(key="act_pick").select("ACT-00005").run()
    at.button(key="act_verify").click().run()
    assert_ok(at)
    got = _action("ACT-00005")
    assert (got["status"], got["verified_by"], got["owner"]) == ("verified", MANAGER, owner)


def test_bulk_from_gaps_previews_then_creates_and_never_doubles(app_env):
    db = app_db()
    cid = open_campaign()
    at = open_page(MANAGER, "actions.py")
    at.selectbox(key="act_bulk_campaign").select(cid).run()
    at.number_input(key="act_bulk_min").set_value(3.0).run()
    preview = frame(at, "question_id", "owner", "due_on", "title")
    expected = actions.gaps_to_action(db, SYSTEM, cid, min_priority=3.0).height
    assert len(preview) == expected > 0
    before = actions.list_actions(db, SYSTEM).height
    at.button(key="act_bulk_create").click().run()
    assert_ok(at)
    assert actions.list_actions(db, SYSTEM).height == before + expected
    assert len(frame(at, "question_id", "owner", "due_on", "title")) == 0  # every gap now has an open action


def test_one_click_action_for_an_incident_without_postmortem(app_env):
    db = app_db()
    at = open_page(MANAGER, "actions.py")
    log = actions.list_actions(db, SYSTEM)
    # The demo's hosting incident (INC-00004) has no post-mortem and no action yet.
    pick = next(o for o in at.selectbox(key="act_inc_pick").options if "INC-00004" in o)
    at.selectbox(key="act_inc_pick").select(pick).run()
    at.button(key="act_inc_create").click().run()
    assert_ok(at)
    new = actions.list_actions(db, SYSTEM).join(log, on="action_id", how="anti")
    assert new.select("source", "source_ref", "unit_id", "status").rows() == [
        ("incident", "INC-00004", "OPT-APP", "open")]
    assert not [b for b in at.button if b.key == "act_inc_create"]  # now it says the action is open


def test_dashboard_counts_and_a_top_gap_becomes_an_action_in_one_click(app_env):
    db = app_db()
    at = open_page(MANAGER, "dashboard.py")
    totals = actions.dashboard(db, SYSTEM)[0]
    assert int(metric(at, "Open actions")) == totals["open"]
    assert int(metric(at, "Overdue actions")) == totals["overdue"] > 0
    verified = frame(at, "campaign", "verified")
    assert verified["verified"].sum() == 3  # the demo's three verified closures
    at.button(key="dash_gap_action_create").click().run()
    assert_ok(at)
    assert int(metric(at, "Open actions")) == totals["open"] + 1
    assert actions.list_actions(db, SYSTEM).filter(pl.col("source") == "gap").height == 4


def test_leadership_sees_the_dashboard_section_but_no_create_button(app_env):
    at = open_page(LEADERSHIP, "dashboard.py")
    assert metric(at, "Open actions")
    assert not [b for b in at.button if b.key == "dash_gap_action_create"]


def test_the_form_shows_open_and_recently_closed_actions_beside_their_questions(app_env):
    at = open_page(HEAD_PAY, "self_assessment.py")
    captions = [c.value for c in at.caption if "Improvement actions on this question" in c.value]
    assert len(captions) == 2
    assert any("ACT-00009" in c and "Open" in c for c in captions)
    assert any("ACT-00010" in c and "Verified" in c for c in captions)


def test_the_deadlines_page_lists_actions_and_risk_acceptances(app_env):
    at = open_page(MANAGER, "deadlines.py")
    at.selectbox(key="dl_horizon").select(0).run()
    kinds = set(at.dataframe[-1].value["kind"])
    assert {"action due", "risk acceptance"} <= kinds
    assert_ok(at)


def test_unit_page_offers_an_action_for_its_gaps(app_env):
    db = app_db()
    closed = campaigns.list_campaigns(db, SYSTEM).filter(pl.col("status") == "closed")["campaign_id"][-1]
    at = open_page(MANAGER, "unit.py")
    at.selectbox(key="unit_pick").select(UNIT_PAY).run()
    at.selectbox(key="unit_campaign").select(closed).run()
    before = actions.list_actions(db, SYSTEM)
    at.button(key="unit_gap_action_create").click().run()
    assert_ok(at)
    new = actions.list_actions(db, SYSTEM).join(before, on="action_id", how="anti")
    assert new.select("unit_id", "source", "campaign_id", "owner").rows() == [(UNIT_PAY, "gap", closed, HEAD_PAY)]


def test_the_page_prepares_the_owners_register_for_a_bulk_update(app_env):
    """The download holds her unit's actions only; updated offline, it imports back (the uploader itself
    is Streamlit's; AppTest cannot drive it)."""
    import io

    import openpyxl

    from assessment.excel import actions_sheet
    from assessment.model import Actor

    at = open_page(HEAD_PAY, "actions.py")
    at.button(key="act_xl_prepare").click().run()
    assert_ok(at)
    wb = openpyxl.load_workbook(io.BytesIO(at.session_state["act_xl_file"]))
    ws = wb["Actions"]
    h = {c.value: c.column for c in ws[1]}
    ids = {ws.cell(r, h["Action ID"]).value: r for r in range(2, ws.max_row + 1)}
    assert set(ids) == {"ACT-00009", "ACT-00010"}
    ws.cell(ids["ACT-00009"], h["Status"]).value = "in_progress"
    out = io.BytesIO()
    wb.save(out)
    head = Actor(HEAD_PAY, access.HEAD, frozenset({UNIT_PAY}))
    done = actions_sheet.commit(app_db(), head, out.getvalue(), "register.xlsx")
    assert done.written == 1 and _action("ACT-00009")["status"] == "in_progress"
