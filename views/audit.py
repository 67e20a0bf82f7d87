"""Audit trail for administrators and auditors: filters, entry details, chain verification."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta

import polars as pl
import streamlit as st

from assessment import audit, clock
from ui import widgets as w
from ui.format import plain
from ui.session import require_actor
from ui.state import get_db

db = get_db()
actor = require_actor(db)

st.title("Audit trail")
st.caption("Every change, sign-in and failed sign-in, hash-chained so that editing or removing an entry is "
           "detectable. The head hash is printed in every auditor export.")

seq, head_hash = audit.head(db)
c1, c2 = st.columns([1, 3])
c1.metric("Entries", seq)
c2.markdown(f"**Head hash**  \n`{head_hash}`")
if st.button("Verify the chain", key="audit_verify"):
    report = audit.verify(db, actor)
    (st.success if report.ok else st.error)(plain(report))

with st.form("audit_filters"):
    f1, f2, f3, f4 = st.columns(4)
    user = f1.text_input("User", key="audit_user")
    action = f2.text_input("Action (e.g. answers.save, login.failed)", key="audit_action")
    object_type = f3.selectbox("Object", ["", "assessment", "campaign", "user", "unit", "questionnaire", "import",
                                          "organisation"], key="audit_object")
    days = f4.number_input("Last N days", min_value=1, max_value=3650, value=30, key="audit_days")
    st.form_submit_button("Apply filters")

since = datetime.combine(clock.today() - timedelta(days=int(days)), time())
log = audit.entries(db, actor, user.strip() or None, action.strip() or None, object_type or None, since, limit=2000)
st.caption(f"{log.height} entries shown (newest first, at most 2,000).")
st.dataframe(log.drop("before_json", "after_json").with_columns(pl.col("hash").str.slice(0, 16)),
             hide_index=True, width="stretch")

if log.height:
    pick = w.select("Show the details of entry", log["seq"].to_list(), key="audit_pick")
    row = log.filter(pl.col("seq") == pick).row(0, named=True)
    b, a = st.columns(2)
    b.markdown("**Before**")
    b.json(json.loads(row["before_json"]) if row["before_json"] else {})
    a.markdown("**After**")
    a.json(json.loads(row["after_json"]) if row["after_json"] else {})
