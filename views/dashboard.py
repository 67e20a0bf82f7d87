"""Leadership dashboard: where the organisation stands against its continuity targets, where the gaps are,
how scores moved across cycles and what changed since the previous cycle."""

from __future__ import annotations

import polars as pl
import streamlit as st

from assessment import campaigns, reports, unit_detail
from assessment.reports import Filters
from ui import figures
from ui import widgets as w
from ui.session import require_actor
from ui.state import get_db

db = get_db()
actor = require_actor(db)

w.header(
    "Leadership dashboard",
    "IT service continuity maturity of the organisation for one assessment cycle: scores on the 0-5 scale "
    "against the target each unit's criticality tier sets, the biggest gaps, trends across cycles and what "
    "changed since the previous cycle. Filters apply to every figure on this page.",
)

if w.read(db, actor, campaigns.list_campaigns).height == 0:
    st.info("No assessment cycle exists yet. A continuity manager creates the first one on the Campaigns page.",
            icon=":material/info:")
    st.stop()

with st.container(border=True):
    f1, f2 = st.columns([1, 2])
    with f1:
        camp = w.pick_campaign(db, actor, "dash_campaign", help="The assessment cycle whose scores are shown.")
    cid = camp["campaign_id"]
    q = w.questionnaire_for(db, cid)
    with f2:
        filters = w.scope_filters(db, actor, "dash", q)

domains = w.domain_names(q)
domain_label = dict(domains)
s = w.read(db, actor, reports.summary, cid, filters)
org_trend = w.read(db, actor, reports.trends, filters)

# ---- KPIs -------------------------------------------------------------------------------------------------
k1, k2, k3, k4 = st.columns(4)
k1.metric(
    "Organisation score", w.fmt(s["score"]),
    None if s["score"] is None else f"{-s['gap']:+.2f} vs target {s['target']:.2f}",
    help="Mean score of the scored units in the selection (0-5), against the mean of their tier targets. "
         "See 'Trends across cycles' below for the previous cycles.",
    border=True,
)
k2.metric(
    "Units at target", w.pct(s["units_at_target"], s["units_scored"]),
    f"{s['units_at_target']} of {s['units_scored']} scored units", delta_color="off", delta_arrow="off",
    help="Share of the units with a submitted assessment whose score meets their tier target.", border=True,
)
k3.metric(
    "Assessments submitted", f"{s['submitted']} / {s['expected']}",
    f"{w.pct(s['submitted'], s['expected'])} of the cycle" if s["expected"] else "no assessments",
    delta_color="off", delta_arrow="off", border=True,
    help="Assessments submitted or approved in this cycle, out of the units taking part.",
)
k4.metric(
    "Overdue plan reviews", s["overdue_reviews"], f"of {w.plural(s['units'], 'unit')}", delta_color="off",
    delta_arrow="off", border=True,
    help="Units whose continuity plan review is past due (last review + interval) or never happened.",
)

scored = s["units_scored"] > 0
if not scored:
    st.info(f"No assessment in this selection has been submitted for **{camp['name']}** yet. Scores, gaps and "
            "checklist coverage appear as soon as the first ones are in.", icon=":material/hourglass_top:")

# ---- Heatmap with drill-down (the score figures need at least one submitted assessment) ---------------------
if scored:
    st.subheader("Gap to target by division and domain")
    st.caption("Each cell is the average domain score of a division's scored units (the number) coloured by its gap "
               "to target: red is below target, green at or above. Worst divisions first. Click a row or pick a "
               "division below to see its units.")
    heat = w.read(db, actor, reports.heatmap, cid, filters, by="division")
    division_names = dict(heat.select("row_id", "row_label").unique().iter_rows()) if heat.height else {}
    event = st.plotly_chart(figures.gap_heatmap(heat, domains), key="dash_heat", on_select="rerun",
                            selection_mode="points", config={"displayModeBar": False})
    points = (event.get("selection", {}) or {}).get("points", []) if event else []
    if points:
        clicked = points[0].get("y")
        picked = next((d for d, label in division_names.items() if label == clicked), None)
        if picked and st.session_state.get("_dash_last_click") != (cid, picked):
            st.session_state["_dash_last_click"] = (cid, picked)
            st.session_state["dash_drill"] = picked
    drill_opts = [None, *sorted(division_names, key=lambda d: division_names[d])]
    if st.session_state.get("dash_drill") not in drill_opts:
        st.session_state.pop("dash_drill", None)
    drill = st.selectbox("Drill down to the units of a division", drill_opts, key="dash_drill",
                         format_func=lambda d: "— choose a division —" if d is None else division_names[d])
    if drill:
        drill_filters = Filters(division_ids=(drill,), tiers=filters.tiers, unit_ids=filters.unit_ids)
        unit_heat = w.read(db, actor, reports.heatmap, cid, drill_filters, by="unit", limit=40)
        st.plotly_chart(figures.gap_heatmap(unit_heat, domains, title=f"Units of {division_names[drill]}"),
                        key="dash_unit_heat", config={"displayModeBar": False})

    # ---- Top gaps and unit profile ------------------------------------------------------------------------------
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Top gaps by priority")
        st.caption("Priority = gap to target × question (or domain) weight × tier factor, so a small gap in a tier 1 "
                   "unit can outrank a larger one in a tier 3 unit. These are the first things to fix.")
        level = st.segmented_control("Rank", ["question", "domain"], default="question", key="dash_gap_level",
                                     format_func=str.capitalize, label_visibility="collapsed") or "question"
        gaps = w.read(db, actor, reports.top_gaps, cid, filters, limit=10, level=level)
        names = w.question_texts(q) if level == "question" else domain_label
        st.plotly_chart(figures.top_gaps_bar(gaps, names), key="dash_gaps", config={"displayModeBar": False})
        if gaps.height:
            with st.expander("Why these scores? (top gaps with explanations)"):
                table = gaps.with_columns(pl.col(level + "_id").replace_strict(names, default="").alias("text"))
                cols = ["unit", "tier", level + "_id", "text", "score", "target", "gap", "priority"]
                table = table.select(cols + (["explanation"] if "explanation" in gaps.columns else []))
                st.dataframe(table, hide_index=True, column_config={
                    "score": st.column_config.NumberColumn(format="%.2f"),
                    "target": st.column_config.NumberColumn(format="%.1f"),
                    "gap": st.column_config.NumberColumn(format="%.2f"),
                    "priority": st.column_config.NumberColumn(format="%.1f")})

    with right:
        st.subheader("Unit profile")
        st.caption("One unit's domain scores (blue) against its tier target (red dashed line).")
        units = w.read(db, actor, reports.units, cid, filters, order="gap").filter(pl.col("score").is_not_null())
        if units.height == 0:
            st.info("No scored unit in this selection.")
        else:
            labels = {r["unit_id"]: f"{r['unit']} (tier {r['tier']}, gap {r['gap']:+.2f})"
                      for r in units.iter_rows(named=True)}
            if st.session_state.get("dash_unit") not in labels:
                st.session_state.pop("dash_unit", None)
            uid = st.selectbox("Unit", list(labels), format_func=labels.get, key="dash_unit",
                               help="Units are listed worst gap first.")
            dom = w.read(db, actor, unit_detail.domains, cid, uid)
            row = units.filter(pl.col("unit_id") == uid).row(0, named=True)
            st.plotly_chart(figures.radar(dom, name=row["unit"]), key="dash_radar", config={"displayModeBar": False})
            weakest = row["weakest_domain"]
            st.markdown(
                f"**{row['unit']}** · {row['division']} · tier {row['tier']}  \n"
                f"Score **{w.fmt(row['score'])}** against target **{w.fmt(row['target'], 1)}** "
                f"(:{'green' if row['gap'] <= 0 else 'red'}[gap {row['gap']:+.2f}]) · band **{row['band'] or '—'}**  \n"
                f"Weakest domain: **{domain_label.get(weakest, weakest) or '—'}** ({w.fmt(row['weakest_score'])}) · "
                f"{row['capped']} answer(s) capped by the evidence rule")
            if st.button("Open the unit page", icon=":material/apartment:", key="dash_open_unit"):
                st.session_state["unit_pick"] = uid
                st.session_state["unit_campaign"] = cid
                st.switch_page("views/unit.py")

# ---- Trends and changes -------------------------------------------------------------------------------------
left, right = st.columns(2, gap="large")
with left:
    st.subheader("Trends across cycles")
    st.caption("Score per cycle (solid) against target (dotted) for the organisation and, if chosen, one division "
               "and one unit. The target moves when the mix of scored units changes.")
    t1, t2 = st.columns(2)
    all_units = w.read(db, actor, reports.units, cid, filters, order="name")
    div_opts = dict(all_units.select("division_id", "division").unique().sort("division").iter_rows())
    t_div = t1.selectbox("Division", [None, *div_opts], key="dash_trend_div",
                         format_func=lambda d: "— none —" if d is None else div_opts[d])
    unit_opts = {r["unit_id"]: r["unit"] for r in all_units.iter_rows(named=True)}
    t_unit = t2.selectbox("Unit", [None, *unit_opts], key="dash_trend_unit",
                          format_func=lambda u: "— none —" if u is None else unit_opts[u])
    frames = [org_trend]
    if t_div:
        frames.append(w.read(db, actor, reports.trends, Filters(division_ids=(t_div,), tiers=filters.tiers))
                      .with_columns(pl.lit(div_opts[t_div]).alias("series")))
    if t_unit:
        frames.append(w.read(db, actor, reports.trends, Filters(unit_ids=(t_unit,)), by="unit"))
    cols = ["campaign_id", "opens_on", "series", "score", "target"]
    trend = pl.concat([f.select(cols) for f in frames if f.height], how="vertical_relaxed") \
        if any(f.height for f in frames) else org_trend.select(cols)
    st.plotly_chart(figures.trend_lines(trend.sort("opens_on")), key="dash_trend", config={"displayModeBar": False})

with right:
    previous, changes = w.read(db, actor, reports.changes, cid, filters)
    st.subheader("Changes since the previous cycle")
    if previous is None or changes.height == 0:
        st.info("There is no previous cycle to compare with.")
    else:
        st.caption(f"Each question of each unit compared with **{previous}**: improved, regressed, unchanged, or "
                   "not re-assessed (the unit has no submitted assessment in this cycle yet).")
        totals = changes.select(pl.col("improved", "regressed", "unchanged", "not_reassessed").sum()).row(0)
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Improved", totals[0])
        c2.metric("Regressed", totals[1])
        c3.metric("Unchanged", totals[2])
        c4.metric("Not re-assessed", totals[3],
                  w.plural(changes.filter(pl.col('not_reassessed') > 0).height, "unit"), delta_color="off",
                  delta_arrow="off")
        st.plotly_chart(figures.changes_bar(changes.head(12)), key="dash_changes", config={"displayModeBar": False})
        with st.expander("Question-level changes"):
            kinds = st.multiselect("Show", ["regressed", "improved", "not re-assessed"],
                                   default=["regressed", "improved"], key="dash_change_kinds")
            detail = w.read(db, actor, reports.change_details, cid, previous, filters, limit=300)
            detail = detail.filter(pl.col("change").is_in(kinds))
            st.caption(f"{detail.height} rows (at most 300, regressions first).")
            st.dataframe(detail.drop("unit_id", "division"), hide_index=True, height=300)

# ---- Checklist coverage and progress -----------------------------------------------------------------------
if scored:
    st.subheader("Checklist coverage")
    st.caption("For each item of the ITSCM checklist, the share of scored units whose answers to the questions "
               "covering it meet their target (red below 40%, amber below 70%, green from 70%).")
    coverage = w.read(db, actor, reports.checklist_coverage, cid, filters)
    st.plotly_chart(figures.coverage_bar(coverage), key="dash_coverage", config={"displayModeBar": False})

st.subheader("Divisions at a glance")
st.caption("Each division's score against target, and where its assessments are in the workflow for this cycle.")
divisions = w.read(db, actor, reports.divisions, cid, filters)
if divisions.height:
    st.dataframe(
        divisions.select("division", "units", "units_scored", "score", "target", "gap", "units_at_target"),
        hide_index=True,
        column_config={
            "division": "Division", "units": "Units", "units_scored": "Scored",
            "score": st.column_config.ProgressColumn("Score", min_value=0, max_value=5, format="%.2f"),
            "target": st.column_config.NumberColumn("Target", format="%.2f"),
            "gap": st.column_config.NumberColumn("Gap", format="%+.2f"),
            "units_at_target": "At target"})
progress = w.read(db, actor, reports.assessment_progress, cid, filters)
st.plotly_chart(figures.progress_bar(progress), key="dash_progress", config={"displayModeBar": False})

with st.expander("All units in this selection"):
    st.dataframe(
        w.read(db, actor, reports.units, cid, filters, limit=200, order="gap").drop("unit_id", "division_id"),
        hide_index=True,
        column_config={"score": st.column_config.NumberColumn(format="%.2f"),
                       "gap": st.column_config.NumberColumn(format="%+.2f"),
                       "weakest_score": st.column_config.NumberColumn(format="%.2f")})
