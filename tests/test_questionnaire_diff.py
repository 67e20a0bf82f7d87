"""The version diff, checked by hand against the YAML of itscm-core 1.0.0 and 1.1.0 and an edited mini."""

from __future__ import annotations

import polars as pl
import pytest

from assessment.questionnaire import DEFAULT_QUESTIONNAIRE, load_file, loads
from assessment.questionnaire_diff import diff, summary

from .conftest import FIXTURES

V11 = DEFAULT_QUESTIONNAIRE.parent / "itscm-core-1.1.yaml"


@pytest.fixture(scope="module")
def core():
    return diff(load_file(DEFAULT_QUESTIONNAIRE), load_file(V11))


def cell(df, item, field):
    rows = df.filter((pl.col("item") == item) & (pl.col("field") == field))
    return rows.select("old", "new").row(0) if rows.height else None


def test_questions_added_and_removed_1_0_0_to_1_1_0(core):
    q = core.filter(pl.col("section") == "questions")
    assert sorted(q.filter(pl.col("change") == "added")["item"]) == ["GOV-08", "GOV-09", "RISK-08", "RISK-09"]
    assert q.filter(pl.col("change") == "removed").height == 0  # 43 + 4 = 47
    assert summary(core)["questions added"] == 4 and summary(core)["questions removed"] == 0


def test_text_descriptors_references_and_tags_1_0_0_to_1_1_0(core):
    old, new = cell(core, "GOV-05", "text")
    assert old.startswith("Does your unit's management actively back") and new.startswith("Has management approved")
    assert cell(core, "GOV-05", "checklist") == ('["CL-03", "CL-14"]', '["CL-14"]')
    assert cell(core, "GOV-05", "respondent") == ("unit_head", "continuity_office")
    assert cell(core, "GOV-05", "descriptor 0") == (
        "Management shows no interest in IT continuity and no resources are allocated to it.",
        "No continuity work plan, budget line or allocated effort exists for the unit.")
    assert cell(core, "GOV-05", "weight") is None  # 1.5 in both
    assert cell(core, "GOV-01", "references") == (None, "DORA RTS-2024/1774 Art.24, ISO27001 A.5.30")
    assert cell(core, "GOV-04", "references") == ("DORA RTS-2024/1774 Art.26(1)",
                                                  "DORA Art.5(2)(c), DORA RTS-2024/1774 Art.24(1)(b)(i)")
    assert cell(core, "TEST-02", "na_allowed") == ("False", "True")
    assert core.filter(pl.col("field") == "weight").height == 0


def test_scale_and_policy_1_0_0_to_1_1_0(core):
    scale = core.filter(pl.col("section") == "scale")
    assert scale["item"].to_list() == ["level 2", "level 3", "level 4", "level 5"]  # cumulative wording
    assert cell(core, "level 2", "description")[1].startswith("Everything level 1 asks, and:")
    policy = core.filter(pl.col("section") == "policy")
    assert policy["item"].to_list() == ["cumulative", "record_rules", "recovery_testing"]
    assert cell(core, "cumulative", "cumulative") == ("False", "True")
    assert cell(core, "record_rules", "record_rules")[0] == "[]"
    assert '"question_id": "TEST-07"' in cell(core, "record_rules", "record_rules")[1]


def test_weights_tiers_and_evidence_rule_of_an_edited_mini():
    text = (FIXTURES / "mini.yaml").read_text()
    edited = (text.replace('version: "1.0.0"', 'version: "1.1.0"').replace("weight: 3.0", "weight: 2.0")
              .replace("max_age_months: 12", "max_age_months: 6")
              .replace('- {tier: 1, name: "Tier 1", target: 4, factor: 3}', '- {tier: 1, name: "Tier 1", target: 4.5, '
                                                                           'factor: 3}')
              .replace("weight: 2.0\n    questions", "weight: 1.5\n    questions"))
    df = diff(loads(text, base_dir=FIXTURES), loads(edited, base_dir=FIXTURES))
    assert cell(df, "GOV-02", "weight") == ("3.0", "2.0")
    assert cell(df, "GOV", "weight") == ("2.0", "1.5")
    old, new = cell(df, "evidence_rule", "evidence_rule")
    assert '"max_age_months": 12' in old and '"max_age_months": 6' in new
    assert '"target": 4.5' in cell(df, "tier 1", "tier")[1]
    assert df.height == 4


def test_the_same_version_has_no_differences():
    q = load_file(V11)
    assert diff(q, q).height == 0
