"""Set-based SQL behind the standards view: unit scores on the questions citing a clause, aggregated per key."""

from __future__ import annotations

import polars as pl

from ._sql import registered, weighted_mean
from .db import frame
from .dialect import median
from .reports import Scope, _scoped_units

# A unit's score on a set of questions: the same weighted mean the domain roll-up uses (question weights, N/A
# and missing answers left out).
UNIT_SCORE = weighted_mean("qs.score", "qs.weight")
# Weighted means of whole levels can land a hair below the level they equal (2.9999999999999996).
EPSILON = 1e-9


def readiness(cur, campaign_id: str, scope: Scope, keys: pl.DataFrame, compliance_level: int,
              list_limit: int) -> pl.DataFrame:
    """Per key of `keys` (columns key_id, question_id): how the scored units in scope stand on its questions.

    Columns: key_id, units_scored, lowest, median, highest, at_or_above (units whose score on the key's
    questions is at least `compliance_level`), below, units_below (the names of up to `list_limit` units
    below it, worst first). Keys no scored unit answered are absent.
    """
    units_sql, params = _scoped_units(scope)
    level = compliance_level - EPSILON
    with registered(cur, "_standard_keys", keys.select("key_id", "question_id").unique()):
        return frame(cur, f"""
            WITH su AS {units_sql},
            per_unit AS (
              SELECT k.key_id, qs.unit_id, min(su.name) AS unit, {UNIT_SCORE} AS score
              FROM question_scores qs JOIN su ON su.unit_id = qs.unit_id
              JOIN _standard_keys k ON k.question_id = qs.question_id
              WHERE qs.campaign_id = ? GROUP BY k.key_id, qs.unit_id),
            scored AS (SELECT * FROM per_unit WHERE score IS NOT NULL),
            ranked AS (
              SELECT key_id, unit, row_number() OVER (PARTITION BY key_id ORDER BY score, unit) AS n
              FROM scored WHERE score < ?),
            listed AS (
              SELECT key_id, string_agg(unit, ', ' ORDER BY n) AS units_below FROM ranked
              WHERE n <= ? GROUP BY key_id)
            SELECT s.key_id, count(*) AS units_scored, min(s.score) AS lowest, {median("s.score")} AS median,
                   max(s.score) AS highest, count(CASE WHEN s.score >= ? THEN 1 END) AS at_or_above,
                   count(CASE WHEN s.score < ? THEN 1 END) AS below, min(l.units_below) AS units_below
            FROM scored s LEFT JOIN listed l ON l.key_id = s.key_id
            GROUP BY s.key_id""",
            [*params, campaign_id, level, int(list_limit), level, level])
