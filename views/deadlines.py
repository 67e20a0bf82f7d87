"""Review deadlines: continuity plan reviews, self-assessments due in open cycles, evidence about to expire,
service objective reviews and exercises due under each recovery tier's test frequency, on a timeline and in
a table; overdue and due in 30/60/90 days, by division and unit."""

from __future__ import annotations

import polars as pl
import streamlit as st

from assessment import clock, reports
from ui import actions as action_ui
from ui import figures
from ui import widgets as w
from ui.cache import read
from ui.session import require_actor
from ui.state import get_db

db = get_db()
actor = require_actor(db)

KINDS = {"plan review": "Plan reviews", "assessment due": "Self-assessments due", "evidence expiry": "Evidence expiry",
         "service review": "Service objective reviews", "exercise due": "Exercises due"}
KINDS |= action_ui.DEADLINE_KINDS
HORIZONS = {90: "next 90 days", 180: "next 6 months", 365: "next 12 months", 0: "everything"}
TABLE_LIMIT = 500

w.header("Review deadlines",
         "What needs attention and when: continuity plans due for their periodic review, self-assessments still "
         "open in the current cycle, evidence that will stop counting (levels of 3 or more need evidence "
         "younger than the policy allows), services whose recovery objectives are due for review, and services "
         "due for an exercise under their recovery tier's test frequency. Overdue items come first.")

with st.container(border=True):
    f1, f2 = st.columns([1, 2])
    with f1:
        camp = w.pick_campaign(db, actor, "dl_campaign", label="Evidence of cycle",
                               help="Evidence expiry is computed from the current answers of this cycle, and "
                                    "exercises due from its questionnaire's test frequency per recovery tier.")
    with f2:
        filters = w.scope_filters(db, actor, "dl", w.questionnaire_for(db, camp["campaign_id"]) if camp else None)
    g1, g2 = st.columns([2, 1])
    kinds = g1.multiselect("Kind", list(KINDS), default=list(KINDS), format_func=KINDS.get, key="dl_kinds")
    with g2:
        horizon = w.select("Show items due in the", HORIZONS, key="dl_horizon")

today = clock.today()
cid = camp["campaign_id"] if camp else None
everything = action_ui.with_deadlines(db, actor, read(db, actor, reports.deadlines, cid, filters), filters)
df = everything.filter(pl.col("kind").is_in(kinds))
counts = reports.bucket_counts(df)
m = st.columns(5)
m[0].metric("Overdue", counts[reports.OVERDUE], help="Past their due date.", border=True)
since = 0
for col, (days, bucket) in zip(m[1:4], reports.DUE_WITHIN):
    col.metric(f"Due in {days} days" if since == 0 else f"Due in {since + 1}-{days} days", counts[bucket], border=True)
    since = days
m[4].metric("Never reviewed or exercised", counts[reports.NEVER_REVIEWED], border=True,
            help="Units with no recorded continuity plan review, and services never exercised with a test type "
                 "their recovery tier counts: treat as overdue.")

if df.height == 0:
    st.info("No deadlines in this selection.", icon=":material/event_available:")
    st.stop()

shown = action_ui.with_deadlines(db, actor, read(db, actor, reports.deadlines, cid, filters,
                                                 horizon_days=horizon or None), filters, horizon or None).filter(
    pl.col("kind").is_in(kinds))

st.subheader("Timeline")
st.caption(f"Each marker is one deadline ({', '.join(KINDS[k].lower() for k in kinds)}), coloured by urgency; the "
           "dashed line is today and the shaded area the past. Units with the most urgent items are at the top; "
           "at most 150 items are drawn.")
st.plotly_chart(figures.deadlines_timeline(shown, today), key="dl_timeline", config={"displayModeBar": False})

left, right = st.columns(2, gap="large")
with left:
    st.subheader("By division")
    st.plotly_chart(figures.bucket_bar(reports.buckets_by(shown, "division"), "division"), key="dl_by_division",
                    config={"displayModeBar": False})
with right:
    st.subheader("Units with the most urgent items")
    st.dataframe(reports.most_urgent_units(shown, limit=15), hide_index=True, column_config={
        "unit": "Unit",
        "most urgent": st.column_config.NumberColumn("Days left (min)", help="Negative: overdue by that many days")})

st.subheader("All deadlines")
t1, t2 = st.columns([2, 1])
buckets = [b for b in reports.BUCKETS if b in set(shown["bucket"].to_list())]
pick = t1.multiselect("Urgency", buckets, default=[b for b in buckets if b != reports.LATER], key="dl_buckets")
search = t2.text_input("Find a unit or item", key="dl_search", placeholder="e.g. Payments or GOV-01")
table = shown.filter(pl.col("bucket").is_in(pick))
if search.strip():
    s = search.strip().lower()
    table = table.filter(pl.col("unit").str.to_lowercase().str.contains(s, literal=True)
                         | pl.col("item").str.to_lowercase().str.contains(s, literal=True)
                         | pl.col("unit_id").str.to_lowercase().str.contains(s, literal=True))
st.caption(f"{table.height} item(s)" + (f"; showing the {TABLE_LIMIT} most urgent" if table.height > TABLE_LIMIT
                                         else "") + ".")
st.dataframe(
    table.head(TABLE_LIMIT).select("bucket", "days_left", "due_on", "kind", "unit", "division", "tier", "item",
                                   "owner", "since"),
    hide_index=True,
    column_config={"bucket": "Urgency", "days_left": st.column_config.NumberColumn("Days left"),
                   "due_on": st.column_config.DateColumn("Due"), "kind": "Kind", "unit": "Unit",
                   "division": "Division", "tier": "Tier", "item": st.column_config.TextColumn("Item", width="large"),
                   "owner": "Owner", "since": st.column_config.DateColumn("Since")})
