"""Questionnaire loading: the shipped file validates; broken copies fail with field-level messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from assessment import coverage
from assessment.cli import main
from assessment.questionnaire import DEFAULT_QUESTIONNAIRE, QuestionnaireError, load_file, loads

BROKEN = Path(__file__).parent / "fixtures" / "broken"


def problems(name: str) -> list[str]:
    with pytest.raises(QuestionnaireError) as err:
        load_file(BROKEN / name)
    return err.value.problems


def test_every_problem_is_reported_at_once_with_its_path():
    got = problems("many-problems.yaml")
    assert "domains[1].questions[0].levels: expected 6 descriptors, got 5" in got
    assert "domains[0].questions[1].weight: must be positive, got -1" in got
    assert any(p.startswith("domains[0].questions[1].references[0].standard: unknown standard 'ISO9001'") for p in got)
    assert "domains[1].questions[1].checklist[0]: unknown checklist item 'CL-99'" in got
    assert "domains[1].questions[1].id: duplicate question id 'TEST-01'" in got
    assert len(got) == 5


@pytest.mark.parametrize("name, expected", [
    ("missing-levels.yaml", "domains[1].questions[1].levels: missing"),
    ("uncovered-checklist.yaml", "checklist[2]: item 'CL-15' is not covered by any question"),
    ("unknown-clause.yaml", "domains[1].questions[0].references[0].clause: unknown clause '99.9' for ISO22301"),
])
def test_single_problems(name, expected):
    assert problems(name) == [expected]


def test_invalid_yaml_names_line_and_file():
    with pytest.raises(QuestionnaireError) as err:
        load_file(BROKEN / "bad-yaml.yaml")
    assert "bad-yaml.yaml" in str(err.value) and "line 60" in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(QuestionnaireError, match="cannot read file"):
        load_file(tmp_path / "nope.yaml")


def test_cli_validate_exit_codes(capsys):
    assert main(["questionnaire", "validate", str(BROKEN / "many-problems.yaml")]) == 2
    err = capsys.readouterr().err
    assert "many-problems.yaml: domains[1].questions[0].levels: expected 6 descriptors, got 5" in err
    assert main(["questionnaire", "validate", str(DEFAULT_QUESTIONNAIRE)]) == 0


def test_content_hash_ignores_formatting_but_not_content(mini_q):
    again = loads(mini_q.source, check_references=False)
    assert again.content_hash == mini_q.content_hash
    changed = loads(mini_q.source.replace("weight: 3.0", "weight: 2.0"), check_references=False)
    assert changed.content_hash != mini_q.content_hash


@pytest.fixture(scope="module")
def q():
    return load_file(DEFAULT_QUESTIONNAIRE)


class TestShippedQuestionnaire:
    def test_size_and_shape(self, q):
        assert 5 <= len(q.domains) <= 7
        assert 30 <= len(q.questions) <= 50
        for x in q.questions:
            assert len(x.levels) == 6 and len(set(x.levels)) == 6
            assert x.references

    def test_covers_the_fifteen_checklist_items_and_the_post_mortem_loop(self, q):
        ids = [c.id for c in q.checklist]
        assert ids == [f"CL-{i:02d}" for i in range(1, 16)] + ["PM"]
        cov = coverage.checklist_coverage(q)
        assert cov["count"].min() >= 1

    def test_descriptors_are_written_per_question(self, q):
        firsts = [x.levels[3] for x in q.questions]
        assert len(set(firsts)) == len(firsts), "level-3 descriptors must be specific to each question"

    def test_every_standard_is_cited(self, q):
        cited = {r.standard for x in q.questions for r in x.references}
        assert {"ISO22301", "ISO27001", "NIST80034", "NISTCSF", "DORA", "ITIL"} <= cited

    def test_cli_coverage_lists_every_item(self, q, capsys):
        assert main(["questionnaire", "coverage"]) == 0
        out = capsys.readouterr().out
        for c in q.checklist:
            assert f"| {c.id} " in out


def test_the_standards_catalogue_is_parsed_once_per_process_and_again_when_edited(tmp_path, monkeypatch):
    import yaml

    from assessment import questionnaire as qmod

    path = tmp_path / "standards.yaml"
    path.write_text((qmod.QUESTIONNAIRE_DIR / "standards.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    calls = []
    real = yaml.safe_load
    monkeypatch.setattr(yaml, "safe_load", lambda text: calls.append(1) or real(text))
    first = qmod.load_standards(path)
    assert qmod.load_standards(path) == first and len(calls) == 1
    path.write_text(path.read_text(encoding="utf-8").replace("DORA", "DORA", 1) + "\n# edited\n", encoding="utf-8")
    qmod.load_standards(path)
    assert len(calls) == 2
