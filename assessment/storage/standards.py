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
    """Per key of `keys` (columns key_id, question_id, named): how the scored units in scope stand on its questions.

    Columns: key_id, units_scored, lowest, median, highest, at_or_above (units whose score on the key's
    questions is at least `compliance_level`), below, units_below (for keys marked `named`: the names of up to
    `list_limit` units below it, worst first, then by unit id) and listed (how many it names). Keys no scored
    unit answered are absent.
    """
    units_sql, params = _scoped_units(scope)
    level = compliance_level - EPSILON
    with registered(cur, "_standard_keys", keys.select("key_id", "question_id").unique()), \
            registered(cur, "_named_keys", keys.filter("named").select("key_id").unique()):
        return frame(cur, f"""
            WITH su AS {units_sql},
            scored AS (
              SELECT * FROM (
                SELECT k.key_id, qs.unit_id, {UNIT_SCORE} AS score
                FROM question_scores qs JOIN su ON su.unit_id = qs.unit_id
                JOIN _standard_keys k ON k.question_id = qs.question_id
                WHERE qs.campaign_id = ? GROUP BY k.key_id, qs.unit_id) per_unit
              WHERE score IS NOT NULL),
            ranked AS (
              SELECT s.key_id, s.unit_id, row_number() OVER (PARTITION BY s.key_id ORDER BY s.score, s.unit_id) AS n
              FROM scored s JOIN _named_keys nk ON nk.key_id = s.key_id WHERE s.score < ?),
            listed AS (  -- names joined after the cut: only `list_limit` rows per key need one
              SELECT r.key_id, string_agg(su.name, ', ' ORDER BY r.n) AS units_below, count(*) AS listed
              FROM ranked r JOIN su ON su.unit_id = r.unit_id WHERE r.n <= ? GROUP BY r.key_id),
            stats AS (
              SELECT key_id, count(*) AS units_scored, min(score) AS lowest, {median("score")} AS median,
                     max(score) AS highest, count(CASE WHEN score >= ? THEN 1 END) AS at_or_above,
                     count(CASE WHEN score < ? THEN 1 END) AS below
              FROM scored GROUP BY key_id)
            SELECT st.*, l.units_below, l.listed FROM stats st LEFT JOIN listed l ON l.key_id = st.key_id""",
            [*params, campaign_id, level, int(list_limit), level, level])
