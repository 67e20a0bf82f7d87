"""Widgets shared by the pages: selectboxes that forget stale choices, campaign and scope pickers, status
badges, flash messages, and `run_action`, the one way a page performs an engine write.

Pages call the engine only; this module never holds SQL or scoring logic either. Cached reads are in
ui.cache, text formatting and escaping in ui.format.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import polars as pl
import streamlit as st

from assessment import access, campaigns, catalog
from assessment.auth import SessionEnded
from assessment.errors import ItscmError, ValidationError
from assessment.model import Actor, Questionnaire
from assessment.reports import Filters
from assessment.storage import Database
from ui import guard, session
from ui.cache import read
from ui.format import plain
from ui.state import data_changed, get_db

K = TypeVar("K")

BadgeColour = Literal["red", "orange", "yellow", "blue", "green", "violet", "gray", "grey", "primary"]
STATUS_COLOURS: dict[str, BadgeColour] = {"draft": "gray", "submitted": "blue", "approved": "green",
                                          "returned": "orange",
                  "not in campaign": "gray", "open": "green", "planned": "blue", "closed": "gray"}
STATUS_LABELS = {"draft": "Draft", "submitted": "Submitted, awaiting review", "approved": "Approved",
                 "returned": "Returned for rework", "not in campaign": "Not in this campaign"}


def header(title: str, caption: str) -> None:
    st.title(title)
    st.caption(caption)


def status_badge(status: str | None) -> None:
    status = status or "not in campaign"
    st.badge(STATUS_LABELS.get(status, status.capitalize()), color=STATUS_COLOURS.get(status, "gray"))


# ---- messages and writes ------------------------------------------------------------------------------------

def flash(kind: str, message: str) -> None:
    """Show a message (Markdown: escape user text with ui.format.plain) after the next rerun."""
    st.session_state.setdefault("_flash", []).append((kind, message))


def show_flash() -> None:
    for kind, message in st.session_state.pop("_flash", []):
        getattr(st, kind)(message)


def error_text(exc: Exception) -> str:
    """A person-readable message for an engine error, listing every problem; input it quotes is escaped."""
    if isinstance(exc, ValidationError) and exc.problems:
        return "Please correct the following:\n" + "\n".join(f"- {plain(p)}" for p in exc.problems)
    return plain(exc)


def show_error(exc: Exception) -> None:
    st.error(error_text(exc), icon=":material/error:")


@dataclass(frozen=True)
class Outcome:
    """What run_action did: `ok` with the engine's return `value`, or not; `signed_out` when the write was
    refused because the session ended (the caller should rerun to show the sign-in form)."""

    ok: bool
    value: Any = None
    signed_out: bool = False


def refuse(exc: Exception, where: str) -> Outcome:
    """Turn an exception from a page action into what the user sees on the next run."""
    if isinstance(exc, SessionEnded):
        # The engine wrote nothing. Say so, and end the page's session so the next run shows the sign-in
        # form instead of a page drawn for rights the user no longer has.
        st.session_state.pop("_flash", None)
        session.end_after_refusal(get_db(), str(exc))
        return Outcome(False, signed_out=True)
    if isinstance(exc, ItscmError):
        flash("error", error_text(exc))
    else:
        flash("error", guard.message(guard.report(exc, where)))
    return Outcome(False)


def run_action(fn: Callable[..., Any], /, *args: Any, success: str | Callable[[Any], str] | None = None,
               handle: Mapping[type[Exception], Callable[[Any], None]] | None = None,
               writes: bool = True, **kwargs: Any) -> Outcome:
    """Run one engine operation fn(*args, **kwargs) for a page and report its outcome as flash messages.

    On success the cached reads are cleared (`writes`) and `success` (text, or a function of the result)
    is flashed. `handle` maps exception types to page-specific handlers (a write conflict that keeps the
    user's input, say) used instead of the generic message. A write refused because the session ended signs
    the user out; an unexpected error is logged under a reference and shown without details.
    """
    try:
        value = fn(*args, **kwargs)
    except Exception as exc:
        if not isinstance(exc, SessionEnded):
            for kind, handler in (handle or {}).items():
                if isinstance(exc, kind):
                    handler(exc)
                    return Outcome(False)
        return refuse(exc, getattr(fn, "__qualname__", repr(fn)))
    if writes:
        data_changed()
    if success is not None:
        flash("success", success(value) if callable(success) else success)
    return Outcome(True, value)


def callback(fn: Callable[..., None]) -> Callable[..., None]:
    """Decorate an on_click/on_change callback: whatever it raises becomes a message, never a traceback
    (callbacks run before the page script, outside app.py's page guard)."""
    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            refuse(exc, fn.__qualname__)
    return guarded


# ---- pickers ------------------------------------------------------------------------------------------------

def select(label: str, options: Mapping[K, str] | Sequence[K], *, key: str,
           fmt: Callable[[K], str] | None = None, **kwargs: Any) -> K | None:
    """A selectbox that forgets a remembered choice no longer offered (another cycle, unit or filter).

    `options` is a list of values, or a mapping value -> label (then the label is shown). Option labels
    are plain text in Streamlit, so user text needs no escaping here.
    """
    values = list(options)
    if st.session_state.get(key) not in values:
        st.session_state.pop(key, None)
    if fmt is None:  # an unknown value raises, as AppTest expects when it is given a label instead
        fmt = options.__getitem__ if isinstance(options, Mapping) else str
    return st.selectbox(label, values, format_func=fmt, key=key, **kwargs)


def campaign_label(row: dict) -> str:
    return f"{row['name']} ({row['status']})"


def pick_campaign(db: Database, actor: Actor, key: str, label: str = "Campaign",
                  statuses: tuple[str, ...] | None = None, help: str | None = None,
                  fmt: Callable[[dict], str] = campaign_label) -> dict | None:
    """Campaign selectbox, newest first; None when there is none."""
    camps = read(db, actor, campaigns.list_campaigns)
    if statuses:
        camps = camps.filter(pl.col("status").is_in(list(statuses)))
    if camps.height == 0:
        return None
    rows = {r["campaign_id"]: r for r in camps.sort("opens_on", descending=True).iter_rows(named=True)}
    cid = select(label, {c: fmt(r) for c, r in rows.items()}, key=key, help=help)
    return rows[cid]


def tier_names(q: Questionnaire | None) -> dict[int, str]:
    if q is None:
        return {1: "Tier 1", 2: "Tier 2", 3: "Tier 3"}
    return {t.tier: t.name for t in q.policy.tiers}


def scope_filters(db: Database, actor: Actor, prefix: str, q: Questionnaire | None = None) -> Filters:
    """Division and tier multiselects (empty = everything the user may read) → engine Filters."""
    units = read(db, actor, catalog.units)
    divisions = dict(units.select("division_id", "division").unique().sort("division").iter_rows())
    tiers = tier_names(q)
    tier_opts = sorted(set(units["tier"].to_list()))
    c1, c2 = st.columns(2)
    div = c1.multiselect("Division", list(divisions), format_func=lambda d: divisions.get(d, d),
                         key=f"{prefix}_division", placeholder="All divisions")
    tier = c2.multiselect("Criticality tier", tier_opts, format_func=lambda t: tiers.get(t, f"Tier {t}"),
                          key=f"{prefix}_tier", placeholder="All tiers")
    return Filters(division_ids=tuple(div) or None, tiers=tuple(tier) or None)


def questionnaire_for(db: Database, campaign_id: str) -> Questionnaire:
    return catalog.campaign_questionnaire(db, campaign_id)


def domain_names(q: Questionnaire) -> list[tuple[str, str]]:
    return [(d.id, d.name) for d in q.domains]


def question_texts(q: Questionnaire) -> dict[str, str]:
    return {x.id: x.text for x in q.questions}


def unit_options(db: Database, actor: Actor, action: str = "read") -> dict[str, str]:
    """unit_id -> 'Name · division' of the units the user may `action`, in division/name order."""
    units = read(db, actor, catalog.units)
    return {r["unit_id"]: f"{r['name']} · {r['division']}" for r in units.iter_rows(named=True)
            if access.allowed(actor, action, r["unit_id"])}
