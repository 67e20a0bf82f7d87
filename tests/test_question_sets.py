"""Unit scores on sets of questions (question_sets.readiness), hand-computed; the standards view's figures
through the whole stack are in test_standards_view.py."""

from __future__ import annotations

import polars as pl
import pytest

from assessment import question_sets


def scores(*rows: tuple[str, str, float, float]) -> pl.DataFrame:
    """(unit_id, question_id, score, weight) rows; a unit's name is 'Unit ' + its id."""
    return pl.DataFrame([{"unit_id": u, "name": f"Unit {u}", "question_id": q, "score": s, "weight": w}
                         for u, q, s, w in rows],
                        schema={"unit_id": pl.String, "name": pl.String, "question_id": pl.String,
                                "score": pl.Float64, "weight": pl.Float64})


def keys(*rows: tuple[str, str, bool]) -> pl.DataFrame:
    return pl.DataFrame([{"key_id": k, "question_id": q, "named": n} for k, q, n in rows],
                        schema={"key_id": pl.String, "question_id": pl.String, "named": pl.Boolean})


def by_key(df: pl.DataFrame) -> dict[str, dict]:
    return {r["key_id"]: r for r in df.iter_rows(named=True)}


def test_weighted_means_per_set_with_median_count_and_units_below():
    # U1: Q1 4 (weight 2), Q2 1 (weight 1); U2: Q1 2; U3: Q2 5; U4: Q1 1, Q2 3.
    s = scores(("U1", "Q1", 4, 2), ("U1", "Q2", 1, 1), ("U2", "Q1", 2, 2), ("U3", "Q2", 5, 1),
               ("U4", "Q1", 1, 2), ("U4", "Q2", 3, 1))
    k = keys(("both", "Q1", True), ("both", "Q2", True), ("q1", "Q1", False), ("q3", "Q3", True))
    got = by_key(question_sets.readiness(s, k, 3, 25))
    # both: U1 (8+1)/3 = 3, U2 2, U3 5, U4 (2+3)/3 = 5/3 -> sorted 5/3, 2, 3, 5: median (2+3)/2 = 2.5
    assert got["both"] == pytest.approx({"key_id": "both", "units_scored": 4, "lowest": 5 / 3, "median": 2.5,
                                         "highest": 5.0, "at_or_above": 2, "below": 2,
                                         "units_below": "Unit U4, Unit U2", "listed": 2})
    # q1: U1 4, U2 2, U4 1 (U3 has no score on Q1: not counted); not named, so no list
    assert got["q1"] == pytest.approx({"key_id": "q1", "units_scored": 3, "lowest": 1.0, "median": 2.0,
                                       "highest": 4.0, "at_or_above": 1, "below": 2, "units_below": None,
                                       "listed": None})
    assert "q3" not in got  # no unit has a score on Q3
    assert question_sets.readiness(s, k, 3, 25).schema == question_sets.SCHEMA


def test_the_list_is_cut_at_the_limit_worst_first_and_ties_go_by_unit_id():
    s = scores(("U3", "Q1", 1, 1), ("U1", "Q1", 1, 1), ("U2", "Q1", 1, 1), ("U0", "Q1", 0, 1), ("U9", "Q1", 4, 1))
    got = by_key(question_sets.readiness(s, keys(("k", "Q1", True)), 3, 3))["k"]
    assert (got["below"], got["listed"], got["units_below"]) == (4, 3, "Unit U0, Unit U1, Unit U2")


def test_scores_equal_but_for_the_last_bits_tie_and_count_at_the_level_they_equal():
    # A-x: (0.1 + 0.2) / 2 = 0.15000000000000002 in floating point, B-w: 0.15. Equal answers must tie, listed by
    # unit id; unrounded, B-w would come first. C scores 3 on each question, weighted 0.1, 0.1 and 2.9: the
    # sum lands a hair below 3 (2.9999999999999996), and C is at the level, not below it.
    s = scores(("A-x", "Q1", 0.1, 1), ("A-x", "Q2", 0.2, 1), ("B-w", "Q3", 0.15, 1),
               ("C", "Q1", 3, 0.1), ("C", "Q2", 3, 0.1), ("C", "Q3", 3, 2.9))
    k = keys(("k", "Q1", True), ("k", "Q2", True), ("k", "Q3", True))
    got = by_key(question_sets.readiness(s, k, 3, 25))["k"]
    assert got["units_below"] == "Unit A-x, Unit B-w"
    assert (got["at_or_above"], got["below"], got["highest"]) == (1, 2, 3.0)


def test_a_weight_sum_of_zero_leaves_the_unit_out_and_empty_inputs_give_no_rows():
    s = scores(("U1", "Q1", 4, 0), ("U2", "Q1", 2, 1))
    got = by_key(question_sets.readiness(s, keys(("k", "Q1", True)), 3, 25))["k"]
    assert (got["units_scored"], got["lowest"], got["units_below"]) == (1, 2.0, "Unit U2")
    empty = question_sets.readiness(s.clear(), keys(("k", "Q1", True)), 3, 25)
    assert empty.height == 0 and empty.schema == question_sets.SCHEMA
    assert question_sets.readiness(s, keys(), 3, 25).height == 0
