"""The pages' last line of defence: an unexpected error is logged under a reference and shown without details.

No page shows a traceback or a server path. app.py runs every page through `page_guard`; callbacks and
in-page writes go through ui.widgets.run_action / ui.widgets.callback, which use `report` the same way.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

import streamlit as st

from assessment.errors import ItscmError
from ui.format import plain

log = logging.getLogger("itscm.pages")


def report(exc: BaseException, where: str) -> str:
    """Log `exc` with its traceback under a new reference; the reference is what the user is shown."""
    ref = secrets.token_hex(4).upper()
    log.error("unexpected error in %s (reference %s)", where, ref, exc_info=exc)
    return ref


def message(ref: str) -> str:
    return (f"Something went wrong (reference {ref}). Nothing more is shown here: your administrator finds "
            "the details under this reference in the application log.")


def page_guard(run: Callable[[], None], where: str) -> None:
    """Run a page script; an error ends the page with a message instead of a traceback.

    Errors the product raises for people (ItscmError) show their message; anything else is a bug, shown
    only as a reference. Streamlit's own control flow (st.stop, st.rerun, st.switch_page) passes through:
    it is a BaseException, not an Exception.
    """
    try:
        run()
    except ItscmError as exc:
        ref = secrets.token_hex(4).upper()
        log.warning("%s refused in %s (reference %s)", type(exc).__name__, where, ref, exc_info=exc)
        st.error(f"{plain(exc)} (reference {ref})", icon=":material/error:")
    except Exception as exc:
        st.error(message(report(exc, where)), icon=":material/error:")
