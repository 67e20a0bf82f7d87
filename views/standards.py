"""Standards: where the scored units stand on each clause the questionnaire cites (DORA Art. 11 and 12, ISO
22301 clause 8, ...), with readiness per standard and per article or clause group, and honest coverage."""

from __future__ import annotations

import polars as pl
import streamlit as st

from assessment import standards_view
from ui import widgets as w
from ui.cache import read
from ui.format import fmt, plain, plural
from ui.session import require_actor
from ui.state import get_db

db = get_db()
actor = require_actor(db)
DEFAULT_STANDARD = "DORA"  # a regulated firm's first question
ALL = ""

w.header("Standards",
         "Where the units stand on each clause of a standard that the questionnaire cites. A unit's score on a "
         "clause is the weighted mean of its scores (after the evidence and record rules) on the questions citing "
         "it; units without a submitted assessment are not scored.")

with st.container(border=True):
    c1, c2 = st.columns([1, 1])
    with c1:
        camp = w.pick_campaign(db, actor, "std_campaign")
    if camp is None:
        st.info("No campaigns yet.", icon=":material/info:")
        st.stop()
    cid = camp["campaign_id"]
    q = w.questionnaire_for(db, cid)
    cat = standards_view.catalogue(q)
    options = {ALL: "All standards", **{k: f"{k} · {v['title']}" for k, v in cat.items()}}
    with c2:
        picked = w.select("Standard", options, key="std_standard",
                          index=list(options).index(DEFAULT_STANDARD) if DEFAULT_STANDARD in options else 0)
    filters = w.scope_filters(db, actor, "std", q)

v = read(db, actor, standards_view.view, cid, filters, picked or None)
level = v.compliance_level
st.caption(f"Compliant means at or above level {level} on the questions citing a clause (the compliance level set in "
           f"the policy of {plain(v.questionnaire)}). The clause catalogue is this product's own list of the clauses "
           "relevant to IT service continuity, not the whole standard: coverage below is a share of that list.")

SHARE = st.column_config.ProgressColumn(f"At or above {level}", format="%.0f%%", min_value=0, max_value=100,
                                        help=f"Share of the scored units whose score on these questions is at least "
                                             f"level {level}.")
# The share first: it is what a reader looks for, and it stays in view on a narrow screen.
SCORES = {"share": SHARE, "units_scored": st.column_config.NumberColumn("Units scored"),
          "below": st.column_config.NumberColumn(f"Units below {level}"),
          "lowest": st.column_config.NumberColumn("Lowest", format="%.2f"),
          "median": st.column_config.NumberColumn("Median", format="%.2f"),
          "highest": st.column_config.NumberColumn("Highest", format="%.2f")}


def height(rows: int, most: int = 20) -> int:
    """Tall enough to show up to `most` rows without an inner scroll bar."""
    return 38 + 35 * max(1, min(rows, most))

st.subheader("Readiness")
if picked:
    row = v.standards.row(0, named=True)
    m = st.columns(4)
    m[0].metric(f"Units at or above {level}", "—" if row["share"] is None else f"{row['share']:.0f}%",
                f"{row['at_or_above']} of {plural(row['units_scored'], 'scored unit')}", delta_color="off",
                delta_arrow="off", border=True,
                help=f"On every question citing a clause of {picked}, taken together (each question once).")
    m[1].metric("Median unit score", fmt(row["median"]),
                f"lowest {fmt(row['lowest'])}, highest {fmt(row['highest'])}", delta_color="off", delta_arrow="off",
                border=True)
    m[2].metric("Catalogue clauses cited", f"{row['clauses_cited']} of {row['in_scope_clauses']}",
                "—" if row["cited_share"] is None else f"{row['cited_share']:.0f}% of those in scope",
                delta_color="off", delta_arrow="off", border=True,
                help=f"The catalogue holds {plural(row['catalogue_clauses'], 'clause')} of {picked}; "
                     f"{row['out_of_scope']} of them are deliberately out of scope.")
    m[3].metric("Out of scope", row["out_of_scope"], "not assessed, listed below", delta_color="off",
                delta_arrow="off", border=True, help="Catalogue clauses the questionnaires deliberately do not assess.")
else:
    st.dataframe(v.standards.select("standard", "title", "catalogue_clauses", "out_of_scope", "clauses_cited",
                                    "cited_share", *SCORES), hide_index=True, key="std_standards",
                 column_config={"standard": "Standard", "title": st.column_config.TextColumn("Title", width="large"),
                                "catalogue_clauses": "Clauses in catalogue", "out_of_scope": "Out of scope",
                                "clauses_cited": "Cited",
                                "cited_share": st.column_config.NumberColumn("% of in-scope cited", format="%.0f%%"),
                                **SCORES})

st.subheader("By article or clause group")
st.dataframe(v.groups.select("standard", "group", *SCORES, "clauses_cited", "catalogue_clauses", "questions"),
             hide_index=True, key="std_groups", height=height(v.groups.height),
             column_config={"standard": "Standard", "group": "Article / clause group", "clauses_cited": "Cited",
                            "catalogue_clauses": "In catalogue", "questions": "Questions", **SCORES})

st.subheader("Cited clauses")
t1, t2 = st.columns([3, 1])
search = t1.text_input("Find a clause, topic or question", key="std_search", placeholder="e.g. Art.12 or TEST-02")
clauses = v.clauses
if search.strip():
    s = search.strip().lower()
    clauses = clauses.filter(pl.any_horizontal(pl.col(c).str.to_lowercase().str.contains(s, literal=True)
                                               for c in ("clause", "topic", "questions", "group")))
with t2:
    st.download_button("Download CSV", standards_view.csv_bytes(v), key="std_csv", mime="text/csv",
                       file_name=f"itscm-standards-{cid}{'-' + picked if picked else ''}.csv",
                       icon=":material/download:", help="Every cited clause of this selection (not only the "
                                                        "rows found by the search).")
st.caption(f"{plural(clauses.height, 'clause')}. The units below {level} are named worst first (at most "
           f"{standards_view.BELOW_LISTED}); the count is always complete.")
st.dataframe(clauses.select("standard", "clause", "topic", *SCORES, "questions", "units_below"), hide_index=True,
             key="std_clauses", height=height(clauses.height),
             column_config={"standard": "Standard", "clause": "Clause",
                            "topic": st.column_config.TextColumn("Topic", width="medium"),
                            "questions": "Questions", **SCORES,
                            "units_below": st.column_config.TextColumn(f"Units below {level}", width="large")})

st.subheader("Out of scope")
if v.out_of_scope.height:
    st.caption("Clauses the questionnaires deliberately do not assess, with the reason: listed here, not as gaps.")
    st.dataframe(v.out_of_scope, hide_index=True, key="std_out_of_scope",
                 column_config={"standard": "Standard", "clause": "Clause", "topic": "Topic",
                                "reason": st.column_config.TextColumn("Reason", width="large")})
else:
    st.caption("No clause of this selection is listed as out of scope in the catalogue.")
