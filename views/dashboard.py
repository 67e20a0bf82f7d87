"""Leadership dashboard: where the organisation stands against its continuity targets, where the gaps are,
how scores moved across cycles and what changed since the previous cycle."""

from __future__ import annotations

import polars as pl
import streamlit as st

from assessment import access, campaigns, recovery, reports, review_pdf, unit_detail
from assessment.model import Questionnaire
from assessment.reports import Filters
from ui import actions as action_ui
from ui import figures, records
from ui import widgets as w
from ui.cache import read
from ui.format import fmt, pct, plain, plural
from ui.session import require_actor
from ui.state import get_db

db = get_db()
actor = require_actor(db)
CHART = {"displayModeBar": False}
# A large organisation has a hundred divisions and thousands of units: the figures show the worst of them
# and the pickers drill down, so the page costs the same to draw at any size.
HEAT_DIVISIONS = 20   # heatmap rows: the divisions furthest below target
PROGRESS_DIVISIONS = 15  # workflow bars: the divisions with the most assessments still to come in
UNIT_PICK = 300       # unit pickers list at most this many units (worst first); a division narrows them


def kpis(s: dict) -> None:
    k1, k2, k3, k4 = st.columns(4)
    k1.metric(
        "Organisation score", fmt(s["score"]),
        None if s["score"] is None else f"{-s['gap']:+.2f} vs target {s['target']:.2f}",
        help="Mean score of the scored units in the selection (0-5), against the mean of their tier targets. "
             "See 'Trends across cycles' below for the previous cycles.",
        border=True,
    )
    k2.metric(
        "Units at target", pct(s["units_at_target"], s["units_scored"]),
        f"{s['units_at_target']} of {s['units_scored']} scored units", delta_color="off", delta_arrow="off",
        help="Share of the units with a submitted assessment whose score meets their tier target.", border=True,
    )
    k3.metric(
        "Assessments submitted", f"{s['submitted']} / {s['expected']}",
        f"{pct(s['submitted'], s['expected'])} of the cycle" if s["expected"] else "no assessments",
        delta_color="off", delta_arrow="off", border=True,
        help="Assessments submitted or approved in this cycle, out of the units taking part.",
    )
    k4.metric(
        "Overdue plan reviews", s["overdue_reviews"], f"of {plural(s['units'], 'unit')}", delta_color="off",
        delta_arrow="off", border=True,
        help="Units whose continuity plan review is past due (last review + interval) or never happened.",
    )


def division_names(cid: str, filters: Filters, scored: bool = False) -> dict[str, str]:
    """The divisions of the selection in this cycle (with scored units only, if `scored`), by name."""
    divisions = read(db, actor, reports.divisions, cid, filters)
    if scored:
        divisions = divisions.filter(pl.col("units_scored") > 0)
    return dict(divisions.select("division_id", "division").iter_rows())


def heatmap_section(cid: str, filters: Filters, domains: list[tuple[str, str]]) -> None:
    """Division x domain heatmap; a click (or the picker) drills down to the units of one division."""
    st.subheader("Gap to target by division and domain")
    heat = read(db, actor, reports.heatmap, cid, filters, by="division", limit=HEAT_DIVISIONS)
    names = division_names(cid, filters, scored=True)
    shown = heat["row_id"].n_unique() if heat.height else 0
    scope = (f"The {shown} divisions furthest below target, of {len(names)}, worst first" if len(names) > shown
             else "Worst divisions first")
    st.caption("Each cell is the average domain score of a division's scored units (the number) coloured by its gap "
               f"to target: red is below target, green at or above. {scope}. Click a row or pick a division below "
               "to see its units.")
    division_names_shown = dict(heat.select("row_id", "row_label").unique().iter_rows()) if heat.height else {}
    event = st.plotly_chart(figures.gap_heatmap(heat, domains), key="dash_heat", on_select="rerun",
                            selection_mode="points", config=CHART)
    points = (event.get("selection", {}) or {}).get("points", []) if event else []
    if points:
        # The figure shows escaped labels; map the clicked label back through the same escaping.
        clicked = points[0].get("y")
        picked = next((d for d, label in division_names_shown.items() if figures.label(label) == clicked), None)
        if picked and st.session_state.get("_dash_last_click") != (cid, picked):
            st.session_state["_dash_last_click"] = (cid, picked)
            st.session_state["dash_drill"] = picked
    drill = w.select("Drill down to the units of a division",
                     [None, *sorted(names, key=lambda d: names[d])], key="dash_drill",
                     fmt=lambda d: "— choose a division —" if d is None else names[d])
    if drill:
        drill_filters = Filters(division_ids=(drill,), tiers=filters.tiers, unit_ids=filters.unit_ids)
        unit_heat = read(db, actor, reports.heatmap, cid, drill_filters, by="unit", limit=40)
        st.plotly_chart(figures.gap_heatmap(unit_heat, domains, title=f"Units of {names[drill]}"),
                        key="dash_unit_heat", config=CHART)


def top_gaps_section(cid: str, filters: Filters, q: Questionnaire, domain_label: dict[str, str]) -> None:
    st.subheader("Top gaps by priority")
    st.caption("Priority = gap to target × question (or domain) weight × tier factor, so a small gap in a tier 1 "
               "unit can outrank a larger one in a tier 3 unit. These are the first things to fix.")
    level = st.segmented_control("Rank", ["question", "domain"], default="question", key="dash_gap_level",
                                 format_func=str.capitalize, label_visibility="collapsed") or "question"
    gaps = read(db, actor, reports.top_gaps, cid, filters, limit=10, level=level)
    names = w.question_texts(q) if level == "question" else domain_label
    st.plotly_chart(figures.top_gaps_bar(gaps, names), key="dash_gaps", config=CHART)
    if level == "question":
        action_ui.gap_actions(db, actor, gaps, cid, key="dash_gap_action", question_texts=names)
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


def unit_profile_section(cid: str, filters: Filters, domain_label: dict[str, str]) -> None:
    st.subheader("Unit profile")
    st.caption("One unit's domain scores (blue) against its tier target (red dashed line).")
    units = read(db, actor, reports.units, cid, filters, order="gap", limit=UNIT_PICK) \
        .filter(pl.col("score").is_not_null())
    if units.height == 0:
        st.info("No scored unit in this selection.")
        return
    labels = {r["unit_id"]: f"{r['unit']} (tier {r['tier']}, gap {r['gap']:+.2f})"
              for r in units.iter_rows(named=True)}
    more = f" Only the {UNIT_PICK} furthest below target are listed: filter by division for the others." \
        if units.height == UNIT_PICK else ""
    uid = w.select("Unit", labels, key="dash_unit", help="Units are listed worst gap first." + more)
    dom = read(db, actor, unit_detail.domains, cid, uid)
    row = units.filter(pl.col("unit_id") == uid).row(0, named=True)
    st.plotly_chart(figures.radar(dom, name=row["unit"]), key="dash_radar", config=CHART)
    weakest = row["weakest_domain"]
    st.markdown(
        f"**{plain(row['unit'])}** · {plain(row['division'])} · tier {row['tier']}  \n"
        f"Score **{fmt(row['score'])}** against target **{fmt(row['target'], 1)}** "
        f"(:{'green' if row['gap'] <= 0 else 'red'}[gap {row['gap']:+.2f}]) · band **{plain(row['band'] or '—')}**  \n"
        f"Weakest domain: **{plain(domain_label.get(weakest, weakest) or '—')}** ({fmt(row['weakest_score'])}) · "
        f"{row['capped']} answer(s) capped by the evidence rule")
    if st.button("Open the unit page", icon=":material/apartment:", key="dash_open_unit"):
        st.session_state["unit_pick"] = uid
        st.session_state["unit_campaign"] = cid
        st.switch_page("views/unit.py")


def trends_section(cid: str, filters: Filters) -> None:
    st.subheader("Trends across cycles")
    st.caption("Score per cycle (solid) against target (dotted) for the organisation and, if chosen, one division "
               "and one unit. The target moves when the mix of scored units changes.")
    t1, t2 = st.columns(2)
    div_opts = dict(sorted(division_names(cid, filters).items(), key=lambda kv: kv[1]))
    with t1:
        t_div = w.select("Division", [None, *div_opts], key="dash_trend_div",
                         fmt=lambda d: "— none —" if d is None else div_opts[d])
    unit_filters = Filters(division_ids=(t_div,), tiers=filters.tiers, unit_ids=filters.unit_ids) if t_div \
        else filters
    pickable = read(db, actor, reports.units, cid, unit_filters, order="name", limit=UNIT_PICK + 1)
    unit_opts = {r["unit_id"]: r["unit"] for r in pickable.head(UNIT_PICK).iter_rows(named=True)}
    with t2:
        t_unit = w.select("Unit", [None, *unit_opts], key="dash_trend_unit",
                          fmt=lambda u: "— none —" if u is None else unit_opts[u],
                          help=(f"More than {UNIT_PICK} units: the first {UNIT_PICK} by division and name are "
                                "listed; choose a division to list its units.") if pickable.height > UNIT_PICK
                          else "The units of the chosen division, or of the whole selection.")
    org_trend = read(db, actor, reports.trends, filters)
    frames = [org_trend]
    if t_div:
        frames.append(read(db, actor, reports.trends, Filters(division_ids=(t_div,), tiers=filters.tiers))
                      .with_columns(pl.lit(div_opts[t_div]).alias("series")))
    if t_unit:
        frames.append(read(db, actor, reports.trends, Filters(unit_ids=(t_unit,)), by="unit"))
    cols = ["campaign_id", "opens_on", "series", "score", "target"]
    trend = pl.concat([f.select(cols) for f in frames if f.height], how="vertical_relaxed") \
        if any(f.height for f in frames) else org_trend.select(cols)
    st.plotly_chart(figures.trend_lines(trend.sort("opens_on")), key="dash_trend", config=CHART)


def changes_section(cid: str, filters: Filters) -> None:
    previous, changes = read(db, actor, reports.changes, cid, filters)
    st.subheader("Changes since the previous cycle")
    if previous is None or changes.height == 0:
        st.info("There is no previous cycle to compare with.")
        return
    st.caption(f"Each question of each unit compared with **{plain(previous)}** (matched by question id): improved, "
               "regressed, unchanged, confirmed unchanged (an answer carried over and confirmed by the head), or not "
               "re-assessed (the unit has no submitted assessment in this cycle yet). Questions a version added or "
               "removed are counted apart, never as regressions.")
    totals = changes.select(pl.col("improved", "regressed", "unchanged", "confirmed_unchanged", "not_reassessed",
                                   "new", "removed").sum()).row(0)
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Improved", totals[0])
    c2.metric("Regressed", totals[1])
    c3.metric("Unchanged", totals[2])
    c4.metric("Confirmed unchanged", totals[3])
    c5.metric("Not re-assessed", totals[4], plural(changes.filter(pl.col("not_reassessed") > 0).height, "unit"),
              delta_color="off", delta_arrow="off")
    if totals[5] or totals[6]:
        st.caption(f"Across the questionnaire versions: {totals[5]} answer(s) to new questions, {totals[6]} to "
                   "removed questions.")
    st.plotly_chart(figures.changes_bar(changes.head(12)), key="dash_changes", config=CHART)
    with st.expander("Question-level changes"):
        kinds = st.multiselect("Show", ["regressed", "improved", "not re-assessed", "confirmed unchanged", "new",
                                        "removed"],
                               default=["regressed", "improved"], key="dash_change_kinds")
        detail = read(db, actor, reports.change_details, cid, previous, filters, limit=300)
        detail = detail.filter(pl.col("change").is_in(kinds))
        st.caption(f"{detail.height} rows (at most 300, regressions first).")
        st.dataframe(detail.drop("unit_id", "division"), hide_index=True, height=300)


def coverage_section(cid: str, filters: Filters) -> None:
    st.subheader("Checklist coverage")
    st.caption("For each item of the ITSCM checklist, the share of scored units whose answers to the questions "
               "covering it meet their target (red below 40%, amber below 70%, green from 70%).")
    coverage = read(db, actor, reports.checklist_coverage, cid, filters)
    st.plotly_chart(figures.coverage_bar(coverage), key="dash_coverage", config=CHART)


def divisions_section(cid: str, filters: Filters) -> None:
    st.subheader("Divisions at a glance")
    st.caption("Each division's score against target, and where its assessments are in the workflow for this cycle.")
    divisions = read(db, actor, reports.divisions, cid, filters)
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
    taking_part = read(db, actor, reports.assessment_progress, cid, filters).height
    progress = read(db, actor, reports.assessment_progress, cid, filters, limit=PROGRESS_DIVISIONS)
    if taking_part > progress.height:
        st.caption(f"Workflow of the {progress.height} divisions with the most assessments still to come in, "
                   f"of {taking_part}.")
    st.plotly_chart(figures.progress_bar(progress), key="dash_progress", config=CHART)
    with st.expander("All units in this selection"):
        st.dataframe(
            read(db, actor, reports.units, cid, filters, limit=200, order="gap").drop("unit_id", "division_id"),
            hide_index=True,
            column_config={"score": st.column_config.NumberColumn(format="%.2f"),
                           "gap": st.column_config.NumberColumn(format="%+.2f"),
                           "weakest_score": st.column_config.NumberColumn(format="%.2f")})


def review_pack_section(cid: str, filters: Filters) -> None:
    """The management-review pack of this cycle and selection as a PDF (prepared on request: it takes a moment)."""
    if not access.allowed(actor, "review_pack"):
        return
    wanted = (cid, filters)
    if st.session_state.get("dash_review_pack", (None,))[0] != wanted:
        st.session_state.pop("dash_review_pack", None)
    left, right = st.columns(2)
    with left:
        if st.button("Prepare the management-review pack", key="dash_review_build",
                     icon=":material/picture_as_pdf:",
                     help="Headline figures, maturity by division with trends, top gaps, recovery, exercises, "
                          "incidents, missed deadlines and the decisions required: the ISO 22301 9.3.2 inputs."):
            with st.spinner("Writing the PDF..."):
                done = w.run_action(review_pdf.management_review_bytes, db, actor, cid, filters, writes=False)
            if done.ok:
                st.session_state["dash_review_pack"] = (wanted, *done.value)
            w.show_flash()
    if "dash_review_pack" in st.session_state:
        _, data, name = st.session_state["dash_review_pack"]
        with right:
            st.download_button(f"Download {name}", data, file_name=name, mime="application/pdf",
                               key="dash_review_download", icon=":material/download:")


# ---- page ---------------------------------------------------------------------------------------------------
w.header(
    "Leadership dashboard",
    "IT service continuity maturity of the organisation for one assessment cycle: scores on the 0-5 scale "
    "against the target each unit's criticality tier sets, the biggest gaps, trends across cycles and what "
    "changed since the previous cycle. Filters apply to every figure on this page.",
)
if read(db, actor, campaigns.list_campaigns).height == 0:
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
summary = read(db, actor, reports.summary, cid, filters)
kpis(summary)
review_pack_section(cid, filters)
scored = summary["units_scored"] > 0
if not scored:
    st.info(f"No assessment in this selection has been submitted for **{plain(camp['name'])}** yet. Scores, gaps "
            "and checklist coverage appear as soon as the first ones are in.", icon=":material/hourglass_top:")
else:  # the score figures need at least one submitted assessment
    heatmap_section(cid, filters, domains)
    left, right = st.columns(2, gap="large")
    with left:
        top_gaps_section(cid, filters, q, domain_label)
    with right:
        unit_profile_section(cid, filters, domain_label)
    records.capped_by_records(read(db, actor, recovery.capped_answers, cid, filters), "dash_capped_records")
left, right = st.columns(2, gap="large")
with left:
    trends_section(cid, filters)
with right:
    changes_section(cid, filters)
if scored:
    coverage_section(cid, filters)
records.dashboard_section(db, actor, filters)
divisions_section(cid, filters)
action_ui.dashboard_section(db, actor, filters)
