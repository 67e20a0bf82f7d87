"""The answer rules, written once: every rule over a batch, the messages, "answered", "changed", and the page's
save path (workflow.save_answers) refusing what the Excel import refuses."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from assessment import answer_rules, workflow
from assessment.answer_rules import MAX_LENGTH, MIN_EVIDENCE_DATE
from assessment.errors import InvalidState, ValidationError
from assessment.model import Answer
from assessment.storage import answers as answers_sql
from assessment.storage._sql import answered as answered_sql
from assessment.storage.db import frame

from .conftest import ADMIN

TODAY = date(2026, 6, 30)


def codes(mini_q, answers: list[Answer]) -> list[tuple[int, str, str]]:
    return [(v.row, v.field, v.code) for v in answer_rules.check(mini_q, answer_rules.batch(answers), today=TODAY)]


# ---- each rule: (row, field, code) -------------------------------------------------------------------------------

def test_a_valid_batch_has_no_problems(mini_q):
    assert codes(mini_q, [Answer("GOV-01", 0), Answer("GOV-02", 5, evidence=" minutes ", evidence_url="HTTPS://x",
                                                        evidence_date=MIN_EVIDENCE_DATE),
                          Answer("TEST-01", is_na=True, na_reason="none"),
                          Answer("TEST-02", 3, evidence_url="\\\\server\\share\\plan.docx", evidence_date=TODAY)]) == []


@pytest.mark.parametrize("answer, expected", [
    (Answer("GOV-01", 6), [(1, "level", "level_range")]),
    (Answer("GOV-01", -1), [(1, "level", "level_range")]),
    (Answer("GOV-01", 3.5), [(1, "level", "not_a_level")]),          # type: ignore[arg-type]
    (Answer("GOV-01", True), [(1, "level", "not_a_level")]),         # a bool is not a level
    (Answer("GOV-01", 10 ** 30), [(1, "level", "not_a_level")]),     # too large for any column: named, not a crash
    (Answer("TEST-01", 2, is_na=True, na_reason="x"), [(1, "level", "level_and_na")]),
    (Answer("GOV-01", is_na=True, na_reason="x"), [(1, "is_na", "na_not_allowed")]),
    (Answer("TEST-01", is_na=True, na_reason="   "), [(1, "na_reason", "na_reason_missing")]),
    (Answer("TEST-01", 2, na_reason="stray"), [(1, "na_reason", "reason_without_na")]),
    (Answer("GOV-01", 2, evidence_date=date(2026, 7, 1)), [(1, "evidence_date", "future_date")]),
    (Answer("GOV-01", 2, evidence_date=date(1999, 12, 31)), [(1, "evidence_date", "early_date")]),
    (Answer("GOV-01", 2, evidence_date="last week"), [(1, "evidence_date", "not_a_date")]),  # type: ignore[arg-type]
    (Answer("GOV-01", 2, evidence_url="javascript:alert(1)"), [(1, "evidence_url", "not_a_link")]),
    (Answer("GOV-01", 2, evidence_url="ftp://host/x"), [(1, "evidence_url", "not_a_link")]),
    (Answer("NOPE-01", 2), [(1, "question_id", "unknown_question")]),
])
def test_each_rule(mini_q, answer, expected):
    assert codes(mini_q, [answer]) == expected


@pytest.mark.parametrize("field", answer_rules.TEXT_FIELDS)
def test_length_limits_per_field_count_characters_after_stripping(mini_q, field):
    limit = MAX_LENGTH[field]
    base = {"evidence_url": "https://x/"}.get(field, "")
    extra = {"na_reason": {"is_na": True}}.get(field, {"level": 2})
    qid = "TEST-01"
    at_limit = Answer(qid, **extra, **{field: "  " + base + "é" * (limit - len(base)) + "\n"})
    over = Answer(qid, **extra, **{field: base + "é" * (limit - len(base) + 1)})
    assert codes(mini_q, [at_limit]) == []
    assert codes(mini_q, [over]) == [(1, field, "too_long")]


def test_duplicates_name_every_row(mini_q):
    found = answer_rules.check(mini_q, answer_rules.batch([Answer("GOV-01", 1), Answer("GOV-02", 1),
                                                           Answer("GOV-01", 2)]), today=TODAY)
    assert [(v.row, v.code, v.message()) for v in found] == [
        (1, "duplicate", "duplicate row: GOV-01 appears in rows 1, 3"),
        (3, "duplicate", "duplicate row: GOV-01 appears in rows 1, 3")]


def test_duplicates_are_per_unit_when_the_batch_has_units(mini_q):
    batch = answer_rules.batch([Answer("GOV-01", 1)] * 3).with_columns(
        pl.Series("unit_id", ["U1", "U2", "U1"]), pl.Series("row", [7, 8, 9]))
    assert [(v.row, v.value, v.detail) for v in answer_rules.check(mini_q, batch, today=TODAY)] == [
        (7, "U1/GOV-01", "7, 9"), (9, "U1/GOV-01", "7, 9")]


def test_na_reason_is_optional_when_the_policy_says_so(mini_q):
    from dataclasses import replace

    lenient = replace(mini_q, policy=replace(mini_q.policy, na_reason_required=False))
    assert codes(lenient, [Answer("TEST-01", is_na=True)]) == []
    assert codes(mini_q, [Answer("TEST-01", is_na=True)]) == [(1, "na_reason", "na_reason_missing")]


def test_every_code_has_one_message_and_the_messages_name_the_value(mini_q):
    found = answer_rules.check(mini_q, answer_rules.batch([
        Answer("GOV-01", 9), Answer("GOV-02", "high", evidence="x" * 4_321),                # type: ignore[arg-type]
        Answer("TEST-01", is_na=True), Answer("TEST-02", 1, evidence_date=date(1989, 5, 1))]), today=TODAY)
    assert [v.message() for v in found] == [
        "level 9 is out of range: use a whole number from 0 to 5, or N/A",
        "'high' is not a level: use a whole number from 0 to 5, or N/A",
        "the evidence is 4,321 characters long, over the limit of 4,000: shorten it, or put the full text in a "
        "document and link to it",
        "N/A needs a reason",
        "evidence date 1989-05-01 is before 2000-01-01: enter the date the evidence is from"]
    rule_codes = {code for _, code, _, _ in answer_rules._rules(mini_q, TODAY)} | {"duplicate"}
    assert rule_codes | {"campaign_closed", "read_only"} == set(answer_rules.MESSAGES)


# ---- editability -------------------------------------------------------------------------------------------------

def test_not_editable_names_the_campaign_or_each_locked_assessment():
    units = pl.DataFrame({"unit_id": ["U1", "U2", "U3", "U4"],
                          "status": ["draft", "submitted", "returned", "approved"]})
    assert answer_rules.not_editable("C1", "open", units).rows() == [
        ("U2", "the assessment of U2 is submitted: it is read-only until returned"),
        ("U4", "the assessment of U4 is approved: it is read-only until returned")]
    assert answer_rules.not_editable("C1", "closed", units).rows() == [
        (None, "campaign C1 is closed: answers can only change while it is open")]


# ---- answered, changed, stored rows ------------------------------------------------------------------------------

def test_answered_as_an_answer_a_frame_and_sql_agree(org):
    answers = [Answer("GOV-01", 0), Answer("GOV-02"), Answer("TEST-01", is_na=True, na_reason="r"),
               Answer("TEST-02", evidence="only evidence")]
    assert [answer_rules.is_answered(a) for a in answers] == [True, False, True, False]
    org.transaction(lambda cur: answers_sql.append_events(cur, answer_rules.stored(answer_rules.batch(answers))
                                                          .drop("row").with_columns(
        pl.lit("C1").alias("campaign_id"), pl.lit("U1").alias("unit_id"), pl.lit("t").alias("answered_by"),
        pl.lit(datetime(2026, 6, 1)).alias("answered_at"), pl.lit("test").alias("source"))))
    with org.read() as cur:
        by_sql = frame(cur, f"SELECT question_id FROM answer_events a WHERE {answered_sql('a')} ORDER BY 1")
        current = answers_sql.current(cur, "C1", ["U1"])
    by_frame = current.filter(answer_rules.answered())["question_id"].to_list()
    assert by_sql["question_id"].to_list() == by_frame == ["GOV-01", "TEST-01"]


def test_stored_rows_become_answers_and_compare_equal(org):
    given = [Answer("GOV-01", 4, evidence=" policy ", evidence_url="https://x", evidence_date=date(2026, 1, 1),
                    comment="c"), Answer("TEST-01", is_na=True, na_reason="none")]
    workflow.save_answers(org, ADMIN, "C1", "U1", given, today=TODAY)
    loaded = answer_rules.from_frame(workflow.current_answers(org, ADMIN, "C1", "U1"))
    assert loaded["GOV-01"] == Answer("GOV-01", 4, evidence="policy", evidence_url="https://x",
                                      evidence_date=date(2026, 1, 1), comment="c")
    assert answer_rules.from_row("GOV-02", None) == Answer("GOV-02")
    # Stripping and empty text do not count as a change; every other field does, the comment included.
    assert answer_rules.changed_answers(given, loaded) == []
    edits = [Answer("GOV-01", 4, evidence="policy", evidence_url="https://x", evidence_date=date(2026, 1, 1),
                    comment="new"), Answer("TEST-01", is_na=True, na_reason="none"), Answer("GOV-02", 2)]
    assert [a.question_id for a in answer_rules.changed_answers(edits, loaded)] == ["GOV-01", "GOV-02"]


def test_changed_rows_compares_every_field(mini_q):
    base = answer_rules.stored(answer_rules.batch([Answer("GOV-01", 2, evidence="e", evidence_date=TODAY)]))
    variants = {"level": 3, "evidence": "f", "evidence_url": "https://x", "evidence_date": date(2026, 1, 1),
                "comment": "c"}
    for field, value in variants.items():
        kw = {"level": 2, "evidence": "e", "evidence_date": TODAY, field: value}
        new = answer_rules.stored(answer_rules.batch([Answer("GOV-01", **kw)]))
        assert answer_rules.changed_rows(new, base).height == 1, field
    assert answer_rules.changed_rows(base, base).height == 0
    assert set(answer_rules.COMPARED) == {"level", "is_na", *answer_rules.TEXT_FIELDS, "evidence_date"}


# ---- the page's save path ----------------------------------------------------------------------------------------

def test_a_nine_million_character_evidence_is_refused_by_the_page_path(org):
    with pytest.raises(ValidationError) as err:
        workflow.save_answers(org, ADMIN, "C1", "U1", [Answer("GOV-01", 3, evidence="x" * 9_000_000)], today=TODAY)
    assert "GOV-01.evidence: the evidence is 9,000,000 characters long" in str(err.value)
    assert workflow.current_answers(org, ADMIN, "C1", "U1").height == 0


def test_the_page_refuses_what_the_import_refuses(org):
    with pytest.raises(ValidationError) as err:
        workflow.save_answers(org, ADMIN, "C1", "U1", [
            Answer("GOV-01", 2, evidence_date=date(1995, 1, 1)), Answer("TEST-02", 1, na_reason="stray"),
            Answer("GOV-02", 1, comment="c" * 4_001)], today=TODAY)
    assert err.value.problems == [
        "GOV-01.evidence_date: evidence date 1995-01-01 is before 2000-01-01: enter the date the evidence is from",
        "TEST-02.na_reason: an N/A reason is given but the level is not N/A: clear the reason or set the level to N/A",
        "GOV-02.comment: the comment is 4,001 characters long, over the limit of 4,000: shorten it, or put the full "
        "text in a document and link to it"]
    assert workflow.current_answers(org, ADMIN, "C1", "U1").height == 0


def _stored(unit: str, answers: list[Answer]) -> pl.DataFrame:
    return answer_rules.stored(answer_rules.batch(answers)).drop("row").with_columns(pl.lit(unit).alias("unit_id"))


def test_append_answers_writes_only_changes_with_one_audit_entry_per_unit(org):
    workflow.save_answers(org, ADMIN, "C1", "U1", [Answer("GOV-01", 2)], today=TODAY)
    new = pl.concat([_stored("U1", [Answer("GOV-01", 2), Answer("GOV-02", 3)]),
                     _stored("U2", [Answer("GOV-01", 1), Answer("TEST-01", is_na=True, na_reason="none")]),
                     _stored("U3", [Answer("GOV-01")])])  # an empty answer where there is none: no change
    done = org.transaction(lambda cur: workflow.append_answers(cur, ADMIN, "C1", new, source="excel"))
    assert (done.saved, done.unchanged, done.revisions) == (3, 2, {"U1": 2, "U2": 1, "U3": 0})
    with org.read() as cur:
        events = frame(cur, "SELECT unit_id, question_id, source FROM answer_events ORDER BY event_id")
        log = frame(cur, "SELECT object_id, before_json, after_json FROM audit_log WHERE action = 'answers.save' "
                         "ORDER BY seq")
    assert events.rows() == [("U1", "GOV-01", "cli"), ("U1", "GOV-02", "excel"), ("U2", "GOV-01", "excel"),
                             ("U2", "TEST-01", "excel")]
    assert log["object_id"].to_list() == ["C1/U1", "C1/U1", "C1/U2"]
    assert '"GOV-02"' in log["after_json"][1] and '"GOV-01"' not in log["after_json"][1]
    assert log["before_json"][2] == "[]"
    again = org.transaction(lambda cur: workflow.append_answers(cur, ADMIN, "C1", new, source="excel"))
    assert again.saved == 0
    with org.read() as cur:
        assert frame(cur, "SELECT count(*) AS n FROM audit_log WHERE action = 'answers.save'")["n"][0] == 3


def test_append_answers_needs_the_answer_permission_for_every_unit(org):
    from assessment.errors import PermissionDenied
    from assessment.model import Actor

    head = Actor("head.u1", "department_head", frozenset({"U1"}))
    new = pl.concat([_stored("U1", [Answer("GOV-01", 2)]), _stored("U2", [Answer("GOV-01", 2)])])
    with pytest.raises(PermissionDenied, match="may not answer for unit U2"):
        org.transaction(lambda cur: workflow.append_answers(cur, head, "C1", new, source="excel"))
    assert workflow.current_answers(org, ADMIN, "C1", "U1").height == 0


def test_append_answers_refuses_a_closed_campaign(org):
    from assessment import campaigns

    campaigns.set_status(org, ADMIN, "C1", "closed")
    with pytest.raises(InvalidState, match="campaign C1 is closed: answers can only change while it is open"):
        org.transaction(lambda cur: workflow.append_answers(cur, ADMIN, "C1", _stored("U1", [Answer("GOV-01", 2)]),
                                                            source="cli"))


def test_an_empty_answer_where_there_is_none_is_no_change(org):
    assert workflow.save_answers(org, ADMIN, "C1", "U1", [Answer("GOV-01"), Answer("GOV-02", 1)],
                                 today=TODAY).saved == 1
    assert answer_rules.changed_answers([Answer("GOV-01", evidence="  ")], {}) == []
