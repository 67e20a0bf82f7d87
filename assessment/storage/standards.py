"""SQL behind the standards view: the known question scores of a campaign's units in scope."""

from __future__ import annotations

import polars as pl

from .db import frame
from .reports import Scope, _scoped_units


def question_scores(cur, campaign_id: str, scope: Scope) -> pl.DataFrame:
    """Every known question score of the campaign's units in scope (today's active units): unit_id, name,
    question_id, score, weight. A unit's score on any set of questions is weighed from these
    (question_sets.readiness)."""
    units_sql, params = _scoped_units(scope)
    return frame(cur, f"""
        WITH su AS {units_sql}
        SELECT qs.unit_id, su.name, qs.question_id, qs.score, qs.weight
        FROM question_scores qs JOIN su ON su.unit_id = qs.unit_id
        WHERE qs.campaign_id = ? AND qs.score IS NOT NULL""", [*params, campaign_id])
