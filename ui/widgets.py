"""Helpers shared by the pages: cached engine reads keyed by the acting user, scope filters, formatting,
status badges, flash messages and the display of engine errors.

Pages call the engine only; this module never holds SQL or scoring logic either.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import polars as pl
import streamlit as st

from assessment import access, campaigns, catalog
from assessment.errors import DatabaseError, EngineError, ValidationError
from assessment.model import Actor, Questionnaire
from assessment.reports import Filters
from assessment.storage import Database

_FUNCTIONS: dict[str, Callable] = {}

STATUS_COLOURS = {"draft": "gray", "submitted": "blue", "approved": "green", "returned": "orange",
                  "not in campaign": "gray", "open": "green", "planned": "blue", "closed": "gray"}
STATUS_LABELS = {"draft": "Draft", "submitted": "Submitted, awaiting review", "approved": "Approved",
                 "returned": "Returned for rework", "not in campaign": "Not in this campaign"}


def actor_key(actor: Actor) -> tuple:
    """Everything the engine's access decisions depend on: the cache key part for the user."""
    return actor.username, actor.role, tuple(sorted(actor.units)), actor.can_import


@st.cache_data(ttl=300, max_entries=1000, show_spinner=False)
def _cached_call(_db: Database, _actor: Actor, db_key: str, user: tuple, name: str, args: tuple,
                 kwargs: tuple) -> Any:
    return _FUNCTIONS[name](_db, _actor, *args, **dict(kwargs))


def read(db: Database, actor: Actor, fn: Callable, *args, **kwargs) -> Any:
    """Call an engine read fn(db, actor, *args, **kwargs) through st.cache_data.

    The key is the user (name, role, units), the function and its arguments (filters included), so two
    users never share an answer; ui.state.data_changed() clears everything after a write.
    """
    name = f"{fn.__module__}.{fn.__qualname__}"
    _FUNCTIONS[name] = fn
    return _cached_call(db, actor, str(db.path), actor_key(actor), name, args, tuple(sorted(kwargs.items())))


def header(title: str, caption: str) -> None:
    st.title(title)
    st.caption(caption)


def fmt(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def pct(part: int | float, whole: int | float) -> str:
    return "—" if not whole else f"{100 * part / whole:.0f}%"


def status_badge(status: str | None) -> None:
    status = status or "not in campaign"
    st.badge(STATUS_LABELS.get(status, status.capitalize()), color=STATUS_COLOURS.get(status, "gray"))


def flash(kind: str, message: str) -> None:
    """Show a message after the next rerun (st.rerun would otherwise swallow it)."""
    st.session_state.setdefault("_flash", []).append((kind, message))


def show_flash() -> None:
    for kind, message in st.session_state.pop("_flash", []):
        getattr(st, kind)(message)


def error_text(exc: Exception) -> str:
    """A person-readable message for an engine error, listing every problem."""
    if isinstance(exc, ValidationError) and exc.problems:
        return "Please correct the following:\n" + "\n".join(f"- {p}" for p in exc.problems)
    return str(exc)


def show_error(exc: Exception) -> None:
    st.error(error_text(exc), icon=":material/error:")


ENGINE_ERRORS = (EngineError, DatabaseError)


def campaign_label(row: dict) -> str:
    return f"{row['name']} ({row['status']})"


def pick_campaign(db: Database, actor: Actor, key: str, label: str = "Campaign",
                  statuses: tuple[str, ...] | None = None, help: str | None = None) -> dict | None:
    """Campaign selectbox, newest first; None (with an info box) when there is none."""
    camps = read(db, actor, campaigns.list_campaigns)
    if statuses:
        camps = camps.filter(pl.col("status").is_in(list(statuses)))
    if camps.height == 0:
        return None
    rows = {r["campaign_id"]: r for r in camps.sort("opens_on", descending=True).iter_rows(named=True)}
    ids = list(rows)
    if st.session_state.get(key) not in rows:
        st.session_state.pop(key, None)
    cid = st.selectbox(label, ids, format_func=lambda c: campaign_label(rows[c]), key=key, help=help)
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


def days_phrase(days: int | None) -> str:
    if days is None:
        return "no date"
    if days < 0:
        return f"{-days} days overdue"
    if days == 0:
        return "due today"
    return f"in {days} days"


def unit_options(db: Database, actor: Actor, action: str = "read") -> dict[str, str]:
    """unit_id -> 'Name · division' of the units the user may `action`, in division/name order."""
    units = read(db, actor, catalog.units)
    return {r["unit_id"]: f"{r['name']} · {r['division']}" for r in units.iter_rows(named=True)
            if access.allowed(actor, action, r["unit_id"])}


