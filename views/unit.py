"""Business unit: one unit's scores by domain against its target, every answer with its evidence and
history, why each score is what it is (as answered, capped by the evidence rule, N/A), and its gaps."""

from __future__ import annotations

import polars as pl
import streamlit as st

from assessment import answer_rules, catalog, clock, reports, unit_detail, workflow
from assessment.model import CAPPED_STATUSES, Questionnaire
from ui import actions as action_ui
from ui import figures, records
from ui import widgets as w
from ui.cache import read
from ui.format import days_phrase, fmt, plain
from ui.session import require_actor
from ui.state import get_db

db = get_db()
actor = require_actor(db)

STATUS_TEXT = {"answered": "as answered", "capped": "capped (evidence rule)",
               "capped_records": "capped (continuity records)", "na": "N/A (excluded)",
               "missing": "not answered"}
# Colour of the next plan review by its urgency bucket (reports.bucket_expr holds the thresholds).
URGENCY_COLOUR = {reports.NEVER_REVIEWED: "red", reports.OVERDUE: "red", reports.DUE_WITHIN[0][1]: "orange"}


def choose() -> tuple[str, str, dict, pl.DataFrame]:
    """The unit and the cycle to show; stops the page when there is nothing to show."""
    units = w.unit_options(db, actor, "read")
    if not units:
        st.info("You do not have access to any business unit.", icon=":material/info:")
        st.stop()
    c1, c2 = st.columns(2)
    with c1:
        uid = w.select("Business unit", units, key="unit_pick")
    cycles = read(db, actor, unit_detail.cycles, uid)
    if cycles.height == 0:
        st.info(f"{plain(units[uid])} has not taken part in any assessment cycle yet.", icon=":material/info:")
        st.stop()
    cyc = {r["campaign_id"]: r for r in cycles.sort("opens_on", descending=True).iter_rows(named=True)}
    with c2:
        cid = w.select("Assessment cycle", {c: f"{r['campaign']} ({r['status']})" for c, r in cyc.items()},
                       key="unit_campaign")
    return uid, cid, cyc[cid], cycles


def identity(uid: str, u: dict, c: dict, q: Questionnaire) -> None:
    tiers = w.tier_names(q)
    with st.container(border=True):
        i1, i2, i3, i4, i5 = st.columns(5)
        i1.caption("Division")
        i1.markdown(f"**{plain(u['division'])}**")
        i2.caption("Criticality tier")
        i2.markdown(f"**{plain(tiers.get(u['tier'], u['tier']))}**")
        i3.caption("Head of unit")
        i3.markdown(f"**{plain(u['head'] or '—')}**")
        i4.caption("Continuity plan last reviewed")
        if u["plan_last_reviewed"] is None:
            i4.markdown(":red[**never**]")
        else:
            plans = read(db, actor, reports.deadlines, None, reports.Filters(unit_ids=(uid,))).filter(
                pl.col("kind") == "plan review")
            days, bucket = (plans["days_left"][0], plans["bucket"][0]) if plans.height else (None, None)
            colour = URGENCY_COLOUR.get(bucket, "green")
            i4.markdown(f"**{u['plan_last_reviewed']:%d %b %Y}** · :{colour}[next review {days_phrase(days)}]")
        with i5:
            st.caption("Assessment in this cycle")
            w.status_badge(c["status"])


def kpis(c: dict, q: Questionnaire, qs: pl.DataFrame, provisional: bool) -> None:
    k1, k2, k3, k4, k5 = st.columns(5)
    if c["score"] is not None:
        k1.metric("Unit score", fmt(c["score"]), f"{-c['gap']:+.2f} vs target {c['target']:.1f}", border=True)
        k2.metric("Maturity band", plain(c["band"] or "—"), border=True)
        weakest = dict(w.domain_names(q)).get(c["weakest_domain"], c["weakest_domain"])
        k3.metric("Weakest domain", plain(weakest or "—"), border=True)
        k4.metric("Capped by evidence rule", c["capped"], "answers counted as level "
                  f"{q.policy.evidence_rule.cap_level}", delta_color="off", delta_arrow="off", border=True)
        k5.metric("N/A answers", c["na"], "excluded from the score", delta_color="off", delta_arrow="off",
                  border=True)
        return
    answered = qs.filter(answer_rules.answered("answered_level", "answered_na")).height if qs.height else 0
    k1.metric("Unit score", "—", "not submitted yet", delta_color="off", delta_arrow="off", border=True)
    k2.metric("Answered", f"{answered} / {qs.height}", border=True)
    k3.metric("Assessment status", c["status"].capitalize(), border=True)
    days = (c["due_on"] - clock.today()).days
    k4.metric("Days to due date" if days >= 0 else "Days overdue", abs(days), f"due {c['due_on']:%d %b %Y}",
              delta_color="off", delta_arrow="off", border=True)
    k5.metric("Capped (so far)", int(qs.filter(pl.col("status") == "capped").height) if provisional else "—",
              border=True)


def notices(c: dict, provisional: bool) -> None:
    if c["status"] == "returned" and c["return_comment"]:
        st.warning(f"Returned by {plain(c['returned_by'])} on {c['returned_at']:%d %b %Y}: "
                   f"{plain(c['return_comment'])}")
    if provisional:
        st.info("This assessment has not been submitted, so nothing is scored yet. The figures below are a "
                "**provisional preview** of the saved answers, scored as if submitted today.",
                icon=":material/preview:")
    elif c["score"] is None:
        st.info("No answers have been saved for this cycle yet.", icon=":material/hourglass_empty:")


def domains(uid: str, doms: pl.DataFrame, q: Questionnaire) -> None:
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Scores by domain")
        st.caption("Bars are the domain scores (green at or above target, amber within 0.5, red further below); the "
                   "black ticks are the tier target.")
        st.plotly_chart(figures.domain_bars(doms), key="unit_domains", config={"displayModeBar": False})
    with right:
        st.subheader("Domain trend across cycles")
        st.caption("Submitted or approved cycles only; a missing point means the unit was not scored in that "
                   "cycle.")
        st.plotly_chart(figures.domain_trends(read(db, actor, reports.domain_trends, uid), w.domain_names(q)),
                        key="unit_trend", config={"displayModeBar": False})


def gaps_table(qs: pl.DataFrame) -> None:
    st.subheader("Gaps with priority")
    st.caption("Questions below target, most urgent first. Priority = gap × question weight × tier factor.")
    gaps = qs.filter(pl.col("priority") > 0).sort(["priority", "gap"], descending=True) if qs.height else qs
    if gaps.height == 0:
        st.success("No gaps: every scored answer meets the target." if qs.height and qs["score"].is_not_null().any()
                   else "Nothing scored yet.")
        return
    st.dataframe(
        gaps.head(15).select("question_id", "text", "level", "score", "target", "gap", "priority", "explanation"),
        hide_index=True,
        column_config={
            "question_id": "Question", "text": st.column_config.TextColumn("Text", width="large"),
            "level": "Answered", "score": st.column_config.NumberColumn("Score", format="%.0f"),
            "target": st.column_config.NumberColumn("Target", format="%.0f"),
            "gap": st.column_config.NumberColumn("Gap", format="%.1f"),
            "priority": st.column_config.ProgressColumn("Priority", min_value=0,
                                                        max_value=float(max(gaps["priority"].max(), 1)),
                                                        format="%.1f"),
            "explanation": st.column_config.TextColumn("Why", width="large")})
    if gaps.height > 15:
        st.caption(f"{gaps.height - 15} smaller gaps not shown; see all answers below.")


def answers_table(qs: pl.DataFrame) -> None:
    st.subheader("Answers, evidence and why each score is what it is")
    show = st.segmented_control(
        "Show", ["all", "below target", "capped", "na", "missing"], default="all", key="unit_answer_filter",
        format_func={"all": "All", "below target": "Below target", "capped": "Capped", "na": "N/A",
                     "missing": "Not answered"}.get) or "all"
    answers = qs
    if show == "below target":
        answers = qs.filter(pl.col("gap") > 0)
    elif show == "capped":
        answers = qs.filter(pl.col("status").is_in(list(CAPPED_STATUSES)))
    elif show in ("na", "missing"):
        answers = qs.filter(pl.col("status") == show)
    policy = qs["policy"].drop_nulls().first() if qs.height and qs["policy"].drop_nulls().len() else "—"
    st.caption(f"{answers.height} of {qs.height} questions. The policy that scored them: {plain(policy)}.")
    if answers.height == 0:
        return
    st.dataframe(
        answers.with_columns(pl.col("status").replace_strict(STATUS_TEXT, default=None).alias("status"))
        .select("question_id", "domain", "text", "answered_level", "score", "status", "explanation", "na_reason",
                "evidence", "evidence_url", "evidence_date", "answered_by", "answered_at"),
        hide_index=True, height=min(600, 40 + 35 * answers.height),
        column_config={
            "question_id": "Question", "domain": "Domain", "text": st.column_config.TextColumn("Text", width="medium"),
            "answered_level": "Level", "score": st.column_config.NumberColumn("Score", format="%.0f"),
            "status": "Status", "explanation": st.column_config.TextColumn("Why", width="large"),
            "na_reason": "N/A reason", "evidence": st.column_config.TextColumn("Evidence", width="medium"),
            "evidence_url": st.column_config.LinkColumn("Link"),
            "evidence_date": st.column_config.DateColumn("Evidence date"),
            "answered_by": "By", "answered_at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm")})


def history(cid: str, uid: str, cycles: pl.DataFrame) -> None:
    with st.expander("Answer history (every saved change, newest first)"):
        changes = read(db, actor, workflow.answer_history, cid, uid)
        if changes.height == 0:
            st.caption("No answers saved in this cycle.")
        else:
            pick = w.select("Question", [None, *dict.fromkeys(changes["question_id"].to_list())],
                            key="unit_history_q", fmt=lambda x: "All questions" if x is None else x)
            h = changes if pick is None else changes.filter(pl.col("question_id") == pick)
            h = h.sort("event_id", descending=True)
            st.caption(f"{h.height} change(s)" + (" — showing the latest 300" if h.height > 300 else ""))
            st.dataframe(h.head(300).select("question_id", "level", "is_na", "na_reason", "evidence",
                                            "evidence_url", "evidence_date", "answered_by", "answered_at",
                                            "source"),
                         hide_index=True, column_config={"evidence_url": st.column_config.LinkColumn("Link")})
    with st.expander("All cycles of this unit"):
        st.dataframe(cycles.select("campaign_id", "campaign_status", "status", "score", "target", "gap", "band",
                                   "weakest_domain", "capped", "na", "submitted_by", "submitted_at", "approved_by"),
                     hide_index=True, column_config={"score": st.column_config.NumberColumn(format="%.2f"),
                                                     "gap": st.column_config.NumberColumn(format="%+.2f")})


# ---- page ---------------------------------------------------------------------------------------------------
w.header("Business unit",
         "One unit in depth: its scores by domain against the target its criticality tier sets, where the gaps "
         "are and how urgent they are, each answer with its evidence and history, and why each score is what "
         "it is.")
unit_id, campaign_id, cycle, all_cycles = choose()
unit = read(db, actor, catalog.unit, unit_id)
questionnaire = w.questionnaire_for(db, campaign_id)
identity(unit_id, unit, cycle, questionnaire)
domain_scores = read(db, actor, unit_detail.domains, campaign_id, unit_id)
question_scores = read(db, actor, unit_detail.questions, campaign_id, unit_id)
is_provisional = bool(question_scores.height and question_scores["provisional"].any())
kpis(cycle, questionnaire, question_scores, is_provisional)
notices(cycle, is_provisional)
records.capped_by_records(question_scores, "unit_capped_records")
domains(unit_id, domain_scores, questionnaire)
gaps_table(question_scores)
action_ui.gap_actions(db, actor, question_scores.filter(pl.col("priority") > 0).sort("priority", descending=True)
                      .with_columns(pl.lit(unit_id).alias("unit_id"), pl.lit(unit["name"]).alias("unit")),
                      campaign_id, key="unit_gap_action", question_texts=w.question_texts(questionnaire))
answers_table(question_scores)
history(campaign_id, unit_id, all_cycles)
records.unit_section(db, actor, unit_id)
