"""Questionnaire itscm-core 1.1.0 and the format extensions it uses.

The expected references, respondents and reworks below are written from the practitioner's review
(shared/reference/questionnaire-review.md), not read from the questionnaire, so a regression in the file
fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assessment import coverage
from assessment.cli import main
from assessment.model import RESPONDENTS, TAG_KINDS, Question, Reference
from assessment.questionnaire import (
    DEFAULT_QUESTIONNAIRE,
    QUESTIONNAIRE_DIR,
    QuestionnaireError,
    load_file,
    load_standards,
    loads,
)

V11 = QUESTIONNAIRE_DIR / "itscm-core-1.1.yaml"
FIXTURES = Path(__file__).parent / "fixtures" / "v11"
# Computed from 1.0.0 before any 1.1.0 work started: closed cycles are stored under this hash.
V10_HASH = "4232b75afee34dffd8aea6ff50efa1f158045257e0fb66b87c1c31ad0470b1af"
RTS = "RTS-2024/1774 "


@pytest.fixture(scope="module")
def v11():
    return load_file(V11)


@pytest.fixture(scope="module")
def v10():
    return load_file(DEFAULT_QUESTIONNAIRE)


def cites(q, qid: str) -> set[tuple[str, str]]:
    return {(r.standard, r.clause) for r in q.question(qid).references}


# ---- 1.0.0 stays as it was ------------------------------------------------------------------------------

def test_default_questionnaire_is_still_1_0_0_with_the_same_content_hash(v10):
    assert DEFAULT_QUESTIONNAIRE.name == "itscm-core.yaml"
    assert (v10.id, v10.version, len(v10.questions)) == ("itscm-core", "1.0.0", 43)
    assert v10.content_hash == V10_HASH
    assert loads(v10.source, check_references=False).content_hash == V10_HASH


def test_1_0_0_gets_the_defaults_of_every_new_field(v10):
    assert v10.policy.cumulative is False and v10.policy.compliance_level == 3
    assert {x.respondent for x in v10.questions} == {"unit_head"}
    assert v10.objectives == v10.practices == v10.building_blocks == ()
    assert all(x.objectives == x.practices == x.building_blocks == () for x in v10.questions)


def test_existing_question_constructor_keeps_working():
    q = Question("GOV-01", "GOV", "t", "g", ("CL-01",), 1.0, "e", False, tuple("abcdef"),
                 (Reference("ISO22301", "5.2"),))
    assert (q.respondent, q.respondent_label, q.objectives) == ("unit_head", "Unit head", ())


# ---- 1.1.0 loads, is a new version of the same questionnaire, and survives storage -----------------------

def test_1_1_0_validates_next_to_1_0_0(v11, v10):
    assert (v11.id, v11.version) == ("itscm-core", "1.1.0")
    assert v11.content_hash != v10.content_hash
    assert len(v11.questions) == 47
    assert [d.id for d in v11.domains] == [d.id for d in v10.domains]


def test_stored_source_reloads_with_every_new_field(v11):
    again = loads(v11.source, name="stored", check_references=False)
    assert again.content_hash == v11.content_hash
    assert again.policy == v11.policy
    assert [(x.id, x.respondent, x.objectives, x.practices, x.building_blocks) for x in again.questions] == \
           [(x.id, x.respondent, x.objectives, x.practices, x.building_blocks) for x in v11.questions]


def test_ids_only_grow_and_new_ones_continue_each_domains_numbering(v11, v10):
    old, new = {x.id for x in v10.questions}, {x.id for x in v11.questions}
    assert old <= new, "no 1.0.0 question may disappear"
    assert new - old == {"GOV-08", "GOV-09", "RISK-08", "RISK-09"}
    for d in v11.domains:
        assert [x.id for x in d.questions] == [f"{d.id}-{i:02d}" for i in range(1, len(d.questions) + 1)]


def test_descriptors_six_distinct_and_specific_with_the_12_month_window_kept(v11, v10):
    for x in v11.questions:
        assert len(x.levels) == 6 and len(set(x.levels)) == 6, x.id
    level3 = [x.levels[3] for x in v11.questions]
    assert len(set(level3)) == len(level3), "level-3 descriptors must be specific to each question"
    for x in v10.questions:
        if "in the last 12 months" in x.levels[3]:
            assert "in the last 12 months" in v11.question(x.id).levels[3], x.id
    for qid in ("GOV-08", "GOV-09", "RISK-08", "RISK-09"):
        assert "in the last 12 months" in v11.question(qid).levels[3]


# ---- cumulative levels -----------------------------------------------------------------------------------

def test_cumulative_policy_is_stated_in_the_scale(v11):
    assert v11.policy.cumulative is True and v11.policy.compliance_level == 3
    rule = v11.policy.evidence_rule
    assert rule.cap_level < rule.min_level
    assert "cumulative" in v11.description.lower()
    for lv in v11.scale[2:]:
        assert lv.description.startswith("Everything level"), lv.name


# ---- references: the review's table, written here ---------------------------------------------------------

# question -> (must cite, must not cite); (standard, clause) as in the catalogue.
REVIEW_REFERENCES = {
    # wrong references
    "GOV-04": ({("DORA", RTS + "Art.24(1)(b)(i)"), ("DORA", "Art.5(2)(c)")}, {("DORA", RTS + "Art.26(1)")}),
    "COMM-06": ({("DORA", RTS + "Art.24(1)(b)(i)"), ("ISO22301", "8.4.2")},
                {("DORA", RTS + "Art.24(1)(a)(iv)"), ("ISO27001", "A.6.8"), ("ISO27001", "A.5.25")}),
    "COMM-05": ({("DORA", RTS + "Art.24(1)(a)(iv)"), ("NISTCSF", "RS.MA-05")}, set()),
    "PLAN-08": ({("DORA", RTS + "Art.26(1)(d)"), ("DORA", RTS + "Art.39(2)(b)")}, {("DORA", RTS + "Art.39(2)(c)")}),
    "PLAN-05": ({("DORA", "Art.8(4)"), ("DORA", "Art.8(5)"), ("DORA", "Art.8(6)"), ("DORA", RTS + "Art.26(1)(d)")},
                {("DORA", "Art.11(8)")}),
    "TEST-05": ({("DORA", RTS + "Art.25(2)"), ("DORA", RTS + "Art.25(5)"), ("DORA", "Art.11(6) subpara.3")},
                {("DORA", "Art.24(6)")}),
    "TEST-01": ({("DORA", "Art.24(6)"), ("DORA", "Art.11(6)(a)"), ("DORA", RTS + "Art.25")}, set()),
    "TEST-02": ({("DORA", "Art.24(6)"), ("DORA", "Art.11(6) subpara.2"), ("DORA", RTS + "Art.25(2)(c)")}, set()),
    # doubtful references
    "GOV-01": ({("ISO27001", "A.5.30"), ("ISO27001", "A.5.29")}, set()),
    "GOV-06": ({("NISTCSF", "ID.IM-04"), ("DORA", "Art.11(6) subpara.3")}, {("NISTCSF", "GV.PO-02")}),
    "RISK-01": ({("NIST80030", "ch.3"), ("NISTCSF", "ID.RA-04")}, {("NIST80034", "3.3")}),
    "RISK-02": ({("ISO22301", "8.2.3"), ("DORA", RTS + "Art.26(2)")}, {("DORA", RTS + "Art.25(2)")}),
    "RISK-07": ({("DORA", "Art.12(1)")}, {("DORA", "Art.12(3)")}),
    "TEST-03": ({("DORA", "Art.12(3)"), ("NISTCSF", "PR.DS-11")}, {("NISTCSF", "RC.RP-03")}),
    "PLAN-02": ({("ISO22301", "8.4.4"), ("ISO22301", "8.4.1"), ("DORA", "Art.11(2)(c)")},
                {("ISO22301", "8.4.5"), ("NIST80034", "App.A")}),
    "PLAN-06": ({("ITIL", "ITIL4-SCM")}, {("ITIL", "ITIL4-Info-Tech")}),
    "PPL-04": ({("DORA", RTS + "Art.25(2)(e)")}, {("DORA", "Art.14(2)")}),
    "TEST-04": ({("NIST80053", "CP-4")}, {("NIST80053", "CP-3(1)")}),
    "PLAN-03": ({("NIST80034", "4.3.2")}, set()),
    "PLAN-04": ({("DORA", "Art.12(4)")}, set()),
    "GOV-02": ({("DORA", "Art.11(2)(b)"), ("DORA", "Art.11(2)(c)")}, set()),
    "RISK-04": ({("DORA", "Art.12(6)"), ("ISO22301", "8.2.2")}, set()),
    # omissions
    "TEST-07": ({("ISO22301", "8.6"), ("ISO22301", "10.1")}, set()),
    "RISK-06": ({("ISO22301", "8.3.3"), ("ISO22301", "8.3.5")}, set()),
    "RISK-05": ({("DORA", "Art.8(4)"), ("DORA", "Art.8(5)"), ("DORA", "Art.8(6)")}, set()),
    "PLAN-01": ({("NISTCSF", "ID.IM-04")}, set()),
}


@pytest.mark.parametrize("qid", sorted(REVIEW_REFERENCES))
def test_reference_is_what_the_review_asked_for(v11, qid):
    must, must_not = REVIEW_REFERENCES[qid]
    got = cites(v11, qid)
    assert must <= got, f"{qid} is missing {sorted(must - got)}"
    assert not (must_not & got), f"{qid} still cites {sorted(must_not & got)}"


def test_ict_continuity_control_is_the_primary_iso27001_reference_of_gov01(v11):
    iso = [r.clause for r in v11.question("GOV-01").references if r.standard == "ISO27001"]
    assert iso[0] == "A.5.30"


def test_risk07_and_risk08_cite_iso22301_strategy_clauses(v11):
    cited = {c for s, c in cites(v11, "RISK-07") | cites(v11, "RISK-08") if s == "ISO22301"}
    assert cited & {"8.3.3", "8.3.4", "8.3.5"}


def test_supplier_questions_carry_the_dora_contract_clauses_and_iso27001_supplier_controls(v11):
    both = cites(v11, "PLAN-09") | cites(v11, "PPL-06")
    need = {("DORA", "Art.28(8)"), ("DORA", "Art.30(3)(c)"), ("DORA", "Art.30(3)(d)"), ("DORA", "Art.30(2)(i)")}
    need |= {("ISO27001", f"A.5.{n}") for n in range(19, 24)}
    assert need <= both, sorted(need - both)


# ---- the catalogue --------------------------------------------------------------------------------------

def test_catalogue_topics_the_review_found_wrong_are_corrected(v11):
    dora = v11.standards["DORA"]["clauses"]
    invocation = dora[RTS + "Art.24(1)(a)(iv)"].lower()
    assert "activat" in invocation and "escalation" not in invocation
    plan_content = dora[RTS + "Art.26(1)"].lower()
    assert "content" in plan_content and "roles" not in plan_content
    assert "resources" in dora[RTS + "Art.39(2)(c)"].lower()
    assert "escalation" in dora[RTS + "Art.24(1)(b)(i)"].lower()


CLAUSES_ADDED = {
    "DORA": ["Art.8(4)", "Art.8(5)", "Art.8(6)", "Art.28(8)", "Art.30(2)(i)", "Art.30(3)(c)", "Art.30(3)(d)",
             "Art.11(6) subpara.2", "Art.11(6) subpara.3", RTS + "Art.24(1)(b)(i)", RTS + "Art.25(2)(b)",
             RTS + "Art.25(2)(c)", RTS + "Art.25(2)(e)", RTS + "Art.25(5)", "Art.24(6)"],
    "ISO27001": ["A.5.19", "A.5.20", "A.5.21", "A.5.22", "A.5.23"],
    "ISO22301": ["8.6", "8.4.1"],
    "NIST80034": ["3.4.1", "3.4.2", "3.4.3", "3.5.3", "4.3.1", "4.3.2", "App.D"],
    "NIST80030": ["ch.3"],
    "NISTCSF": ["ID.IM-04", "RS.MA-05", "PR.DS-11"],
}


def test_catalogue_holds_every_clause_the_review_listed_as_missing(v11):
    for std, ids in CLAUSES_ADDED.items():
        missing = set(ids) - set(v11.standards[std]["clauses"])
        assert not missing, f"{std} lacks {sorted(missing)}"


def test_iso22301_context_and_objectives_are_out_of_scope_with_reasons(v11):
    oos = coverage.out_of_scope(v11)
    assert sorted(oos.filter(oos["standard"] == "ISO22301")["clause"]) == ["4.1", "4.2", "4.3", "6.2"]
    assert oos["reason"].str.len_chars().min() > 20


def test_1_0_0_still_validates_against_the_changed_catalogue(v10):
    assert v10.standards["DORA"]["clauses"][RTS + "Art.26(1)"]  # cited by 1.0.0 GOV-04: the id stays


# ---- reworked, split and new questions ------------------------------------------------------------------

def test_gov07_split_into_unit_audit_and_organisation_management_review(v11):
    audit, review = v11.question("GOV-07"), v11.question("GOV-08")
    assert "audit" in audit.text.lower() and "management review" not in audit.text.lower()
    assert ("ISO22301", "9.2") in cites(v11, "GOV-07") and ("ISO22301", "9.3") not in cites(v11, "GOV-07")
    assert "management review" in review.text.lower() and "organisation" in review.text.lower()
    assert ("ISO22301", "9.3") in cites(v11, "GOV-08")
    assert (audit.respondent, review.respondent) == ("audit", "continuity_office")


def test_risk07_split_into_frequency_against_rpo_and_protection_of_copies(v11):
    freq, protect = v11.question("RISK-07"), v11.question("RISK-08")
    assert "recovery point objective" in freq.text and "frequency" in freq.text
    assert "offline or immutable" not in freq.levels[3]
    assert "offline or immutable" in protect.levels[3]
    assert "offline or immutable" in protect.text


def test_new_questions_for_obligations_register_and_recovery_priority_order(v11):
    register = v11.question("GOV-09").text.lower()
    assert all(w in register for w in ("register", "service level agreements", "regulatory", "contractual"))
    order = v11.question("RISK-09")
    assert "order" in order.text and "organisation-wide" in order.text
    assert "OBJ-2" in order.objectives


def test_test02_allows_na_for_saas_and_rebuild_from_backup_and_times_switch_back(v11):
    x = v11.question("TEST-02")
    assert x.na_allowed
    assert "SaaS" in x.guidance and "TEST-03" in x.guidance
    assert "switch-back" in x.levels[3] and "tier-1" not in x.levels[3]


def test_test07_has_a_path_when_there_was_no_major_incident(v11):
    x = v11.question("TEST-07")
    assert not x.na_allowed
    assert "near miss" in x.text and "near miss" in x.levels[3]
    assert "where none occurred" in x.levels[3]
    assert "no major incident" in x.guidance


def test_reworked_weak_questions(v11, v10):
    gov05 = v11.question("GOV-05")
    assert "work plan" in gov05.text and "actively back" not in gov05.text
    assert gov05.respondent != "unit_head"
    assert "someone other than its author" in v11.question("PLAN-03").levels[3]
    test06 = v11.question("TEST-06")
    assert "post-exercise report" in test06.text and "owned" not in test06.levels[3]
    plan02 = v11.question("PLAN-02").levels[3]
    for playbook in ("ransomware", "clean rebuild", "site or cloud region", "supplier failure or exit",
                     "identity provider"):
        assert playbook in plan02, playbook
    assert "all-hazards" in v11.question("PLAN-02").text
    assert "invoking" in v11.question("COMM-05").text and "escalation" in v11.question("COMM-06").text
    assert v11.question("GOV-06").levels[3] != v10.question("GOV-06").levels[3]
    assert "trigger" in v11.question("GOV-06").levels[3]


# question -> phrase that was a level-5 extra in 1.0.0 and is a level-3 baseline in 1.1.0.
BASELINES_MOVED_TO_LEVEL_3 = {
    "GOV-07": ["risk-based", "supplier"],
    "PLAN-02": ["current threat information"],
    "TEST-01": ["critical ict suppliers"],
    "TEST-04": ["suppliers", "current threat information"],
    "PPL-03": ["crisis management"],
}


@pytest.mark.parametrize("qid", sorted(BASELINES_MOVED_TO_LEVEL_3))
def test_regulatory_baseline_moved_from_level_5_to_level_3(v11, qid):
    for phrase in BASELINES_MOVED_TO_LEVEL_3[qid]:
        assert phrase in v11.question(qid).levels[3].lower(), (qid, phrase)
        assert phrase not in v11.question(qid).levels[5].lower(), (qid, phrase)


# ---- respondents ----------------------------------------------------------------------------------------

# The review's fourteen questions that need someone other than the unit head, and who that is.
REVIEW_RESPONDENTS = {
    "GOV-05": "continuity_office", "GOV-07": "audit", "RISK-03": "continuity_office",
    "RISK-05": "service_owner", "RISK-06": "service_owner", "RISK-07": "service_owner",
    "PLAN-03": "service_owner", "PLAN-04": "service_owner", "PLAN-05": "service_owner",
    "PLAN-08": "continuity_office", "TEST-02": "service_owner", "TEST-03": "service_owner",
    "COMM-01": "continuity_office", "COMM-03": "service_owner",
}


def test_the_fourteen_questions_have_their_respondent(v11):
    assert len(REVIEW_RESPONDENTS) == 14
    assert {qid: v11.question(qid).respondent for qid in REVIEW_RESPONDENTS} == REVIEW_RESPONDENTS
    assert set(RESPONDENTS) == {"unit_head", "service_owner", "continuity_office", "audit"}
    assert {x.respondent for x in v11.questions} == set(RESPONDENTS)


# ---- tags -----------------------------------------------------------------------------------------------

def test_seed_lists_are_tagged_and_every_item_is_covered(v11):
    assert [len(v11.tag_items(k)) for k in TAG_KINDS] == [16, 5, 5, 3]
    for kind in TAG_KINDS:
        cov = coverage.tag_coverage(v11, kind)
        assert cov.height == len(v11.tag_items(kind))
        assert cov["count"].min() >= 1, kind
    for x in v11.questions:
        assert x.objectives and x.building_blocks, x.id


# ---- format validation: every problem at once, with its path ----------------------------------------------

def problems(name: str) -> list[str]:
    with pytest.raises(QuestionnaireError) as err:
        load_file(FIXTURES / name)
    return err.value.problems


def test_unknown_tags_bad_respondent_and_non_boolean_cumulative_reported_together():
    assert sorted(problems("bad-tags.yaml")) == sorted([
        "policy.cumulative: expected true or false, got 'sometimes'",
        "domains[0].questions[0].objectives[0]: unknown objective 'OBJ-9'",
        "domains[0].questions[0].practices[0]: unknown practice 'BP-7'",
        "domains[0].questions[1].building_blocks[1]: unknown building block 'BB-9'",
        "domains[1].questions[0].respondent: expected one of audit, continuity_office, service_owner, "
        "unit_head, got 'cio'",
        "domains[1].questions[1].practices: expected a list, got str",
        "practices[1]: item 'BP-2' is not covered by any question",
    ])


def test_cap_not_below_min_level_under_cumulative_and_catalogue_problems_reported_together():
    cat = "standards_catalogue: bad-standards.yaml: standards.ISO22301.out_of_scope"
    assert sorted(problems("bad-cumulative.yaml")) == sorted([
        f"{cat}[1].clause: unknown clause '9.9' for ISO22301",
        f"{cat}[2].clause: clause '4.1' is listed twice",
        f"{cat}[3].reason: missing",
        f"{cat}[3].clause: unknown clause '8.6' for ISO22301",
        "policy.evidence_rule.cap_level: must be below min_level (3) when policy.cumulative is true, got 3",
        "policy.compliance_level: must be between 0 and 5, got 6",
        "domains[0].questions[0].references[1].clause: clause '4.1' of ISO22301 is listed as out of scope "
        "in the catalogue",
    ])


def test_same_cap_is_accepted_without_cumulative_levels():
    text = (FIXTURES / "tagged-mini.yaml").read_text().replace("cumulative: true", "cumulative: false")
    q = loads(text.replace("cap_level: 2}", "cap_level: 3}"), base_dir=FIXTURES)
    assert (q.policy.cumulative, q.policy.evidence_rule.cap_level) == (False, 3)


def test_load_standards_names_the_catalogue_file():
    with pytest.raises(QuestionnaireError) as err:
        load_standards(FIXTURES / "bad-standards.yaml")
    assert "bad-standards.yaml" in str(err.value) and len(err.value.problems) == 4


# ---- coverage, computed by hand on tests/fixtures/v11 ----------------------------------------------------

@pytest.fixture(scope="module")
def mini():
    return load_file(FIXTURES / "tagged-mini.yaml")


def test_tagged_mini_exposes_every_field(mini):
    assert (mini.policy.cumulative, mini.policy.compliance_level) == (True, 4)
    assert [x.respondent for x in mini.questions] == ["unit_head", "audit", "service_owner", "continuity_office"]
    assert mini.question("GOV-02").respondent_label == "Audit"
    assert [t.id for t in mini.objectives] == ["OBJ-1", "OBJ-2"]
    assert mini.question("GOV-02").objectives == ("OBJ-1", "OBJ-2")
    assert mini.standards["ISO22301"]["out_of_scope"] == {"4.1": "Set once for the whole management system"}


def test_tag_coverage_by_hand(mini):
    def rows(kind):
        return coverage.tag_coverage(mini, kind).select("item", "questions", "count").rows()
    assert rows("objectives") == [("OBJ-1", "GOV-01, GOV-02", 2), ("OBJ-2", "GOV-02, TEST-01, TEST-02", 3)]
    assert rows("practices") == [("BP-1", "GOV-01, TEST-01, TEST-02", 3)]
    assert rows("building_blocks") == [("BB-1", "GOV-01, GOV-02", 2), ("BB-2", "TEST-01, TEST-02", 2)]
    assert rows("checklist") == [("CL-01", "GOV-01, GOV-02", 2), ("PM", "TEST-01, TEST-02", 2)]


def test_clause_coverage_by_hand(mini):
    # ISO22301: 4 catalogue clauses, 4.1 out of scope, 5.2 and 8.5 cited -> 2/4 = 50 %, 2/3 in scope = 67 %.
    # DORA: 2 clauses, Art.11(1) cited by GOV-01 and GOV-02 -> 1/2 = 50 %.
    got = {r["standard"]: r for r in coverage.standard_coverage(mini).iter_rows(named=True)}
    iso, dora = got["ISO22301"], got["DORA"]
    assert (iso["clauses in catalogue"], iso["out of scope"], iso["clauses cited"], iso["questions citing"]) == \
           (4, 1, 2, 3)
    assert (iso["% of catalogue clauses cited"], iso["% of in-scope catalogue clauses cited"]) == (50.0, 67.0)
    assert (dora["clauses cited"], dora["questions citing"], dora["% of catalogue clauses cited"]) == (1, 2, 50.0)
    table = {(r[0], r[1]): (r[3], r[4], r[5]) for r in coverage.clause_table(mini).rows()}
    assert table[("ISO22301", "4.1")] == ("out of scope", "", 0)
    assert table[("ISO22301", "8.5")] == ("cited", "TEST-01, TEST-02", 2)
    assert table[("ISO22301", "8.6")] == ("not cited", "", 0)
    assert table[("DORA", "Art.11(6)(a)")] == ("not cited", "", 0)


# ---- the CLI -------------------------------------------------------------------------------------------

def test_cli_validate_reports_the_new_policy(capsys):
    assert main(["questionnaire", "validate", str(V11)]) == 0
    out = capsys.readouterr().out
    assert "itscm-core@1.1.0" in out and "47 questions" in out
    assert "levels cumulative" in out and "Audit 1" in out and "TEST-02" in out


def test_cli_coverage_prints_every_list_and_labels_clause_shares_honestly(v11, capsys):
    assert main(["questionnaire", "coverage", str(V11)]) == 0
    out = capsys.readouterr().out
    for kind in TAG_KINDS:
        for item in v11.tag_items(kind):
            assert f"| {item.id} " in out and f"  {item.id}:" in out, item.id
    assert "% of catalogue clauses cited" in out and "not the whole standard" in out
    assert "Clauses deliberately out of scope (4)" in out and "ISO22301 6.2 (" in out
    assert "% cited |" not in out


def test_cli_coverage_of_1_0_0_says_it_has_no_objective_tags(capsys):
    assert main(["questionnaire", "coverage", str(DEFAULT_QUESTIONNAIRE)]) == 0
    out = capsys.readouterr().out
    assert "Objectives (0)" in out and "(none defined in this version)" in out
