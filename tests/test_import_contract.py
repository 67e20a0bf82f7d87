"""The import's id contract: its single pass and the pandera schema built from the same rules agree, row by
row and check by check (a file the pass confirms has no failure case; each broken rule is named on its row)."""

from __future__ import annotations

import polars as pl
import pytest

from assessment.excel import contract
from assessment.excel.format import FORMAT_VERSION, TEMPLATE_KIND

META = {"campaign_id": "C1", "kind": TEMPLATE_KIND, "unit_id": "U1"}
UNITS = ["U1", "U2"]


def _rows(n: int = 3, **changes) -> pl.DataFrame:
    df = pl.DataFrame({"row": list(range(2, 2 + n)), "campaign_id": ["C1"] * n, "unit_id": ["U1"] * n,
                       "question_id": [f"Q{i}" for i in range(n)], "base_event_id": [None] * n,
                       "format": [FORMAT_VERSION] * n, "visible_question": [f"Q{i}" for i in range(n)],
                       "visible_unit": [None] * n, "issued": [True] * n},
                      schema_overrides={"base_event_id": pl.Int64, "visible_unit": pl.String})
    # The second row carries the change.
    return df.with_columns(pl.when(pl.col("row") == 3).then(pl.lit(v)).otherwise(pl.col(c)).alias(c)
                           for c, v in changes.items())


def test_a_file_that_keeps_the_contract_has_no_failure():
    assert contract.failures(_rows(), META, UNITS) is None
    assert contract.failures(_rows(visible_unit="U1"), META, UNITS) is None


@pytest.mark.parametrize(("change", "code"), [
    ({"campaign_id": "C2"}, "campaign"),
    ({"unit_id": "U9"}, "unknown_unit"),
    ({"format": "0"}, "format"),
    ({"visible_question": "Q9"}, "visible_question"),
    ({"visible_unit": "U2"}, "visible_unit"),
    ({"issued": False}, "not_issued"),
])
def test_each_broken_rule_is_named_on_its_row(change, code):
    cases = contract.failures(_rows(**change), {**META, "kind": "pack"}, UNITS)
    assert cases is not None
    assert set(cases.select("check", "index").iter_rows()) == {(code, 1)}


def test_a_template_row_of_another_unit_and_a_missing_id():
    cases = contract.failures(_rows(unit_id="U2"), META, UNITS)
    assert set(cases.select("check", "index").iter_rows()) == {("template_unit", 1)}
    cases = contract.failures(_rows(question_id=None), {**META, "kind": "pack"}, UNITS)
    assert ("not_nullable", 1, "question_id") in set(cases.select("check", "index", "column").iter_rows())


def test_a_column_of_the_wrong_type_is_not_confirmed():
    df = _rows().with_columns(pl.col("row").cast(pl.String))
    cases = contract.failures(df, META, UNITS)
    assert cases is not None and "row" in cases["column"].to_list()
