"""The heavy libraries Streamlit imports lazily, imported once under a lock before any page runs."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_done = False


def preload() -> None:
    """Import pandas, pyarrow and plotly's figure modules in one thread at a time.

    Streamlit imports them on the first chart or table. Two first visits at once then import them in two script
    threads together, and Python's import deadlock guard can hand one thread a partially initialised module
    ("partially initialized module 'pandas'"), which breaks that visitor's page. Holding one lock over the
    first import makes the second visitor wait for the finished modules instead.
    """
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        import pandas  # noqa: F401
        import plotly.graph_objects  # noqa: F401
        import pyarrow  # noqa: F401
        import streamlit.elements.arrow  # noqa: F401
        import streamlit.elements.plotly_chart  # noqa: F401

        _done = True
