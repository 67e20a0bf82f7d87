"""Process-wide database handle and cached reads for the Streamlit app."""

from __future__ import annotations

import streamlit as st

from assessment import backup, bootstrap
from assessment.settings import load as load_settings
from assessment.storage import Database


@st.cache_resource
def get_db() -> Database:
    """One connection per process; the storage layer hands each call its own cursor (thread-safe)."""
    settings = load_settings()
    started = bootstrap.start(settings)
    bootstrap.print_credentials(started.credentials, settings.data_dir)
    if settings.scheduled_backups and settings.backend == "duckdb":
        backup.start_scheduler(started.db)
    return started.db


def data_changed() -> None:
    """Call after any write so cached reads are recomputed."""
    st.cache_data.clear()
