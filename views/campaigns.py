"""Campaigns (assessment cycles), for continuity managers: review submitted assessments (approve, or return
with a comment), set a cycle's dates, open and close it, create a cycle (the first, or the next one with the
answers carried over) with a chosen questionnaire version and units, and register new questionnaire versions."""

from __future__ import annotations

import polars as pl
import streamlit as st

from assessment import access, campaigns, catalog, clock, reports, versions, workflow
from assessment.questionnaire import QuestionnaireError
from assessment.questionnaire_diff import summary
from ui import widgets as w
from ui.cache import read
from ui.format import fmt, plain
from ui.session import require_actor
from ui.state import get_db

db = get_db()
actor = require_actor(db)

ACTIONS = {"open": ("Open the cycle", ":material/play_arrow:", "Department heads can answer and submit."),
           "closed": ("Close the cycle", ":material/stop:", "Answers are frozen; submitted assessments stay.")}


# ---- callbacks: each one engine write through run_action ------------------------------------------------------

@w.callback
def on_review(cid: str, uid: str, unit: str, approve: bool) -> None:
    comment = st.session_state.get("cp_comment", "") or ""
    if approve:
        done = w.run_action(workflow.approve, db, actor, cid, uid, comment, success=f"{plain(unit)}: approved.")
    else:
        done = w.run_action(workflow.return_for_rework, db, actor, cid, uid, comment,
                            success=f"{plain(unit)}: returned for rework. The department head sees your comment "
                                    "on the self-assessment page.")
    if done.ok:
        st.session_state["cp_comment"] = ""


@w.callback
def on_status(cid: str, status: str) -> None:
    w.run_action(campaigns.set_status, db, actor, cid, status, success=f"{plain(cid)} is now {status}.")


@w.callback
def on_dates(cid: str) -> None:
    ss = st.session_state
    w.run_action(campaigns.set_dates, db, actor, cid, ss[f"cp_opens|{cid}"], ss[f"cp_due|{cid}"],
                 ss[f"cp_closes|{cid}"], success=f"Dates of {plain(cid)} saved.")


SELECTIONS = {"all": "All active units", "division": "By division", "tier": "By tier", "list": "A list of units"}


def _create(ref: str, selection: campaigns.UnitSelection, previous: str | None, carry_forward: bool,
            campaign_id: str, name: str, opens_on, due_on, closes_on) -> dict:
    q = versions.resolve(db, ref)
    return campaigns.create(db, actor, campaign_id, name, q, opens_on, due_on, closes_on, previous=previous,
                            selection=selection, carry_forward=carry_forward)


@w.callback
def on_create() -> None:
    ss = st.session_state
    new_id = (ss.get("cp_new_id") or "").strip()
    how = ss.get("cp_units_by", "all")
    selection = campaigns.UnitSelection(
        division_ids=tuple(ss.get("cp_units_div") or ()) if how == "division" else None,
        tiers=tuple(ss.get("cp_units_tier") or ()) if how == "tier" else None,
        unit_ids=tuple(ss.get("cp_units_list") or ()) if how == "list" else None)
    previous = ss.get("cp_prev") or None
    carry_forward = bool(ss.get("cp_carry")) and previous is not None

    def done(after: dict) -> str:
        carried = after.get("carried")
        extra = (f" {carried['answers']} answer(s) of {carried['units']} unit(s) were carried over for their heads "
                 "to confirm or change." if carried else "")
        return (f"Cycle {plain(new_id)} created as planned with {after['units']} unit(s) and questionnaire "
                f"{plain(after['questionnaire'])}.{extra} Open it on the Dates and status tab when ready.")

    w.run_action(_create, ss.get("cp_new_version") or "", selection, previous, carry_forward, new_id,
                 ss.get("cp_new_name") or "", ss["cp_new_opens"], ss["cp_new_due"], ss["cp_new_closes"], success=done)


@w.callback
def on_register(name: str) -> None:
    upload = st.session_state.get("cp_q_file")
    if upload is None:
        return
    upload.seek(0)
    w.run_action(lambda: versions.register(db, actor, versions.read(upload, name)),
                 success=lambda added: f"{plain(name)}: version registered. Choose it when you create a cycle."
                 if added else f"{plain(name)}: this version was already registered.")
    st.session_state.pop("cp_q_file", None)


# ---- sections -------------------------------------------------------------------------------------------------

def cycle_list(camps: pl.DataFrame) -> None:
    if camps.height == 0:
        st.info("No cycle yet: create the first one below.", icon=":material/info:")
        return
    st.dataframe(
        camps.sort("opens_on", descending=True).with_columns(
            (pl.col("submitted") / pl.when(pl.col("expected") > 0).then(pl.col("expected"))).alias("progress"),
            pl.format("{} / {}", "submitted", "expected").alias("submitted / expected"),
            pl.format("{}@{}", "questionnaire_id", "questionnaire_version").alias("questionnaire"),
        ).select("campaign_id", "name", "status", "opens_on", "due_on", "closes_on", "submitted / expected",
                 "progress", "questionnaire"),
        hide_index=True,
        column_config={
            "campaign_id": "Id", "name": "Name", "status": "Status",
            "opens_on": st.column_config.DateColumn("Opens"), "due_on": st.column_config.DateColumn("Due"),
            "closes_on": st.column_config.DateColumn("Closes"), "submitted / expected": "Submitted / expected",
            "progress": st.column_config.ProgressColumn("Progress", min_value=0, max_value=1, format="percent"),
            "questionnaire": "Questionnaire"})


def review_counts(assessments: pl.DataFrame) -> None:
    counts = dict(assessments.group_by("status").len().iter_rows()) if assessments.height else {}
    m = st.columns(4)
    m[0].metric("Awaiting review", counts.get("submitted", 0), border=True)
    m[1].metric("Approved", counts.get("approved", 0), border=True)
    m[2].metric("Returned", counts.get("returned", 0), border=True)
    m[3].metric("Not submitted", counts.get("draft", 0), f"of {assessments.height}", delta_color="off",
                delta_arrow="off", border=True)


def review_form(cid: str, waiting: pl.DataFrame) -> None:
    """Pick one waiting assessment, then approve it or return it with a comment."""
    names = dict(waiting.select("unit_id", "unit").iter_rows())
    with st.container(border=True):
        r1, r2 = st.columns([1, 2])
        with r1:
            uid = w.select("Assessment to review", names, key="cp_review_unit")
        row = waiting.filter(pl.col("unit_id") == uid).row(0, named=True)
        r1.markdown(f"Score **{fmt(row['score'])}** against target **{fmt(row['target'], 0)}**, "
                    f"{row['capped']} answer(s) capped, {row['na']} N/A.")
        if r1.button("Open the unit page", key="cp_open_unit", icon=":material/apartment:"):
            st.session_state["unit_pick"] = uid
            st.session_state["unit_campaign"] = cid
            st.switch_page("views/unit.py")
        r2.text_area("Comment", key="cp_comment", height=90,
                     placeholder="Required when returning: say what must change (e.g. 'Add dated evidence "
                                 "for TEST-02').")
        b1, b2, _ = r2.columns([1, 1, 1])
        b1.button("Approve", type="primary", icon=":material/check:", key="cp_approve", on_click=on_review,
                  args=(cid, uid, names[uid], True), width="stretch")
        b2.button("Return for rework", icon=":material/undo:", key="cp_return", on_click=on_review,
                  args=(cid, uid, names[uid], False), width="stretch")


def review_tab() -> None:
    camp = w.pick_campaign(db, actor, "cp_review_campaign", label="Cycle")
    cid = camp["campaign_id"]
    assessments = read(db, actor, campaigns.assessments, cid)
    review_counts(assessments)
    scores = read(db, actor, reports.units, cid).select("unit_id", "score", "target", "gap", "capped", "na")
    waiting = (assessments.filter(pl.col("status") == "submitted").join(scores, on="unit_id", how="left")
               .sort("submitted_at"))
    if waiting.height == 0:
        st.success("No assessment is waiting for review in this cycle.", icon=":material/task_alt:")
        return
    st.caption("Submitted assessments, oldest first. Check the answers and evidence on the Business unit "
               "page, then approve, or return with a comment saying what must change.")
    st.dataframe(
        waiting.select("unit", "division", "tier", "head", "submitted_by", "submitted_at", "score", "target",
                       "gap", "capped", "na"),
        hide_index=True,
        column_config={"unit": "Unit", "division": "Division", "tier": "Tier", "head": "Head",
                       "submitted_by": "Submitted by", "na": "N/A",
                       "score": st.column_config.NumberColumn("Score", format="%.2f"),
                       "target": st.column_config.NumberColumn("Target", format="%.0f"),
                       "gap": st.column_config.NumberColumn("Gap", format="%+.2f"),
                       "capped": st.column_config.NumberColumn("Capped", help="Answers capped by the "
                                                                              "evidence rule"),
                       "submitted_at": st.column_config.DatetimeColumn("Submitted", format="YYYY-MM-DD")})
    review_form(cid, waiting)


def manage_tab() -> None:
    camp = w.pick_campaign(db, actor, "cp_manage_campaign", label="Cycle")
    cid = camp["campaign_id"]
    st.markdown(f"**{plain(camp['name'])}** · questionnaire "
                f"{plain(camp['questionnaire_id'])}@{plain(camp['questionnaire_version'])}"
                + (f" · follows {plain(camp['previous_campaign_id'])}" if camp["previous_campaign_id"] else ""))
    w.status_badge(camp["status"])
    d1, d2, d3 = st.columns(3)
    d1.date_input("Opens on", value=camp["opens_on"], key=f"cp_opens|{cid}", format="YYYY-MM-DD")
    d2.date_input("Due on", value=camp["due_on"], key=f"cp_due|{cid}", format="YYYY-MM-DD",
                  help="Department heads see this date and the days left.")
    d3.date_input("Closes on", value=camp["closes_on"], key=f"cp_closes|{cid}", format="YYYY-MM-DD")
    st.button("Save dates", key="cp_save_dates", on_click=on_dates, args=(cid,), icon=":material/event:")
    st.divider()
    nexts = sorted(campaigns.TRANSITIONS.get(camp["status"], set()))
    st.caption(f"The cycle is **{camp['status']}**. " + " ".join(ACTIONS[s][2] for s in nexts if s in ACTIONS))
    cols = st.columns(max(len(nexts), 1) + 2)
    for col, status in zip(cols, nexts):
        label, icon, _ = ACTIONS.get(status, (status.capitalize(), None, ""))
        if camp["status"] == "closed" and status == "open":
            label = "Reopen the cycle"
        col.button(label, key=f"cp_status_{status}", icon=icon, on_click=on_status, args=(cid, status))


def new_cycle_tab(camps: pl.DataFrame) -> None:
    proposal = campaigns.propose_next(camps, clock.today())
    stored = read(db, actor, versions.stored)
    if stored.height == 0:
        st.info("No questionnaire version is registered yet: register one on the Questionnaire versions tab.")
        return
    refs = {f"{r['questionnaire_id']}@{r['version']}": f"{r['title']} {r['version']} ({r['questions']} questions)"
            for r in stored.iter_rows(named=True)}
    prev_rows = {"": "None: this is the first cycle"} | {
        r["campaign_id"]: w.campaign_label(r) for r in camps.sort("opens_on", descending=True).iter_rows(named=True)}
    st.caption("Choose the questionnaire version, the units and the dates. The cycle starts as *planned*: open it "
               "on the Dates and status tab when it should start.")
    n1, n2 = st.columns(2)
    n1.text_input("Id", value=proposal.campaign_id, key="cp_new_id",
                  help="Letters, digits, '.', '_' or '-'; must be unique.")
    n2.text_input("Name", value=proposal.name, key="cp_new_name")
    v1, v2 = st.columns(2)
    with v1:
        w.select("Questionnaire version", refs, key="cp_new_version", help="Register new versions on the "
                 "Questionnaire versions tab.")
    with v2:
        w.select("Follows", prev_rows, key="cp_prev", help="The cycle this one is compared with.")
    st.checkbox("Start each unit's draft from its last submitted answers", key="cp_carry",
                        disabled=not st.session_state.get("cp_prev"),
                        help="Carried answers are marked 'carried over, confirm or change' on the self-assessment "
                             "form; heads confirm or change each one before they can submit. Questions are matched "
                             "by id: answers to removed questions stay behind, new questions start empty.")
    units_section()
    e1, e2, e3 = st.columns(3)
    e1.date_input("Opens on", value=proposal.opens_on, key="cp_new_opens", format="YYYY-MM-DD")
    e2.date_input("Due on", value=proposal.due_on, key="cp_new_due", format="YYYY-MM-DD")
    e3.date_input("Closes on", value=proposal.closes_on, key="cp_new_closes", format="YYYY-MM-DD")
    st.button("Create the cycle", type="primary", key="cp_create", on_click=on_create, icon=":material/add:")


def units_section() -> None:
    """Which units the new cycle covers: every active unit, or those of some divisions, tiers or a list."""
    how = st.radio("Units", list(SELECTIONS), format_func=SELECTIONS.__getitem__, key="cp_units_by", horizontal=True)
    units = read(db, actor, catalog.units)
    if how == "division":
        divisions = dict(units.select("division_id", "division").unique().sort("division").iter_rows())
        st.multiselect("Divisions", list(divisions), format_func=divisions.__getitem__, key="cp_units_div")
    elif how == "tier":
        st.multiselect("Tiers", sorted(set(units["tier"].to_list())), key="cp_units_tier")
    elif how == "list":
        names = dict(units.select("unit_id", "name").iter_rows())
        st.multiselect("Units", list(names), format_func=lambda u: f"{names[u]} ({u})", key="cp_units_list")
    st.caption(f"{units.height} active unit(s) in the organisation; inactive units are never included.")


def versions_tab() -> None:
    stored = read(db, actor, versions.stored)
    st.caption("The registered questionnaire versions. A cycle keeps the exact version it was created with; a new "
               "version is registered here and chosen when the next cycle is created.")
    if stored.height:
        st.dataframe(stored.select("questionnaire_id", "version", "title", "questions", "loaded_at"), hide_index=True,
                     column_config={"questionnaire_id": "Questionnaire", "version": "Version", "title": "Title",
                                    "questions": "Questions",
                                    "loaded_at": st.column_config.DatetimeColumn("Registered",
                                                                                 format="YYYY-MM-DD HH:mm")})
    upload = st.file_uploader(f"A new version (.yaml, at most {versions.MAX_BYTES // 1024} KB; format: "
                              "questionnaires/FORMAT.md)", type=["yaml", "yml"], key="cp_q_file")
    if upload is None:
        return
    upload.seek(0)
    try:
        q = versions.read(upload, upload.name)
    except QuestionnaireError as exc:
        st.error(f"{len(exc.problems)} problem(s) in {plain(upload.name)}: correct them and upload it again.",
                 icon=":material/error:")
        st.dataframe(pl.DataFrame({"problem": exc.problems}), hide_index=True, key="cp_q_problems")
        return
    base, diff = versions.compare(db, actor, q)
    st.success(f"{plain(upload.name)} is valid: {plain(q.id)}@{plain(q.version)}, {len(q.questions)} questions in "
               f"{len(q.domains)} domains.", icon=":material/task_alt:")
    if base is None:
        st.info("No earlier version of this questionnaire is registered: there is nothing to compare it with.")
    else:
        st.markdown(f"Changes from **{plain(base)}**:")
        counts = summary(diff)
        m = st.columns(len(counts))
        for col, (label, n) in zip(m, counts.items()):
            col.metric(label.capitalize(), n, border=True)
        st.dataframe(diff, hide_index=True, key="cp_q_diff",
                     column_config={"section": "Section", "item": "Item", "change": "Change", "field": "Field",
                                    "old": "Before", "new": "After"})
    st.button(f"Register {q.id}@{q.version}", type="primary", key="cp_q_register", on_click=on_register,
              args=(upload.name,), icon=":material/library_add:")


# ---- page ---------------------------------------------------------------------------------------------------
w.header("Campaigns",
         "Assessment cycles and their review. Approve submitted self-assessments or return them with a comment, "
         "set each cycle's dates, open and close it, create cycles (carrying answers over) and register "
         "questionnaire versions.")
if not access.allowed(actor, "manage_campaigns"):
    st.warning("Only continuity managers and administrators manage campaigns.", icon=":material/lock:")
    st.stop()
w.show_flash()
all_camps = read(db, actor, campaigns.list_campaigns)
cycle_list(all_camps)
review, manage, new, qv = st.tabs(["Review submissions", "Dates and status", "New cycle", "Questionnaire versions"])
with review:
    if all_camps.height == 0:
        st.info("Nothing to review yet.")
    else:
        review_tab()
with manage:
    if all_camps.height == 0:
        st.info("No cycle yet: create the first one on the New cycle tab.")
    else:
        manage_tab()
with new:
    new_cycle_tab(all_camps)
with qv:
    versions_tab()
