"""Property-based tests of the scoring (hypothesis) on the mini questionnaire (tests/fixtures/mini.yaml).

Random organisations (1-4 units of any tier) answer each question with nothing, N/A (where allowed) or a
level 0-5 with no, fresh, stale, undated or link-only evidence, so the evidence cap is hit often.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from assessment import scoring
from assessment.questionnaire import load_file

from .conftest import FIXTURES

Q = load_file(FIXTURES / "mini.yaml")  # module level: hypothesis reruns a test body many times per fixture
QUESTIONS = {x.id: x for x in Q.questions}
AS_OF = date(2026, 6, 30)
EVIDENCE = {
    "none": (None, None, None),
    "fresh": ("report", None, AS_OF - timedelta(days=30)),
    "stale": ("report", None, AS_OF - timedelta(days=500)),
    "undated": ("report", None, None),
    "link": (None, "https://intranet.example/ev", AS_OF - timedelta(days=10)),
}
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COLUMNS = ["unit_id", "question_id", "level", "is_na", "na_reason", "evidence", "evidence_url", "evidence_date"]


@st.composite
def answer(draw, question_id: str):
    kinds = ["missing", "level", "level", "level"] + (["na"] if QUESTIONS[question_id].na_allowed else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "missing":
        return None
    if kind == "na":
        return {"level": None, "is_na": True, "na_reason": "not in scope", "evidence": None,
                "evidence_url": None, "evidence_date": None}
    ev, url, when = EVIDENCE[draw(st.sampled_from(sorted(EVIDENCE)))]
    return {"level": draw(st.integers(0, 5)), "is_na": False, "na_reason": None, "evidence": ev,
            "evidence_url": url, "evidence_date": when}


@st.composite
def organisation(draw):
    n = draw(st.integers(1, 4))
    units = [{"unit_id": f"U{i}", "division_id": f"D{i % 2}", "tier": draw(st.sampled_from([1, 2, 3])),
              "as_of": AS_OF} for i in range(n)]
    answers = {}
    for u in units:
        for qid in QUESTIONS:
            a = draw(answer(qid))
            if a is not None:
                answers[(u["unit_id"], qid)] = a
    return units, answers


def frames(units: list[dict], answers: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows = [{"unit_id": u, "question_id": q, **a} for (u, q), a in answers.items()]
    df = pl.DataFrame(rows, schema={"unit_id": pl.String, "question_id": pl.String, "level": pl.Int64,
                                    "is_na": pl.Boolean, "na_reason": pl.String, "evidence": pl.String,
                                    "evidence_url": pl.String, "evidence_date": pl.Date})
    return df.select(COLUMNS), pl.DataFrame(units)


def score(units, answers) -> scoring.Scores:
    return scoring.score(Q, *frames(units, answers))


def by_key(df: pl.DataFrame, keys: list[str]) -> dict:
    return {tuple(r[k] for k in keys): r for r in df.to_dicts()}


def assert_scores_equal(a: scoring.Scores, b: scoring.Scores) -> None:
    assert_frame_equal(a.questions, b.questions)
    assert_frame_equal(a.domains, b.domains)
    assert_frame_equal(a.units, b.units)


@SETTINGS
@given(organisation())
def test_scores_stay_on_the_scale_and_gaps_within_target(org):
    units, answers = org
    s = score(units, answers)
    assert s.questions.height == len(units) * len(QUESTIONS)
    assert s.domains.height == len(units) * len(Q.domains) and s.units.height == len(units)
    for df in (s.questions, s.domains, s.units):
        for r in df.to_dicts():
            if r["score"] is None:
                assert r["gap"] is None
                continue
            assert 0.0 <= r["score"] <= 5.0, r
            assert r["target"] - 5.0 <= r["gap"] <= r["target"] + 1e-9, r
            assert abs(r["gap"] - (r["target"] - r["score"])) < 1e-9
            if "priority" in r:
                assert r["priority"] >= 0
    for r in s.units.to_dicts():
        assert (r["band"] is None) == (r["score"] is None)
        assert r["answered"] + r["na"] <= len(QUESTIONS) and 0 <= r["capped"] <= r["answered"]
    for r in s.questions.to_dicts():  # the cap never raises a score above the answer
        if r["status"] in ("answered", "capped"):
            assert r["score"] <= r["level"]


@st.composite
def raise_one(draw):
    units, answers = draw(organisation())
    raisable = sorted(k for k, a in answers.items() if not a["is_na"] and a["level"] < 5)
    if not raisable:
        unit = units[0]["unit_id"]
        key = (unit, draw(st.sampled_from(sorted(QUESTIONS))))
        answers[key] = {"level": 0, "is_na": False, "na_reason": None, "evidence": None,
                        "evidence_url": None, "evidence_date": None}
    else:
        key = draw(st.sampled_from(raisable))
    new_level = draw(st.integers(answers[key]["level"] + 1, 5))
    return units, answers, key, new_level


@SETTINGS
@given(raise_one())
def test_raising_one_answer_never_lowers_any_score(case):
    """A raise that crosses the evidence cap (e.g. 2 -> 3 without evidence) may keep scores flat; none drops."""
    units, answers, key, new_level = case
    before = score(units, answers)
    raised = dict(answers)
    raised[key] = {**answers[key], "level": new_level}
    after = score(units, raised)
    for name, keys in (("questions", ["unit_id", "question_id"]), ("domains", ["unit_id", "domain_id"]),
                       ("units", ["unit_id"])):
        old, new = by_key(getattr(before, name), keys), by_key(getattr(after, name), keys)
        assert old.keys() == new.keys()
        for k in old:
            a, b = old[k]["score"], new[k]["score"]
            assert (a is None) == (b is None), (name, k)
            if a is not None:
                assert b >= a - 1e-9, (name, k, a, b, key, new_level)
    raised_q = by_key(after.questions, ["unit_id", "question_id"])[key]
    assert raised_q["score"] >= by_key(before.questions, ["unit_id", "question_id"])[key]["score"]


@st.composite
def mark_na(draw):
    units, answers = draw(organisation())
    optional = sorted((u["unit_id"], q) for u in units for q, x in QUESTIONS.items() if x.na_allowed)
    return units, answers, draw(st.sampled_from(optional))


@SETTINGS
@given(mark_na())
def test_na_answers_do_not_change_other_questions_scores(case):
    units, answers, key = case
    na = {"level": None, "is_na": True, "na_reason": "not in scope", "evidence": None, "evidence_url": None,
          "evidence_date": None}
    missing = {k: v for k, v in answers.items() if k != key}
    with_na = {**missing, key: na}
    base, marked, left_out = score(units, answers), score(units, with_na), score(units, missing)
    others = ~((pl.col("unit_id") == key[0]) & (pl.col("question_id") == key[1]))
    assert_frame_equal(base.questions.filter(others), marked.questions.filter(others))
    row = by_key(marked.questions, ["unit_id", "question_id"])[key]
    assert row["status"] == "na" and row["score"] is None
    # N/A is excluded from the scale like an unanswered question: same domain and unit scores.
    for name, keys in (("domains", ["unit_id", "domain_id"]), ("units", ["unit_id"])):
        a, b = by_key(getattr(marked, name), keys), by_key(getattr(left_out, name), keys)
        for k in a:
            assert a[k]["score"] == b[k]["score"], (name, k)


@SETTINGS
@given(organisation(), st.integers(0, 2**32 - 1))
def test_scoring_is_deterministic_and_ignores_row_order(org, seed):
    units, answers = org
    first, again = score(units, answers), score(units, answers)
    assert_scores_equal(first, again)
    ans, unit_frame = frames(units, answers)
    rng = random.Random(seed)
    shuffled = ans.with_row_index("i").with_columns(pl.Series("k", rng.sample(range(ans.height), ans.height),
                                                              dtype=pl.Int64)).sort("k").drop("i", "k")
    unit_order = rng.sample(range(unit_frame.height), unit_frame.height)
    assert_scores_equal(first, scoring.score(Q, shuffled, unit_frame[unit_order]))


@SETTINGS
@given(organisation(), organisation())
def test_a_units_scores_do_not_depend_on_other_units(org, other):
    units, answers = org
    other_units, other_answers = other
    extra = [{**u, "unit_id": "X" + u["unit_id"]} for u in other_units]
    extra_answers = {("X" + u, q): a for (u, q), a in other_answers.items()}
    alone = score(units, answers)
    together = score(units + extra, {**answers, **extra_answers})
    mine = pl.col("unit_id").is_in([u["unit_id"] for u in units])
    assert_frame_equal(alone.questions, together.questions.filter(mine))
    assert_frame_equal(alone.domains, together.domains.filter(mine))
    assert_frame_equal(alone.units, together.units.filter(mine))
