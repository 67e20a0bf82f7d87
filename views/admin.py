"""Administration: user accounts, roles, unit assignments and import grants; online backups."""

from __future__ import annotations

import streamlit as st

from assessment import access, backup, catalog, users
from ui import widgets as w
from ui.format import plain
from ui.session import require_actor
from ui.state import get_db

db = get_db()
actor = require_actor(db)


def create_user(unit_ids: list[str], roles: list[str]) -> None:
    with st.expander("Create a user"), st.form("create_user", clear_on_submit=True):
        c1, c2 = st.columns(2)
        username = c1.text_input("User name", key="new_username")
        name = c2.text_input("Display name", key="new_name")
        role = c1.selectbox("Role", roles, format_func=access.ROLE_LABELS.get, key="new_role")
        units = c2.multiselect("Business units (department heads)", unit_ids, key="new_units")
        password = c1.text_input("Initial password", type="password", key="new_password")
        can_import = c2.checkbox("May import Excel files (auditors)", key="new_import")
        if st.form_submit_button("Create user", key="create_user_submit"):
            w.run_action(users.create, db, actor, username, name, role, password, units, can_import,
                         success=f"User {plain(username)} created.")
            st.rerun()


def change_user(table, unit_ids: list[str], roles: list[str]) -> None:
    """One form, one engine call: role, units, status, import grant and password change together or not at all."""
    st.subheader("Change a user")
    who = w.select("User", table["username"].to_list(), key="edit_user")
    row = table.filter(table["username"] == who).row(0, named=True)
    with st.form("edit_user_form"):
        c1, c2 = st.columns(2)
        role = c1.selectbox("Role", roles, index=roles.index(row["role"]), format_func=access.ROLE_LABELS.get,
                            key=f"edit_role_{who}")
        current_units = [u for u in row["units"].split(", ") if u]
        units = c2.multiselect("Business units", unit_ids, default=[u for u in current_units if u in unit_ids],
                               key=f"edit_units_{who}")
        active = c1.checkbox("Active", value=row["active"], key=f"edit_active_{who}")
        can_import = c2.checkbox("May import Excel files", value=row["can_import"], key=f"edit_import_{who}")
        new_pw = c1.text_input("Set a new password (optional)", type="password", key=f"edit_pw_{who}")
        if st.form_submit_button("Save changes", key="edit_user_submit"):
            w.run_action(users.change, db, actor, who, role=role, unit_ids=units, active=active,
                         can_import=can_import, password=new_pw or None, success=f"{plain(who)} updated.")
            st.rerun()


def backups() -> None:
    st.title("Backups")
    if getattr(db, "dialect", "duckdb") != "duckdb":
        st.info("This deployment runs on PostgreSQL: back it up with the server's tools (see the README).")
        return
    st.caption("Online copies of the embedded database, each verified against the source by row counts and "
               "content hashes. Scheduled backups run in the app (ITSCM_BACKUP_INTERVAL_HOURS, keeping "
               "ITSCM_BACKUP_KEEP).")
    if st.button("Back up now", key="backup_now"):
        done = w.run_action(backup.create_backup, db, actor, writes=False,
                            success=lambda info: f"Backup written: {plain(info.path.name)}")
        if done.signed_out:
            st.rerun()
        w.show_flash()
    existing = backup.list_backups(backup.default_dir(db.path))
    st.dataframe({"backup": [p.name for p in existing],
                  "taken (UTC)": [backup.backup_time(p) for p in existing],
                  "size (MB)": [round(p.stat().st_size / 1e6, 2) for p in existing]}, hide_index=True)


st.title("Users")
st.caption("Department heads see and edit only their assigned units. Disabling a user ends their access at "
           "their next click. Every change here is in the audit trail.")
w.show_flash()
table = users.list_users(db, actor)
st.dataframe(table, hide_index=True, width="stretch")
all_units = catalog.units(db, actor)["unit_id"].to_list()
all_roles = list(access.ROLES)
create_user(all_units, all_roles)
if table.height:
    change_user(table, all_units, all_roles)
st.divider()
backups()
