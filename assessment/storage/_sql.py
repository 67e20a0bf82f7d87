"""SQL fragments shared by the storage modules: the roll-up, the current answer, sets of states, helpers.

Each fragment is the one SQL form of a rule the engine states elsewhere (model.SCORED, model.EDITABLE,
answer_rules.answered): change the rule there and here together, nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl

from ..model import EDITABLE, SCORED


def weighted_mean(value: str, weight: str, over: str | None = None) -> str:
    """THE roll-up of unit scores: the mean of `value` weighted by `weight`, over the rows where `over`
    (default: `value`) is known.

    Every view that rolls unit scores up (organisation, division, heatmap cell, trend, the Excel trend rows,
    checklist items) uses it with the unit's persisted roll-up weight (unit_scores.rollup_weight, set by
    scoring from the policy: 1, or the tier factor under tier_weighted_mean), so a unit counts the same
    everywhere. A target is rolled up `over` the score it is compared with, so unscored units count in
    neither. `value`, `weight` and `over` are SQL expressions.
    """
    known = over or value
    return (f"sum(CASE WHEN {known} IS NOT NULL THEN {value} * {weight} END) / "
            f"nullif(sum(CASE WHEN {known} IS NOT NULL THEN {weight} END), 0)")


def in_list(values: Sequence[Any]) -> tuple[str, list]:
    """`(?, ?, …)` and its parameters; an empty list gives `(NULL)`, which matches nothing."""
    if not values:
        return "(NULL)", []
    return "(" + ", ".join("?" for _ in values) + ")", list(values)


SCORED_SQL, SCORED_PARAMS = in_list(SCORED)
EDITABLE_SQL, EDITABLE_PARAMS = in_list(EDITABLE)


def answered(alias: str) -> str:
    """An answer counts as answered when it has a level or is N/A: answer_rules.is_answered (an Answer) and
    answer_rules.answered (a polars frame), in SQL."""
    return f"({alias}.level IS NOT NULL OR {alias}.is_na)"


def latest_answers(where: str) -> str:
    """The current answer of each unit x question (the newest event, as kept in current_answers: same
    columns as answer_events). `where` filters it (its parameters are the caller's), e.g.
    "campaign_id = ? AND unit_id = ?"."""
    return f"""
        SELECT e.* FROM current_answers e WHERE {where}"""


@contextmanager
def registered(cur: Any, name: str, df: pl.DataFrame) -> Iterator[str]:
    """A polars frame visible to SQL under `name` for the duration of the block."""
    cur.register(name, df)
    try:
        yield name
    finally:
        cur.unregister(name)


def fetch_row(cur: Any, sql: str, params: Iterable[Any] = ()) -> dict | None:
    """The first row as a dict, or None; reads the whole result so the cursor is free again."""
    res = cur.execute(sql, list(params))
    cols = [d[0] for d in res.description]
    rows = res.fetchall()
    return dict(zip(cols, rows[0])) if rows else None


def update_fields(cur: Any, table: str, key_col: str, key: Any, allowed: set[str], fields: dict[str, Any]) -> None:
    """UPDATE one row's allow-listed columns; an unknown column is a programming error."""
    bad = set(fields) - allowed
    if bad:
        raise ValueError(f"cannot update {table} fields {sorted(bad)}")
    if not fields:
        return
    sets = ", ".join(f"{k} = ?" for k in fields)
    cur.execute(f"UPDATE {table} SET {sets} WHERE {key_col} = ?", [*fields.values(), key])


def next_id(cur: Any, table: str, key: str, prefix: str) -> str:
    """The next id of a record numbered from the highest stored one ("EX-00042"); no sequence, so copied
    and restored databases go on from their own content."""
    row = fetch_row(cur, f"SELECT max(CAST(substr({key}, {len(prefix) + 1}) AS INTEGER)) AS n FROM {table} "
                         f"WHERE {key} LIKE ?", [prefix + "%"])
    return f"{prefix}{((row or {}).get('n') or 0) + 1:05d}"
