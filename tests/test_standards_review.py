"""Each reference the practitioner's review (shared/reference/questionnaire-review.md) found wrong or doubtful
in 1.0.0 is corrected in 1.1.0 the way the review asked.

The table is written here from the review, not read from either questionnaire: the first check proves it
describes the file the review read (1.0.0 did cite each reference it calls wrong), the second that 1.1.0 no
longer does and cites what the review asked for instead. tests/test_questionnaire_v11.py covers the review's
additions and omissions; this file pins the corrections against both versions.
"""

from __future__ import annotations

import pytest

from assessment.cli import main
from assessment.questionnaire import DEFAULT_QUESTIONNAIRE, QUESTIONNAIRE_DIR, load_file

RTS = "RTS-2024/1774 "
V11 = QUESTIONNAIRE_DIR / "itscm-core-1.1.yaml"

# (question, the reference the review found wrong or doubtful, what the review asked 1.1.0 to cite instead)
CORRECTIONS = [
    # "Wrong references (fix first)"
    ("GOV-04", ("DORA", RTS + "Art.26(1)"), {("DORA", RTS + "Art.24(1)(b)(i)"), ("DORA", "Art.5(2)(c)")}),
    ("COMM-06", ("DORA", RTS + "Art.24(1)(a)(iv)"), {("DORA", RTS + "Art.24(1)(b)(i)")}),
    ("PLAN-08", ("DORA", RTS + "Art.39(2)(c)"), {("DORA", RTS + "Art.26(1)(d)"), ("DORA", RTS + "Art.39(2)(b)")}),
    ("PLAN-05", ("DORA", "Art.11(8)"), {("DORA", "Art.8(4)"), ("DORA", "Art.8(5)"), ("DORA", "Art.8(6)"),
                                        ("DORA", RTS + "Art.26(1)(d)")}),
    ("TEST-05", ("DORA", "Art.24(6)"), {("DORA", RTS + "Art.25(2)"), ("DORA", RTS + "Art.25(5)"),
                                        ("DORA", "Art.11(6) subpara.3")}),
    # "Doubtful references"
    ("GOV-06", ("NISTCSF", "GV.PO-02"), {("NISTCSF", "ID.IM-04"), ("DORA", "Art.11(6) subpara.3")}),
    ("RISK-01", ("NIST80034", "3.3"), {("NIST80030", "ch.3"), ("NISTCSF", "ID.RA-04")}),
    ("RISK-02", ("DORA", RTS + "Art.25(2)"), {("DORA", RTS + "Art.26(2)"), ("ISO22301", "8.2.3")}),
    ("RISK-07", ("DORA", "Art.12(3)"), {("DORA", "Art.12(1)(a)")}),
    ("PLAN-02", ("ISO22301", "8.4.5"), {("ISO22301", "8.4.4"), ("ISO22301", "8.4.1"), ("DORA", "Art.11(2)(c)")}),
    ("PLAN-02", ("NIST80034", "App.A"), set()),
    ("PLAN-06", ("ITIL", "ITIL4-Info-Tech"), {("ITIL", "ITIL4-SCM")}),
    ("PPL-04", ("DORA", "Art.14(2)"), {("DORA", RTS + "Art.25(2)(e)")}),
    ("COMM-06", ("ISO27001", "A.6.8"), {("ISO22301", "8.4.2")}),
    ("COMM-06", ("ISO27001", "A.5.25"), {("ISO22301", "8.4.2")}),
    ("TEST-03", ("NISTCSF", "RC.RP-03"), {("NISTCSF", "PR.DS-11")}),
    ("TEST-04", ("NIST80053", "CP-3(1)"), {("NIST80053", "CP-4")}),
]
# References the review moved to another question rather than dropping: (from, to, reference)
MOVED = [
    ("COMM-06", "COMM-05", ("DORA", RTS + "Art.24(1)(a)(iv)")),
    ("TEST-05", "TEST-01", ("DORA", "Art.24(6)")),
    ("TEST-05", "TEST-02", ("DORA", "Art.24(6)")),
    ("RISK-07", "TEST-03", ("DORA", "Art.12(3)")),
]


@pytest.fixture(scope="module")
def v10():
    return load_file(DEFAULT_QUESTIONNAIRE)


@pytest.fixture(scope="module")
def v11():
    return load_file(V11)


def cites(q, qid: str) -> set[tuple[str, str]]:
    return {(r.standard, r.clause) for r in q.question(qid).references}


@pytest.mark.parametrize(("qid", "wrong", "instead"), CORRECTIONS, ids=[f"{c[0]} {c[1][1]}" for c in CORRECTIONS])
def test_a_reference_the_review_found_wrong_is_replaced_as_asked(v10, v11, qid, wrong, instead):
    assert wrong in cites(v10, qid), f"the review read 1.0.0 {qid} citing {wrong}"
    assert wrong not in cites(v11, qid)
    assert instead <= cites(v11, qid), f"1.1.0 {qid} lacks {sorted(instead - cites(v11, qid))}"


@pytest.mark.parametrize(("source", "target", "ref"), MOVED, ids=[f"{m[2][1]} to {m[1]}" for m in MOVED])
def test_a_reference_the_review_moved_sits_on_its_new_question(v11, source, target, ref):
    assert ref not in cites(v11, source) and ref in cites(v11, target)


def test_the_ict_continuity_control_leads_gov01_and_disruption_security_stays_secondary(v10, v11):
    iso10 = [r.clause for r in v10.question("GOV-01").references if r.standard == "ISO27001"]
    iso11 = [r.clause for r in v11.question("GOV-01").references if r.standard == "ISO27001"]
    assert iso10[0] == "A.5.29" and iso11[:2] == ["A.5.30", "A.5.29"]


def test_questionnaire_validate_and_coverage_run_on_1_1_0(capsys):
    assert main(["questionnaire", "validate", str(V11)]) == 0
    assert "valid — itscm-core@1.1.0, 6 domains, 47 questions" in capsys.readouterr().out
    assert main(["questionnaire", "coverage", str(V11)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Coverage of itscm-core@1.1.0 (47 questions)")
    assert "% of in-scope catalogue clauses cited" in out and "Clauses deliberately out of scope (4)" in out
