"""The signed-in user's account: who they are, what they may do, and changing their password."""

from __future__ import annotations

import streamlit as st

from assessment import access, users
from ui import widgets as w
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
