"""Leadership dashboard: organisation summary for the selected campaign."""

from __future__ import annotations

import streamlit as st

from assessment import campaigns, reports
from ui.session import require_actor
from ui.state import get_db

db = get_db()
actor = require_actor(db)
st.title("Leadership dashboard")
camps = campaigns.list_campaigns(db, actor)
if camps.height == 0:
    st.info("No campaigns yet.")
    st.stop()
ids = camps["campaign_id"].to_list()
campaign_id = st.selectbox("Campaign", ids, index=len(ids) - 1, key="dash_campaign")
s = reports.summary(db, actor, campaign_id)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Organisation score", "—" if s["score"] is None else f"{s['score']:.2f}",
          None if s["gap"] is None else f"{-s['gap']:+.2f} vs target {s['target']:.2f}")
c2.metric("Units at target", f"{s['units_at_target']} / {s['units_scored']}")
c3.metric("Assessments submitted", f"{s['submitted']} / {s['expected']}")
c4.metric("Overdue plan reviews", s["overdue_reviews"])
st.dataframe(reports.divisions(db, actor, campaign_id), hide_index=True)
