"""Streamlit entry point: sign-in, then navigation over the pages in views/ that the user may use."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from assessment import access
from assessment.errors import DatabaseError
from ui.format import plain
from ui.guard import page_guard
from ui.preload import preload
from ui.session import require_actor, sidebar_user
from ui.state import get_db

VIEWS = Path(__file__).parent / "views"

# (file, title, icon, action the user needs, default page?)
PAGES = [
    ("dashboard.py", "Leadership dashboard", ":material/monitoring:", "read", True),
    ("self_assessment.py", "Self-assessment", ":material/edit_note:", "answer", False),
    ("unit.py", "Business unit", ":material/apartment:", "read", False),
    ("records.py", "Continuity records", ":material/fact_check:", "read", False),
    ("deadlines.py", "Review deadlines", ":material/event:", "read", False),
    ("standards.py", "Standards", ":material/gavel:", "read", False),
    ("actions.py", "Improvement actions", ":material/task_alt:", "read", False),
    ("campaigns.py", "Campaigns", ":material/flag:", "manage_campaigns", False),
    ("organisation.py", "Organisation", ":material/account_tree:", "manage_units", False),
    ("excel.py", "Excel", ":material/table_view:", "read", False),
    ("audit.py", "Audit trail", ":material/policy:", "read_audit", False),
    ("admin.py", "Users & backups", ":material/admin_panel_settings:", "manage_users", False),
    ("account.py", "My account", ":material/person:", "read", False),
]


def main() -> None:
    try:
        db = get_db()
    except DatabaseError as exc:
        st.error(f"The database could not be opened: {plain(exc)}")
        st.stop()
    actor = require_actor(db)
    pages = [
        st.Page(str(VIEWS / file), title=title, icon=icon, default=default)
        for file, title, icon, action, default in PAGES
        if (VIEWS / file).exists() and access.allowed(actor, action)
    ]
    nav = st.navigation(pages, expanded=True)  # every page the user may use, not the first ten and "View more"
    sidebar_user(db, actor)
    # Every page runs inside this guard: an error ends the page with a reference, never a traceback.
    page_guard(nav.run, where=f"page {nav.title}")


preload()  # before any page draws a chart or a table: see ui/preload.py
st.set_page_config(page_title="ITSCM maturity", page_icon=":material/shield:", layout="wide")
page_guard(main, where="app")
