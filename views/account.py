"""The signed-in user's account: who they are, what they may do, their deadlines as a calendar file, and
changing their password."""

from __future__ import annotations

import streamlit as st

from assessment import access, ical, users
from ui import widgets as w
from ui.cache import read
from ui.format import plain
from ui.session import require_actor
from ui.state import get_db

db = get_db()
actor = require_actor(db)

st.title("My account")
st.markdown(f"Signed in as **{plain(actor.username)}**, {access.ROLE_LABELS.get(actor.role, actor.role)}.")
if actor.units:
    st.markdown("Business units: " + plain(", ".join(sorted(actor.units))))
allowed = [a for a in access.PERMISSIONS if access.allowed(actor, a)]
st.caption("You may: " + ", ".join(a.replace("_", " ") for a in allowed))

st.subheader("My deadlines in my calendar")
if actor.units:
    ics = read(db, actor, ical.user_calendar)
    events = ics.count(b"BEGIN:VEVENT")
    st.caption(f"{events} dated deadline(s) of your business units: assessments, plan and service reviews, "
               "exercises and evidence expiry, as all-day events. Import the file again after changes: each event "
               "keeps its identity, so your calendar moves it instead of adding a copy.")
    st.download_button("Download calendar (.ics)", ics, file_name=f"itscm-deadlines-{actor.username}.ics",
                       mime="text/calendar", icon=":material/calendar_month:", key="ics_download")
else:
    st.caption("No business units are assigned to you, so you have no deadlines of your own to download.")

st.subheader("Change password")
st.caption("At least 8 characters; long passphrases are welcome. Common passwords are refused.")
with st.form("change_password", clear_on_submit=True):
    current = st.text_input("Current password", type="password", key="pw_current")
    new = st.text_input("New password", type="password", key="pw_new")
    again = st.text_input("New password again", type="password", key="pw_again")
    if st.form_submit_button("Change password", key="pw_submit"):
        if new != again:
            st.error("The two new passwords differ.")
        else:
            done = w.run_action(users.change_password, db, actor, current, new, writes=False,
                                success="Password changed.")
            if done.signed_out:
                st.rerun()
            w.show_flash()
