"""Self-assessment: a department head answers the questionnaire for their unit in an open cycle, saves
drafts, and submits for review. A submitted assessment is read-only until the continuity manager returns it.

Form state lives in st.session_state under keys per campaign, unit and question, so input survives reruns
and page switches; it is initialised from the saved answers only when the form is first shown. Saves
send only the answers the user changed, with the event ids the form was loaded with, so the engine
refuses (StaleWrite) to overwrite an answer someone else changed meanwhile.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from assessment import answer_rules, clock, workflow
from assessment.errors import IncompleteAssessment, NotFound, StaleWrite
from assessment.model import SCORED, Answer, Questionnaire
from ui import actions as action_ui
from ui import carried, records
from ui import widgets as w
from ui.cache import read
from ui.format import days_phrase, plain
from ui.session import require_actor
from ui.state import get_db

db = get_db()
actor = require_actor(db)

FIELDS = ("level", "na", "reason", "evidence", "url", "date")
FORMS = "sa_forms"          # form id -> {"base": {qid: event_id}, "loaded": {qid: saved Answer}}
CONFLICTS = "sa_conflicts"  # form id -> [question ids changed by someone else]
MISSING = "sa_missing"      # form id -> [question ids still unanswered at the last submit attempt]
PERSIST = "session"         # unsaved input survives switching pages and units


def key(cid: str, uid: str, qid: str, field: str) -> str:
    return f"sa|{cid}|{uid}|{qid}|{field}"


def _load(cid: str, uid: str, q: Questionnaire, only: list[str] | None = None) -> None:
    """(Re)initialise widget values, loaded answers and base event ids from the saved answers."""
    current = workflow.current_answers(db, actor, cid, uid)
    rows = {r["question_id"]: r for r in current.iter_rows(named=True)}
    form = st.session_state.setdefault(FORMS, {}).setdefault(f"{cid}|{uid}", {"base": {}, "loaded": {},
                                                                               "comments": {}})
    for x in q.questions:
        if only is not None and x.id not in only:
            continue
        a = answer_rules.from_row(x.id, rows.get(x.id))
        values = {"level": a.level, "na": a.is_na, "reason": a.na_reason, "evidence": a.evidence,
                  "url": a.evidence_url, "date": a.evidence_date}
        for field in FIELDS:
            st.session_state[key(cid, uid, x.id, field)] = values[field]
        form["base"][x.id] = rows[x.id]["event_id"] if x.id in rows else None
        form["loaded"][x.id] = a
        form["comments"][x.id] = a.comment


def _form_answer(cid: str, uid: str, x) -> Answer:
    ss = st.session_state
    na = bool(ss.get(key(cid, uid, x.id, "na"))) if x.na_allowed else False
    form = ss[FORMS][f"{cid}|{uid}"]
    return Answer(
        x.id, level=None if na else ss.get(key(cid, uid, x.id, "level")), is_na=na,
        na_reason=(ss.get(key(cid, uid, x.id, "reason")) or "") if na else "",
        evidence=ss.get(key(cid, uid, x.id, "evidence")) or "",
        evidence_url=ss.get(key(cid, uid, x.id, "url")) or "",
        evidence_date=ss.get(key(cid, uid, x.id, "date")), comment=form["comments"].get(x.id, ""),
    )


def _edits(cid: str, uid: str, q: Questionnaire) -> list[Answer]:
    loaded = st.session_state[FORMS][f"{cid}|{uid}"]["loaded"]
    return answer_rules.changed_answers([_form_answer(cid, uid, x) for x in q.questions], loaded)


def _save(cid: str, uid: str, q: Questionnaire, quiet: bool = False) -> bool:
    """Save the changed answers; True when everything is saved. Messages go to the flash area."""
    form_id = f"{cid}|{uid}"
    edits = _edits(cid, uid, q)
    if not edits:
        if not quiet:
            w.flash("info", "Nothing to save: no answer changed since the last save.")
        return True

    def stale(exc: StaleWrite) -> None:
        st.session_state.setdefault(CONFLICTS, {})[form_id] = [c["question_id"] for c in exc.conflicts]
        w.flash("error", plain(exc))

    done = w.run_action(
        workflow.save_answers, db, actor, cid, uid, edits, base_events=st.session_state[FORMS][form_id]["base"],
        handle={StaleWrite: stale},
        success=None if quiet else lambda r: (f"Draft saved: {r.saved} answer(s) changed. You can come back and "
                                              "continue at any time before the due date."))
    if not done.ok:
        return False
    _refresh_saved(cid, uid, [a.question_id for a in edits])
    st.session_state.get(CONFLICTS, {}).pop(form_id, None)
    return True


def _refresh_saved(cid: str, uid: str, qids: list[str]) -> None:
    """After a save: the saved values become the loaded ones and their new event ids the base."""
    current = workflow.current_answers(db, actor, cid, uid)
    rows = {r["question_id"]: r for r in current.iter_rows(named=True)}
    form = st.session_state[FORMS][f"{cid}|{uid}"]
    for qid in qids:
        a = answer_rules.from_row(qid, rows.get(qid))
        form["base"][qid] = rows[qid]["event_id"] if qid in rows else None
        form["loaded"][qid] = a
        form["comments"][qid] = a.comment


@w.callback
def on_save(cid: str, uid: str, q: Questionnaire) -> None:
    st.session_state.get(MISSING, {}).pop(f"{cid}|{uid}", None)
    _save(cid, uid, q)


@w.callback
def on_submit(cid: str, uid: str, q: Questionnaire) -> None:
    form_id = f"{cid}|{uid}"
    if not _save(cid, uid, q, quiet=True):
        return

    def incomplete(exc: IncompleteAssessment) -> None:
        st.session_state.setdefault(MISSING, {})[form_id] = exc.missing

    def submitted(result: dict) -> str:
        score = "—" if result["score"] is None else f"{result['score']:.2f}"
        return (f"Submitted for review. Score {score} against the target of {result['target']:.0f} for this "
                "unit's tier. The continuity manager will approve it or return it with comments.")

    done = w.run_action(workflow.submit, db, actor, cid, uid, handle={IncompleteAssessment: incomplete},
                        success=submitted)
    if done.ok:
        st.session_state.get(MISSING, {}).pop(form_id, None)
        st.session_state[FORMS].pop(form_id, None)


@w.callback
def on_discard(cid: str, uid: str, q: Questionnaire, only: list[str] | None = None) -> None:
    _load(cid, uid, q, only)
    st.session_state.get(CONFLICTS, {}).pop(f"{cid}|{uid}", None)
    w.flash("info", "Loaded the saved answers." if only else "Unsaved changes discarded.")


@w.callback
def on_overwrite(cid: str, uid: str, q: Questionnaire, qids: list[str]) -> None:
    """Keep my input for the conflicting questions and save it over the newer answers."""
    _refresh_saved(cid, uid, qids)
    _save(cid, uid, q)


def _answered(cid: str, uid: str, questions) -> int:
    """How many of `questions` the form has answered (a level, or N/A where allowed)."""
    return sum(answer_rules.is_answered(_form_answer(cid, uid, x)) for x in questions)


# ---- page sections ------------------------------------------------------------------------------------------

def choose() -> tuple[str, dict]:
    """The unit and the open cycle to answer; stops the page when there is nothing to answer."""
    unit_opts = w.unit_options(db, actor, "answer")
    if not unit_opts:
        st.info("You are not responsible for a business unit, so there is no self-assessment for you to fill in.",
                icon=":material/info:")
        st.stop()
    c1, c2 = st.columns(2)
    with c1:
        uid = w.select("Business unit", unit_opts, key="sa_unit", help="Only the units you are responsible for "
                       "are listed.")
    with c2:
        camp = w.pick_campaign(db, actor, "sa_campaign", label="Assessment cycle", statuses=("open",),
                               help="Only open cycles can be answered.", fmt=lambda r: r["name"])
    if camp is None:
        st.info("No assessment cycle is open at the moment. You will be able to answer once the continuity manager "
                "opens the next cycle.", icon=":material/event_busy:")
        st.stop()
    return uid, camp


def status_box(a: dict, camp: dict, q: Questionnaire) -> None:
    days_left = (camp["due_on"] - clock.today()).days
    with st.container(border=True):
        s1, s2, s3 = st.columns([2, 2, 3])
        with s1:
            st.caption("Status")
            w.status_badge(a["status"])
        with s2:
            st.caption("Due date")
            st.markdown(f"**{camp['due_on']:%d %b %Y}** ({days_phrase(days_left)})")
        with s3:
            st.caption("Questionnaire")
            st.markdown(f"{plain(q.title)}, version {plain(q.version)} · {len(q.questions)} questions in "
                        f"{len(q.domains)} domains")


def read_only(cid: str, uid: str, q: Questionnaire, a: dict) -> None:
    """A submitted or approved assessment: its answers as a table, no form."""
    who = a["approved_by"] if a["status"] == "approved" else a["submitted_by"]
    when = a["approved_at"] if a["status"] == "approved" else a["submitted_at"]
    w.show_flash()
    st.info(f"This assessment was {a['status']} by {plain(who)} on {when:%d %b %Y}. It is read-only"
            + (" until the continuity manager returns it for rework." if a["status"] == "submitted" else "."),
            icon=":material/lock:")
    current = workflow.current_answers(db, actor, cid, uid)
    rows = {r["question_id"]: r for r in current.iter_rows(named=True)}
    for tab, d in zip(st.tabs([plain(d.name) for d in q.domains]), q.domains):
        with tab:
            table = []
            for x in d.questions:
                r = rows.get(x.id)
                if r is None:
                    answer = "—"
                elif r["is_na"]:
                    answer = f"N/A: {r['na_reason']}"
                else:
                    answer = f"{r['level']} — {x.levels[r['level']]}" if r["level"] is not None else "—"
                table.append({"Question": f"{x.id} · {x.text}", "Answer": answer,
                              "Evidence": (r or {}).get("evidence"), "Link": (r or {}).get("evidence_url"),
                              "Evidence date": (r or {}).get("evidence_date")})
            st.dataframe(pl.DataFrame(table, infer_schema_length=None), hide_index=True,
                         column_config={"Link": st.column_config.LinkColumn(width="small"),
                                        "Question": st.column_config.TextColumn(width="medium"),
                                        "Answer": st.column_config.TextColumn(width="medium"),
                                        "Evidence": st.column_config.TextColumn(width="medium"),
                                        "Evidence date": st.column_config.DateColumn(width="small")})
    st.page_link("views/unit.py", label="See the scores and why each one is what it is on the Business unit page",
                 icon=":material/apartment:")


def returned_notice(a: dict) -> None:
    st.warning(f"**Returned for rework** by {plain(a['returned_by'])} on {a['returned_at']:%d %b %Y}:\n\n"
               f"{plain(a['return_comment'] or '(no comment)')}\n\nChange what is asked, save, and submit again.",
               icon=":material/undo:")


def progress(cid: str, uid: str, q: Questionnaire) -> None:
    rule = q.policy.evidence_rule
    answered, total = _answered(cid, uid, q.questions), len(q.questions)
    st.progress(answered / total, text=f"**{answered} of {total}** questions answered ({100 * answered // total}%)")
    st.caption(f"Evidence rule: a level of {rule.min_level} or more needs evidence (a description or a link) dated "
               f"within the last {rule.max_age_months} months, otherwise it counts as {rule.cap_level}. "
               + ("N/A needs a reason and is left out of the score." if q.policy.na_reason_required else ""))


def question_form(cid: str, uid: str, x, capped_why: dict[str, str], level_help: str) -> None:
    """One question: its text and guidance, the level, evidence and N/A inputs."""
    na = bool(x.na_allowed and st.session_state.get(key(cid, uid, x.id, "na")))
    is_done = answer_rules.is_answered(_form_answer(cid, uid, x))
    with st.container(border=True, key=f"sa_q_{x.id}"):
        icon = ":green[:material/check_circle:]" if is_done else ":gray[:material/radio_button_unchecked:]"
        st.markdown(f"{icon} **{plain(x.id)}** · {plain(x.text)}")
        carried.badge(db, actor, cid, uid, x.id)
        st.caption(f"**Guidance:** {plain(x.guidance)}  \n**Expected evidence:** {plain(x.evidence)}")
        records.beside_question(db, actor, cid, uid, x.id)
        if x.id in capped_why:
            st.markdown(f":orange[:material/warning: **Will be capped** — {plain(capped_why[x.id])}.]")
        action_ui.beside_question(db, actor, uid, x.id)
        left, right = st.columns([3, 2], gap="medium")
        with left:
            st.radio("Maturity level", list(range(len(x.levels))), index=None,
                     format_func=lambda lv, x=x: f"{lv} — {plain(x.levels[lv])}",
                     key=key(cid, uid, x.id, "level"), disabled=na, help=level_help,
                     persist_state=PERSIST)
        with right:
            st.text_area("Evidence", key=key(cid, uid, x.id, "evidence"), height=68,
                         placeholder="What shows this level: document, record, test report…",
                         persist_state=PERSIST)
            st.text_input("Link to evidence", key=key(cid, uid, x.id, "url"),
                          placeholder="https://…", persist_state=PERSIST)
            st.date_input("Evidence date", value=None, min_value=answer_rules.MIN_EVIDENCE_DATE,
                          max_value=clock.today(), key=key(cid, uid, x.id, "date"), format="YYYY-MM-DD",
                          persist_state=PERSIST)
            if x.na_allowed:
                st.checkbox("Not applicable to this unit (N/A)", key=key(cid, uid, x.id, "na"),
                            persist_state=PERSIST)
                if na:
                    st.text_input("Why is it not applicable? (required)", key=key(cid, uid, x.id, "reason"),
                                  persist_state=PERSIST)


def questions(cid: str, uid: str, q: Questionnaire, capped: pl.DataFrame) -> None:
    """The form: one tab per domain, one box per question."""
    capped_why = dict(zip(capped["question_id"].to_list(), capped["explanation"].to_list()))
    level_help = "; ".join(f"{lv.level} {plain(lv.name)}" for lv in q.scale)
    for tab, d in zip(st.tabs([plain(d.name) for d in q.domains]), q.domains):
        with tab:
            st.caption(f"{plain(d.description)}  \n**{_answered(cid, uid, d.questions)} of {len(d.questions)}** "
                       "answered in this domain.")
            carried.domain_bar(db, actor, cid, uid, d)
            for x in d.questions:
                question_form(cid, uid, x, capped_why, level_help)


def notices(cid: str, uid: str, q: Questionnaire, capped: pl.DataFrame) -> None:
    """What the last action left to do: missing answers, conflicting changes, answers the rule will cap."""
    form_id = f"{cid}|{uid}"
    missing = st.session_state.get(MISSING, {}).get(form_id)
    if missing:
        texts = w.question_texts(q)
        st.error(f"**Not submitted: {len(missing)} question(s) still need an answer** (a level, or N/A with a "
                 "reason):\n" + "\n".join(f"- **{plain(m)}** · {plain(texts.get(m, ''))}" for m in missing),
                 icon=":material/playlist_remove:")
    conflicts = st.session_state.get(CONFLICTS, {}).get(form_id)
    if conflicts:
        st.warning("Someone else changed " + plain(", ".join(conflicts)) + " after you opened this form. Load "
                   "their answers for these questions, or keep yours and save them over theirs.",
                   icon=":material/sync_problem:")
        b1, b2, _ = st.columns([1, 1, 2])
        b1.button("Load their answers", key="sa_take_theirs", on_click=on_discard, args=(cid, uid, q, conflicts))
        b2.button("Keep mine and save", key="sa_keep_mine", on_click=on_overwrite, args=(cid, uid, q, conflicts))
    if capped.height:
        rule = q.policy.evidence_rule
        st.warning(f"**The evidence rule will cap {capped.height} answer(s) at level {rule.cap_level}** when scored "
                   f"(based on the saved answers): {plain(', '.join(capped['question_id'].to_list()))}. Add evidence "
                   f"dated within the last {rule.max_age_months} months to keep the level you chose.",
                   icon=":material/warning:")
        with st.expander("Why each of these answers is capped"):
            st.markdown("\n".join(f"- **{plain(r['question_id'])}**: {plain(r['explanation'])}"
                                   for r in capped.iter_rows(named=True)))


def actions(cid: str, uid: str, q: Questionnaire, pending: list[Answer]) -> None:
    with st.container(border=True):
        a1, a2, a3, a4 = st.columns([1, 1, 1, 2], vertical_alignment="center")
        a1.button("Save draft", type="primary", icon=":material/save:", key="sa_save", on_click=on_save,
                  args=(cid, uid, q), width="stretch")
        a2.button("Submit for review", icon=":material/send:", key="sa_submit", on_click=on_submit,
                  args=(cid, uid, q), width="stretch", help="Saves your changes, checks every question is answered, "
                                                             "scores the assessment and locks it for review.")
        a3.button("Discard changes", icon=":material/undo:", key="sa_discard", on_click=on_discard,
                  args=(cid, uid, q), disabled=not pending, width="stretch")
        a4.caption(f":orange[**{len(pending)} unsaved change(s)**]" if pending else "All changes saved.")


# ---- page ---------------------------------------------------------------------------------------------------
w.header("Self-assessment",
         "Answer each question for your business unit on the 0-5 maturity scale, with evidence. Save a draft "
         "whenever you like; submit when every question is answered. Your continuity manager then reviews it.")
uid, camp = choose()
cid = camp["campaign_id"]
try:
    a = workflow.assessment(db, actor, cid, uid)
except NotFound:
    st.warning(f"{plain(w.unit_options(db, actor, 'answer')[uid])} is not part of {plain(camp['name'])}. Ask your "
               "continuity manager to add it.")
    st.stop()
q = w.questionnaire_for(db, cid)
status_box(a, camp, q)
if a["status"] in SCORED:
    read_only(cid, uid, q, a)
    st.stop()
if a["status"] == "returned":
    returned_notice(a)
if f"{cid}|{uid}" not in st.session_state.get(FORMS, {}):
    _load(cid, uid, q)
progress(cid, uid, q)
capped = read(db, actor, workflow.preview, cid, uid).questions.filter(pl.col("status") == "capped")
questions(cid, uid, q, capped)
st.divider()
pending = _edits(cid, uid, q)
w.show_flash()
notices(cid, uid, q, capped)
actions(cid, uid, q, pending)
