"""Continuity records on the pages: durations as text, the recovery view (dashboard and unit page), and the
unit's records beside the questions that have record rules on the self-assessment form."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from assessment import durations, recovery
from assessment.errors import ValidationError
from assessment.model import CAPPED_RECORDS, DEPENDENCY_KINDS, EXERCISE_TYPES, Actor, Dependency
from assessment.reports import Filters
from assessment.storage import Database
from ui import widgets as w
from ui.cache import read
from ui.format import plain

DURATION_COLS = ("mtpd_minutes", "rto_minutes", "rpo_minutes", "demonstrated_minutes", "gap_minutes",
                 "achieved_recovery_minutes", "achieved_data_loss_minutes", "outage_minutes", "data_loss_minutes",
                 "over_by_minutes", "service_rto", "target_rto", "depends_on_rto")
CHECK_TEXT = {"exercise_passed": "Exercise results", "objectives_approved": "Recovery objectives",
              "postmortem_done": "Post-mortems of incidents over RTO"}


def as_text(df: pl.DataFrame) -> pl.DataFrame:
    """Minutes columns printed as durations ("4 h"), renamed without the _minutes suffix; a negative gap
    (faster than the RTO) keeps its sign."""
    out = []
    for c in df.columns:
        if c not in DURATION_COLS:
            continue
        col = pl.col(c)
        text = durations.expr(col.abs())
        if c == "gap_minutes":
            text = pl.when(col < 0).then(pl.concat_str(pl.lit("-"), text)).when(col > 0).then(
                pl.concat_str(pl.lit("+"), text)).otherwise(text)
        out.append(text.alias(c.removesuffix("_minutes")))
    return df.with_columns(out).drop([c for c in df.columns if c in DURATION_COLS and c.endswith("_minutes")])


def duration_input(label: str, key: str, **kwargs) -> None:
    st.text_input(label, key=key, placeholder="e.g. 30m, 4h, 1d, 1h30m", **kwargs)


def read_durations(fields: dict[str, str]) -> tuple[dict[str, int | None], list[str]]:
    """Minutes for each labelled duration text, and every problem at once (durations.parse names the field)."""
    values, problems = {}, []
    for field, text in fields.items():
        try:
            values[field] = durations.parse(text, field)
        except ValidationError as exc:
            values[field] = None
            problems += exc.problems
    return values, problems


def dependencies_text(deps: list[dict]) -> str:
    """The dependency editor's text: one 'kind target | note | accepted inversion' per line."""
    lines = []
    for d in deps:
        parts = [f"{d['kind']} {d['target_id']}", d.get("note") or "", d.get("accepted_inversion") or ""]
        while len(parts) > 1 and not parts[-1]:
            parts.pop()
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def parse_dependencies(text: str) -> tuple[tuple[Dependency, ...], list[str]]:
    """Dependencies from the editor's lines, and a problem for every line that cannot be read."""
    deps, problems = [], []
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        head = parts[0].split()
        if len(head) != 2 or head[0].lower() not in DEPENDENCY_KINDS or len(parts) > 3:
            problems.append(f"dependencies line {n}: expected 'kind id | note | accepted inversion' with kind one "
                            f"of {', '.join(DEPENDENCY_KINDS)}, got {line.strip()!r}")
            continue
        deps.append(Dependency(head[0].lower(), head[1], *(parts[1:] + ["", ""])[:2]))
    return tuple(deps), problems


# ---- the recovery view ------------------------------------------------------------------------------------

DEMONSTRATED_COLUMNS: dict[str, Any] = {
    "service_id": "Service", "service": "Name", "unit": "Unit", "recovery_tier": "Recovery tier",
    "rto": "RTO", "demonstrated": "Proven recovery", "demonstrated_on": st.column_config.DateColumn("Proven on"),
    "proof_age_days": st.column_config.NumberColumn("Age of proof (days)"), "gap": "Gap",
    "exercise_type": "Exercise", "status": "Status"}


def demonstrated_table(df: pl.DataFrame, key: str) -> None:
    if df.height == 0:
        st.info("No services in the register for this selection.", icon=":material/info:")
        return
    name = "service" if "service" in df.columns else "name"
    table = as_text(df).rename({name: "service"} if name != "service" else {})
    table = table.with_columns(pl.col("exercise_type").replace_strict(EXERCISE_TYPES, default=pl.col("exercise_type")))
    st.dataframe(table.select([c for c in DEMONSTRATED_COLUMNS if c in table.columns]), hide_index=True,
                 column_config=DEMONSTRATED_COLUMNS, key=key)


def findings(db: Database, actor: Actor, filters: Filters | None, key: str) -> None:
    """Untested top-tier services, RTO inversions and incidents over RTO for a selection."""
    untested = read(db, actor, recovery.untested_top_tier, filters)
    inv = read(db, actor, recovery.inversions, filters)
    over = read(db, actor, recovery.incidents_over_rto, filters)
    c1, c2, c3 = st.columns(3)
    c1.metric("Untested top-tier services", untested.height, help="Tier 1 services without a passing exercise "
              "result in the last 12 months.", border=True)
    c2.metric("RTO inversions", inv.filter(pl.col("accepted_inversion").is_null()).height,
              f"{inv.filter(pl.col('accepted_inversion').is_not_null()).height} accepted", delta_color="off",
              delta_arrow="off", border=True, help="A service depending on one with a longer RTO.")
    c3.metric("Incidents over RTO", over.height, f"{over.filter(pl.col('postmortem_status') != 'done').height} "
              "without post-mortem", delta_color="off", delta_arrow="off", border=True,
              help="Outages longer than the service's RTO in the last 12 months.")
    if untested.height:
        st.caption("Untested top-tier services")
        st.dataframe(as_text(untested).select("service_id", "service", "unit", "rto", "last_passed_on",
                                              "last_tested_on"), hide_index=True, key=f"{key}_untested")
    if inv.height:
        st.caption("RTO inversions (the chain, and the reason where it was formally accepted)")
        st.dataframe(as_text(inv).select("service_id", "chain", "accepted_inversion", "unit"), hide_index=True,
                     key=f"{key}_inversions")
    if over.height:
        st.caption("Incidents over RTO")
        st.dataframe(as_text(over).select("incident_id", "title", "started_at", "service_id", "unit", "outage", "rto",
                                          "over_by", "postmortem_due", "postmortem_status"), hide_index=True,
                     key=f"{key}_over_rto")


def dashboard_section(db: Database, actor: Actor, filters: Filters) -> None:
    """Demonstrated against required recovery by division, drill-down to one division's worst services."""
    st.subheader("Demonstrated vs required recovery")
    st.caption("Per division: how many services have a recovery time proven in an exercise within their RTO. "
               "Pick a division to see its services, worst first.")
    per = read(db, actor, recovery.by_division, filters)
    if per.height == 0:
        st.info("No services in the register for this selection.", icon=":material/info:")
        return
    st.dataframe(per.drop("division_id"), hide_index=True, key="dash_recovery_divisions", column_config={
        "division": "Division", "services": "Services", "top_tier_services": "Tier 1",
        "untested_top_tier": "Tier 1 untested", "slower_than_rto": "Slower than RTO", "never_tested": "Never tested",
        "without_rto": "No RTO", "incidents_over_rto": "Incidents over RTO",
        "postmortems_overdue": "Post-mortems overdue", "inversions": "RTO inversions"})
    divisions = dict(per.select("division_id", "division").iter_rows())
    c1, c2 = st.columns([2, 1])
    with c1:
        div = w.select("Drill down to division", divisions, key="dash_recovery_division")
    top = c2.number_input("Show the worst", min_value=5, max_value=200, value=10, step=5, key="dash_recovery_top")
    drill = Filters(division_ids=(div,) if div is not None else (), tiers=filters.tiers)
    demonstrated_table(read(db, actor, recovery.demonstrated, drill, limit=int(top)), "dash_recovery_services")
    with st.expander("Untested top-tier services, RTO inversions and incidents over RTO in this division"):
        findings(db, actor, drill, "dash_recovery")


SHOWN_CAPS = 20


def capped_by_records(scores: pl.DataFrame, key: str) -> None:
    """The answers a record rule capped, each with the facts its explanation names (as text, so it can be
    read and searched): question scores of one unit (those with status capped_records) or
    recovery.capped_answers."""
    capped = scores.filter(pl.col("status") == CAPPED_RECORDS) if "status" in scores.columns else scores
    if capped.height == 0:
        return
    which = sorted(set(capped["question_id"].to_list()))
    with st.container(border=True, key=key):
        st.warning(f"**{capped.height} answer(s) capped by the continuity records** ({plain(', '.join(which))}): "
                   "the records do not bear out the level chosen.", icon=":material/fact_check:")
        lines = []
        for row in capped.head(SHOWN_CAPS).iter_rows(named=True):
            where = f"{plain(row['unit'])} · " if "unit" in row else ""
            level = row["answered_level"] if "answered_level" in row else row["level"]
            lines.append(f"- **{where}{plain(row['question_id'])}** (answered {level}): {plain(row['explanation'])}")
        st.markdown("\n".join(lines))
        if capped.height > SHOWN_CAPS:
            st.caption(f"{capped.height - SHOWN_CAPS} more not shown, lowest priority last.")


def unit_section(db: Database, actor: Actor, unit_id: str) -> None:
    """The unit page's recovery view: per service RTO, last proven recovery, age of proof and gap."""
    st.subheader("Demonstrated vs required recovery")
    st.caption("Each service's RTO against the recovery time last proven in an exercise, how old that proof is, "
               "and the gap (positive: slower than the RTO).")
    only = Filters(unit_ids=(unit_id,))
    demonstrated_table(read(db, actor, recovery.demonstrated, only), "unit_recovery")
    findings(db, actor, only, "unit_recovery")


# ---- beside the questions of the self-assessment form ----------------------------------------------------------

def record_checks(db: Database, actor: Actor, campaign_id: str, unit_id: str) -> dict[str, pl.DataFrame]:
    """question_id -> how the unit's records stand against that question's record rules (empty: no rules)."""
    checks = read(db, actor, recovery.record_checks, campaign_id, unit_id)
    return {qid: checks.filter(pl.col("question_id") == qid) for qid in checks["question_id"].unique().to_list()}


def beside_question(db: Database, actor: Actor, campaign_id: str, unit_id: str, question_id: str) -> None:
    """What the records say about a question with record rules, before the head chooses a level (nothing for
    the other questions). One cached read serves the whole form."""
    rows = record_checks(db, actor, campaign_id, unit_id).get(question_id)
    if rows is None or rows.height == 0:
        return
    with st.expander("What the continuity records show", icon=":material/fact_check:"):
        for r in rows.iter_rows(named=True):
            head = f"**{plain(CHECK_TEXT.get(r['check'], r['check']))}**: {plain(r['requirement'])}."
            if not r["applies"]:
                st.markdown(f":gray[:material/remove_circle_outline:] {head}  \n{plain(r['note'])}.")
            elif r["holds"]:
                st.markdown(f":green[:material/check_circle:] {head}  \n{plain(r['note'])}.")
            else:
                st.markdown(f":orange[:material/warning:] {head}  \nA level of {r['min_level']} or more counts as "
                            f"{r['cap_level']}: {plain(r['why'])}.")
