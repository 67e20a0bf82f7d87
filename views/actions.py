"""Improvement actions: the register with filters, status changes with closure evidence, verification and
risk acceptance by the continuity office, actions in bulk for the gaps of a cycle, and one-click actions for
failed exercise results and incidents (without a post-mortem, or with lessons to act on)."""

from __future__ import annotations

import io
from datetime import timedelta

import polars as pl
import streamlit as st

from assessment import access, actions, clock, exercises, incidents
from assessment.actions import STATUSES
from assessment.errors import StaleWrite
from assessment.excel import actions_sheet
from ui import actions as action_ui
from ui import widgets as w
from ui.cache import read
from ui.format import plain
from ui.session import require_actor
from ui.state import get_db

db = get_db()
actor = require_actor(db)
TABLE_LIMIT = 500
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROGRESS = {actions.OPEN: "Open", actions.IN_PROGRESS: "In progress", actions.DONE: "Done (with closure evidence)"}


# ---- callbacks --------------------------------------------------------------------------------------------------

def _stale(exc: StaleWrite) -> None:
    w.flash("error", plain(exc))


@w.callback
def on_progress(aid: str, revision: int) -> None:
    ss = st.session_state
    w.run_action(actions.progress, db, actor, aid, ss["act_status"], base_revision=revision,
                 note=ss.get("act_note") or "", evidence_text=ss.get("act_evidence") or "",
                 evidence_url=ss.get("act_url") or "", evidence_date=ss.get("act_evidence_date"),
                 success=f"{aid}: {PROGRESS[ss['act_status']].lower()}.", handle={StaleWrite: _stale})


@w.callback
def on_verify(aid: str, revision: int) -> None:
    w.run_action(actions.verify, db, actor, aid, base_revision=revision, note=st.session_state.get("act_note") or "",
                 success=f"{aid}: verified and closed.", handle={StaleWrite: _stale})


@w.callback
def on_accept(aid: str, revision: int) -> None:
    ss = st.session_state
    w.run_action(actions.accept_risk, db, actor, aid, base_revision=revision, reason=ss.get("act_risk_reason") or "",
                 approver=ss.get("act_risk_approver") or "", expires_on=ss["act_risk_expires"],
                 success=f"{aid}: risk accepted until {ss['act_risk_expires']}.", handle={StaleWrite: _stale})


@w.callback
def on_bulk(cid: str, min_priority: float) -> None:
    w.run_action(actions.create_from_gaps, db, actor, cid, min_priority=min_priority,
                 success=lambda df: f"{df.height} action(s) created for the gaps of {plain(cid)} above priority "
                                    f"{min_priority:g}.")


# ---- sections ---------------------------------------------------------------------------------------------------

def register(filters) -> pl.DataFrame:
    st.subheader("Register")
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    statuses = c1.multiselect("Status", list(STATUSES), default=list(actions.OPEN_STATUSES), format_func=STATUSES.get,
                              key="act_statuses")
    mine = c2.toggle("Only mine", key="act_mine")
    overdue = c3.toggle("Only overdue", key="act_overdue")
    df = read(db, actor, actions.list_actions, filters, statuses=tuple(statuses),
              owner=actor.username if mine else None, overdue=overdue)
    st.caption(f"{df.height} action(s)" + (f"; showing the first {TABLE_LIMIT}" if df.height > TABLE_LIMIT else "")
               + ". Soonest due first.")
    st.dataframe(
        df.head(TABLE_LIMIT).select("action_id", "status", "overdue", "due_on", "priority", "title", "owner", "unit",
                                    "division", "question_ids", "source", "source_ref", "service_id"),
        hide_index=True, key="act_table",
        column_config={"action_id": "Action", "status": "Status", "overdue": "Overdue",
                       "due_on": st.column_config.DateColumn("Due"),
                       "priority": st.column_config.NumberColumn("Priority", format="%.1f"),
                       "title": st.column_config.TextColumn("Title", width="large"), "owner": "Owner",
                       "unit": "Unit", "division": "Division", "question_ids": "Questions", "source": "Source",
                       "source_ref": "From", "service_id": "Service"})
    return df


def edit(df: pl.DataFrame) -> None:
    st.subheader("Update an action")
    if df.height == 0:
        st.info("No action in this selection.", icon=":material/info:")
        return
    labels = {r["action_id"]: f"{r['action_id']} · {r['title'][:70]} ({STATUSES[r['status']]})"
              for r in df.head(TABLE_LIMIT).iter_rows(named=True)}
    aid = w.select("Action", labels, key="act_pick")
    a = read(db, actor, actions.get_action, aid)
    with st.container(border=True):
        st.text(f"{a['action_id']} · {a['title']}\n"
                f"Status: {STATUSES[a['status']]} · owner {a['owner']} · due {a['due_on']} · unit {a['unit_id']}"
                + (f" · service {a['service_id']}" if a["service_id"] else "")
                + (f" · questions {', '.join(a['question_ids'])}" if a["question_ids"] else "")
                + f"\nSource: {actions.SOURCES.get(a['source'], a['source'])} {a['source_ref'] or ''}")
        if a["description"]:
            st.text(a["description"])
        if a["evidence_text"] or a["evidence_url"]:
            st.text(f"Closure evidence ({a['evidence_date']}): {a['evidence_text'] or ''} {a['evidence_url'] or ''}")
        if a["status"] == actions.VERIFIED:
            st.text(f"Verified by {a['verified_by']} on {a['verified_on']}")
        if a["status"] == actions.RISK_ACCEPTED:
            st.text(f"Risk accepted until {a['risk_expires_on']}, approved by {a['risk_approver']}: {a['risk_reason']}")
        with st.expander("History"):
            st.dataframe(a["history"], hide_index=True, key="act_history")
    may_progress = access.allowed(actor, "manage_actions") or (
        actor.username == a["owner"] and access.allowed(actor, "update_own_actions"))
    may_verify = access.allowed(actor, "verify_actions")
    if not (may_progress or may_verify):
        st.caption("Only the action's owner or the continuity office may change it.")
        return
    st.text_input("Note for the history (optional)", key="act_note")
    if may_progress and (a["status"] in actions.OPEN_STATUSES or may_verify):
        left, right = st.columns(2)
        with left:
            w.select("New status", {k: v for k, v in PROGRESS.items() if k != a["status"]}, key="act_status")
            st.date_input("Evidence date", value=None, max_value=clock.today(), key="act_evidence_date",
                          format="YYYY-MM-DD", help="Default: today")
        with right:
            st.text_area("What was done (closure evidence)", key="act_evidence", height=68)
            st.text_input("Link to the evidence", key="act_url", placeholder="https://…")
        st.button("Save the status", key="act_save", icon=":material/save:", on_click=on_progress,
                  args=(aid, a["revision"]))
    if may_verify and a["status"] == actions.DONE:
        st.button("Verify the closure", key="act_verify", type="primary", icon=":material/verified:",
                  on_click=on_verify, args=(aid, a["revision"]))
    if may_verify and a["status"] in actions.OPEN_STATUSES:
        with st.expander("Accept the risk instead"):
            st.text_input("Why the risk is accepted", key="act_risk_reason")
            st.text_input("Approved by", key="act_risk_approver")
            st.date_input("Acceptance expires on", value=clock.today() + timedelta(days=180),
                          min_value=clock.today() + timedelta(days=1), key="act_risk_expires", format="YYYY-MM-DD")
            st.button("Accept the risk", key="act_accept", icon=":material/gpp_maybe:", on_click=on_accept,
                      args=(aid, a["revision"]))


def bulk() -> None:
    if not access.allowed(actor, "create_actions"):
        return
    st.subheader("Actions for the gaps of a cycle")
    st.caption("One action for every gap above a priority, owned by the unit's head and due in 90 days; a gap "
               "that already has an open action gets no second one. Check the preview, then create them.")
    c1, c2 = st.columns([2, 1])
    with c1:
        camp = w.pick_campaign(db, actor, "act_bulk_campaign", label="Cycle")
    min_priority = c2.number_input("Priority above", min_value=0.0, value=2.0, step=0.5, key="act_bulk_min")
    if camp is None:
        return
    preview = read(db, actor, actions.gaps_to_action, camp["campaign_id"], min_priority=min_priority)
    st.caption(f"{preview.height} gap(s) would get an action.")
    st.dataframe(preview.head(TABLE_LIMIT).select("division", "unit", "question_id", "priority", "owner", "due_on",
                                                  "title"), hide_index=True, key="act_bulk_preview",
                 column_config={"priority": st.column_config.NumberColumn(format="%.1f"),
                                "due_on": st.column_config.DateColumn("Due"), "question_id": "Question",
                                "title": st.column_config.TextColumn("Title", width="large")})
    st.button(f"Create {preview.height} action(s)", key="act_bulk_create", icon=":material/playlist_add:",
              disabled=preview.height == 0, on_click=on_bulk, args=(camp["campaign_id"], min_priority))


def from_records() -> None:
    if not access.allowed(actor, "create_actions"):
        return
    st.subheader("Actions from exercises and incidents")
    today = clock.today()
    since = today - timedelta(days=365)
    failed = read(db, actor, exercises.exercise_log, since=since).filter(pl.col("passed").not_())
    log = read(db, actor, incidents.incident_log, since=since)
    made = read(db, actor, actions.list_actions, statuses=actions.OPEN_STATUSES)
    made_from = {(s, r): a for a, s, r in made.select("action_id", "source", "source_ref").iter_rows()}
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Failed exercise results (last 12 months)**")
        if failed.height == 0:
            st.caption("None.")
        rows = {f"{r['exercise_id']}|{r['service_id']}": r for r in failed.iter_rows(named=True)}
        if rows:
            key = w.select("Result", {k: f"{r['exercise_date']} · {r['exercise_id']} · {r['service']} "
                                         f"({r['unit']})" for k, r in rows.items()}, key="act_ex_pick")
            r = rows[key]
            st.text(r["findings"] or "(no findings recorded)")
            owner = read(db, actor, actions.default_owner, r["unit_id"])
            action_ui.new_action_button(db, actor, actions.from_exercise_result(r, owner), key="act_ex_create",
                                        existing=made_from.get(("exercise", r["exercise_id"])))
    with right:
        st.markdown("**Incidents (last 12 months)**")
        if log.height == 0:
            st.caption("None.")
        rows = {f"{r['incident_id']}|{r['service_id']}": r for r in log.iter_rows(named=True)}
        if rows:
            key = w.select("Incident", {k: f"{r['started_at']:%Y-%m-%d} · {r['incident_id']} · {r['title'][:50]} "
                                           f"({r['service_id']}; post-mortem "
                                           f"{'done' if r['postmortem_done'] else 'not done'})"
                                        for k, r in rows.items()}, key="act_inc_pick")
            r = rows[key]
            owner = read(db, actor, actions.default_owner, r["unit_id"])
            lessons = r["postmortem_done"] is not None
            source = "postmortem" if lessons else "incident"
            action_ui.new_action_button(
                db, actor, actions.from_incident(r, owner, lessons=lessons), key="act_inc_create",
                label="Create an action on the post-mortem's lessons" if lessons else "Create an action: hold the "
                                                                                       "post-mortem",
                existing=made_from.get((source, r["incident_id"])))


def in_excel(filters) -> None:
    """Download the register, update statuses offline, import it back (dry run first, all or nothing)."""
    if not access.allowed(actor, "update_own_actions"):
        return
    st.subheader("Update in Excel")
    st.caption("Download the register, change Status (open, in_progress, done), Closure evidence, Evidence link "
               "and Evidence date of your actions, and import it back. Every row is checked first; nothing is "
               "saved unless every changed row is fine, and a row whose action changed since the download is never "
               "overwritten.")
    if st.button("Prepare the action register", key="act_xl_prepare", icon=":material/table_view:"):
        buf = io.BytesIO()
        actions_sheet.write_register(db, actor, buf, filters)
        st.session_state["act_xl_file"] = buf.getvalue()
    if st.session_state.get("act_xl_file"):
        st.download_button("Download the action register", st.session_state["act_xl_file"],
                           file_name="itscm-actions.xlsx", mime=XLSX, key="act_xl_download",
                           icon=":material/download:")
    upload = st.file_uploader("The updated register (.xlsx)", type=["xlsx"], key="act_xl_upload")
    if upload is None:
        return
    upload.seek(0)
    analysed = w.run_action(actions_sheet.analyse, db, actor, upload.getvalue(), upload.name, writes=False)
    if not analysed.ok:
        w.show_flash()
        return
    result = analysed.value
    if result.problems:
        st.error(f"{len(result.problems)} problem(s) in {plain(upload.name)}: nothing can be imported until they "
                 "are corrected.", icon=":material/error:")
        st.dataframe(result.problems_frame(), hide_index=True, key="act_xl_problems")
        return
    s = result.summary
    st.caption(f"{s['changed']} changed, {s['unchanged']} unchanged.")
    st.dataframe(result.diff.filter(pl.col("change") != "unchanged"), hide_index=True, key="act_xl_diff")
    if st.button(f"Save {s['changed']} change(s)", key="act_xl_commit", type="primary", disabled=not s["changed"]):
        done = w.run_action(actions_sheet.commit, db, actor, upload.getvalue(), upload.name)
        if done.signed_out:
            st.rerun()
        if done.ok and done.value.problems:
            st.error("Nothing was saved:\n" + "\n".join(f"- {plain(p)}" for p in done.value.problems))
        elif done.ok:
            w.flash("success", f"{done.value.written} action(s) updated from {plain(upload.name)}.")
            st.rerun()
        else:
            w.show_flash()


# ---- page ---------------------------------------------------------------------------------------------------------
w.header("Improvement actions",
         "Gaps, exercise findings, post-mortems and audit findings become owned, dated actions with closure "
         "evidence and verification (ISO 22301 10.1, DORA Art. 24(5)). Owners move their own actions up to done; "
         "the continuity office verifies them or accepts the risk.")
w.show_flash()
with st.container(border=True):
    filters = w.scope_filters(db, actor, "act")
table = register(filters)
edit(table)
in_excel(filters)
bulk()
from_records()
