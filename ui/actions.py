"""Reusable pieces for improvement actions on any page: the one-click "create an action" button, a gap picker
with it, and the open and recently closed actions shown beside a question of the self-assessment form."""

from __future__ import annotations

import polars as pl
import streamlit as st

from assessment import access, actions
from assessment.actions import NewAction
from assessment.model import Actor
from assessment.reports import Filters
from assessment.storage import Database
from ui import widgets as w
from ui.cache import read
from ui.format import plain


@w.callback
def _create(db: Database, actor: Actor, new: NewAction) -> None:
    w.run_action(actions.create, db, actor, new,
                 success=lambda aid: f"Action **{aid}** created for {plain(new.owner)}, due {new.due_on}: "
                                     f"{plain(new.title)}. Follow it on the Improvement actions page.")


def new_action_button(db: Database, actor: Actor, new: NewAction, *, key: str, label: str = "Create an action",
                      existing: str | None = None) -> None:
    """One click creates `new` (pre-filled from its source); shows the open action instead when there is
    one (`existing`), and nothing when the user may not create actions for that unit."""
    if not access.allowed(actor, "create_actions", new.unit_id):
        return
    if existing:
        st.caption(f":material/task_alt: Action {plain(existing)} is already open for this.")
        return
    st.button(label, key=key, icon=":material/add_task:", on_click=_create, args=(db, actor, new),
              help=f"Creates an open action for {plain(new.owner)}, due {new.due_on}: {plain(new.title)}")


def open_by_question(db: Database, actor: Actor, unit_ids: tuple[str, ...]) -> dict[tuple[str, str], str]:
    """(unit, question) -> the first open action on it, for the given units."""
    df = read(db, actor, actions.list_actions, Filters(unit_ids=unit_ids), statuses=actions.OPEN_STATUSES)
    pairs = df.select("unit_id", "action_id", pl.col("question_ids").str.split(", ")).explode("question_ids")
    return {(u, q): a for u, a, q in pairs.iter_rows() if q}


def gap_actions(db: Database, actor: Actor, gaps: pl.DataFrame, campaign_id: str, *, key: str,
                question_texts: dict[str, str] | None = None) -> None:
    """Pick a gap (rows with unit_id, unit, question_id, level, target, priority) and create its action."""
    if gaps.height == 0 or not access.allowed(actor, "create_actions"):
        return
    texts = question_texts or {}
    rows = {i: r for i, r in enumerate(gaps.iter_rows(named=True))}
    labels = {i: f"{r['unit']} · {r['question_id']} {texts.get(r['question_id'], '')[:60]} · priority "
                 f"{r['priority']:.1f}" for i, r in rows.items()}
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    with c1:
        pick = w.select("Make an action from a gap", labels, key=f"{key}_pick")
    if pick is None:
        return
    row = rows[pick]
    existing = open_by_question(db, actor, tuple(gaps["unit_id"].unique().sort())).get(
        (row["unit_id"], row["question_id"]))
    owner = read(db, actor, actions.default_owner, row["unit_id"])
    with c2:
        new_action_button(db, actor, actions.from_gap(row, campaign_id, owner), key=f"{key}_create",
                          existing=existing)


def beside_question(db: Database, actor: Actor, unit_id: str, question_id: str) -> None:
    """The open and recently closed actions of a unit on one question (one cached read per unit)."""
    df = read(db, actor, actions.for_form, unit_id).filter(pl.col("question_id") == question_id)
    if df.height == 0:
        return
    lines = [f"{r['action_id']} · {actions.STATUSES[r['status']]} · {r['title']} · owner {r['owner']} · "
             + (f"closed {r['closed_on']}" if r["closed_on"] else f"due {r['due_on']}")
             for r in df.iter_rows(named=True)]
    st.caption(":material/task_alt: **Improvement actions on this question**  \n"
               + "  \n".join(plain(line) for line in lines))


def dashboard_section(db: Database, actor: Actor, filters: Filters) -> None:
    """Open and overdue actions by division, the median age of open actions, verified closures per cycle."""
    st.subheader("Improvement actions")
    st.caption("Actions raised from gaps, exercises, incidents, post-mortems, audits and reviews. Open means not "
               "yet closed by verification or risk acceptance (done actions await verification); overdue: open "
               "and past the due date. Verified closures count in the cycle during which they were verified.")
    totals, by_division, per_cycle = read(db, actor, actions.dashboard, filters)
    k1, k2, k3 = st.columns(3)
    k1.metric("Open actions", totals["open"], border=True)
    k2.metric("Overdue actions", totals["overdue"], border=True)
    age = totals["median_age_days"]
    k3.metric("Median age of open actions", "—" if age is None else f"{age:.0f} days", border=True)
    left, right = st.columns(2, gap="large")
    with left:
        st.dataframe(by_division.drop("division_id"), hide_index=True, key="dash_actions_by_division",
                     column_config={"division": "Division", "open": "Open", "overdue": "Overdue",
                                    "median_age_days": st.column_config.NumberColumn("Median age (days)",
                                                                                     format="%.0f")})
    with right:
        st.dataframe(per_cycle.select("campaign", "opens_on", "verified"), hide_index=True,
                     key="dash_actions_verified",
                     column_config={"campaign": "Cycle", "opens_on": st.column_config.DateColumn("Opened"),
                                    "verified": "Verified closures"})


DEADLINE_KINDS = {"action due": "Improvement actions", "risk acceptance": "Risk acceptances expiring"}


def with_deadlines(db: Database, actor: Actor, deadlines: pl.DataFrame, filters: Filters,
                   horizon_days: int | None = None) -> pl.DataFrame:
    """A reports.deadlines frame with the actions due and risk acceptances expiring (actions.due_for) added."""
    due = read(db, actor, actions.due_for, filters=filters, horizon_days=horizon_days)
    if due.height == 0:
        return deadlines
    if deadlines.height == 0:
        return due
    return pl.concat([deadlines, due.select(deadlines.columns)], how="vertical_relaxed").sort("days_left",
                                                                                           nulls_last=False)
