"""Recovery objectives as durations: read in the forms people write, stored in minutes, printed back."""

from __future__ import annotations

import polars as pl
import pytest

from assessment import durations
from assessment.errors import ValidationError


@pytest.mark.parametrize("text, minutes", [
    ("30m", 30), ("30 min", 30), ("4h", 240), ("4 hours", 240), ("2d", 2880), ("1w", 10080), ("1h30m", 90),
    ("1 d 4 h", 1680), ("0m", 0), ("PT4H", 240), ("pt30m", 30), ("P2D", 2880), ("P1W", 10080),
    ("P1DT4H30M", 1710), ("PT0M", 0), ("  8H ", 480),
])
def test_readable_forms(text, minutes):
    assert durations.parse(text) == minutes


@pytest.mark.parametrize("text", ["", "  ", None])
def test_empty_is_no_value(text):
    assert durations.parse(text) is None


@pytest.mark.parametrize("text, why", [
    ("90", "90 has no unit"), ("P1M", "years or months"), ("P1Y", "years or months"), ("PT30S", "cannot read"),
    ("four hours", "cannot read"), ("4h 2d", "cannot read"), ("-4h", "cannot read"),
])
def test_unreadable_forms_say_why_and_name_the_field(text, why):
    with pytest.raises(ValidationError) as err:
        durations.parse(text, "rto")
    assert err.value.problems[0].startswith("rto: ") and why in err.value.problems[0]


def test_a_whole_column_at_once():
    minutes, problems = durations.parse_column(pl.Series("rto", ["4h", None, "x", "PT1H"]))
    assert minutes.to_list() == [240, None, None, 60]
    assert [p is None for p in problems.to_list()] == [True, True, False, True]


@pytest.mark.parametrize("minutes, text, iso", [
    (0, "0 min", "PT0M"), (30, "30 min", "PT30M"), (60, "1 h", "PT1H"), (90, "1 h 30 min", "PT1H30M"),
    (1440, "1 d", "P1D"), (1680, "1 d 4 h", "P1DT4H"), (10080, "1 w", "P7D"), (11581, "1 w 1 d 1 h 1 min", "P8DT1H1M"),
])
def test_printing_round_trips(minutes, text, iso):
    assert durations.format(minutes) == text and durations.iso(minutes) == iso
    assert durations.parse(text) == minutes and durations.parse(iso) == minutes
    assert pl.select(durations.expr(pl.lit(minutes))).item() == text


def test_no_value_prints_empty():
    assert durations.format(None) == "" and durations.iso(None) == ""
    assert pl.select(durations.expr(pl.lit(None, dtype=pl.Int64))).item() is None
