"""Cached engine reads for the pages, keyed by the acting user so two users never share an answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from assessment.model import Actor
from assessment.storage import Database

_FUNCTIONS: dict[str, Callable] = {}


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
