"""The Campaigns page creates cycles with a chosen version, units and carry-forward, and registers versions after
showing their diff; the self-assessment form marks carried answers and confirms them (Streamlit AppTest)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from assessment import access, campaigns, carry, catalog, versions, workflow
from assessment.errors import NotFound
from assessment.model import Answer
from assessment.questionnaire import DEFAULT_QUESTIONNAIRE

from .helpers.apptest import (
    HEAD_PAY,
    MANAGER,
    UNIT_PAY,
    app_db,
    assert_ok,
    by_key,
    open_campaign,
    open_page,
    sign_in,
    start,
)

SYSTEM = access.SYSTEM
V11 = DEFAULT_QUESTIONNAIRE.parent / "itscm-core-1.1.yaml"
NEW_ID = "2027-X"


def frame_with(at, column: str):
    """The (pandas) value of the page's table that has this column."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def create_on_page(at, **choices) -> None:
    by_key(at.text_input, "cp_new_id").set_value(NEW_ID)
    by_key(at.selectbox, "cp_new_version").set_value("itscm-core@1.1.0")
    by_key(at.selectbox, "cp_prev").set_value(choices.get("previous", ""))
    at.run()
    if choices.get("carry"):
        by_key(at.checkbox, "cp_carry").check()
    by_key(at.radio, "cp_units_by").set_value(choices.get("by", "all")).run()
    if choices.get("divisions"):
        by_key(at.multiselect, "cp_units_div").set_value(choices["divisions"])
    by_key(at.date_input, "cp_new_opens").set_value(date(2027, 1, 4))
    by_key(at.date_input, "cp_new_due").set_value(date(2027, 2, 15))
    by_key(at.date_input, "cp_new_closes").set_value(date(2027, 2, 28))
    by_key(at.button, "cp_create").click().run()


@pytest.mark.usefixtures("app_env")
def test_a_manager_creates_a_cycle_for_one_division_with_answers_carried_over():
    division = catalog.unit(app_db(), SYSTEM, UNIT_PAY)["division_id"]
    expected = catalog.units(app_db(), SYSTEM).filter(pl.col("division_id") == division)["unit_id"].sort().to_list()
    at = open_page(MANAGER, "campaigns.py")
    create_on_page(at, previous=open_campaign(), carry=True, by="division", divisions=[division])
    assert_ok(at)
    assert any("carried over for their heads to confirm or change" in s.value for s in at.success)
    made = campaigns.get(app_db(), SYSTEM, NEW_ID)
    assert (made["questionnaire_version"], made["status"], made["opens_on"]) == ("1.1.0", "planned", date(2027, 1, 4))
    assert campaigns.assessments(app_db(), SYSTEM, NEW_ID)["unit_id"].sort().to_list() == expected
    assert carry.carried(app_db(), SYSTEM, NEW_ID, UNIT_PAY).height > 0


@pytest.mark.usefixtures("app_env")
def test_a_cycle_with_no_previous_one_and_every_problem_listed():
    at = open_page(MANAGER, "campaigns.py")
    assert not by_key(at.checkbox, "cp_carry").value
    by_key(at.radio, "cp_units_by").set_value("list").run()
    create_on_page(at, by="list")  # a list with no unit in it
    assert any("the selection covers no active unit" in e.value for e in at.error), [e.value for e in at.error]
    with pytest.raises(NotFound):
        campaigns.get(app_db(), SYSTEM, NEW_ID)
    create_on_page(at)
    assert_ok(at)
    made = campaigns.get(app_db(), SYSTEM, NEW_ID)
    assert made["previous_campaign_id"] is None
    assert len(campaigns.assessments(app_db(), SYSTEM, NEW_ID)) == catalog.units(app_db(), SYSTEM).height


@pytest.mark.usefixtures("app_env")
def test_a_department_head_cannot_create_cycles_or_register_versions():
    at = sign_in(start(), HEAD_PAY)
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # not in a head's navigation
        at.switch_page("views/campaigns.py")


@pytest.mark.usefixtures("app_env")
def test_register_a_version_after_seeing_its_diff():
    at = open_page(MANAGER, "campaigns.py")
    text = V11.read_text(encoding="utf-8")
    broken = text.replace("weight: 1.5", "weight: -1", 1).replace('version: "1.1.0"', 'version: ""')
    by_key(at.file_uploader, "cp_q_file").set_value(("broken.yaml", broken.encode(), "application/yaml")).run()
    assert any("2 problem(s) in broken.yaml" in e.value for e in at.error), [e.value for e in at.error]
    problems = frame_with(at, "problem")["problem"].to_list()
    assert len(problems) == 2 and any("weight" in p for p in problems)
    assert not [b for b in at.button if b.key == "cp_q_register"]

    new = text.replace('version: "1.1.0"', 'version: "1.2.0"').replace("weight: 1.5", "weight: 2.0", 1)
    by_key(at.file_uploader, "cp_q_file").set_value(("core-1.2.yaml", new.encode(), "application/yaml")).run()
    assert_ok(at)
    diff = frame_with(at, "field")
    # One weight changed: the first question with weight 1.5 in the file.
    assert diff.shape[0] == 1 and list(diff.iloc[0][["section", "change", "field", "old", "new"]]) == [
        "questions", "changed", "weight", "1.5", "2.0"]
    shown = {m.label: m.value for m in at.metric}
    assert [shown[k] for k in ("Questions added", "Questions removed", "Questions changed")] == ["0", "0", "1"]
    by_key(at.button, "cp_q_register").click().run()
    assert_ok(at)
    assert "1.2.0" in versions.stored(app_db(), SYSTEM)["version"].to_list()


def _carried_cycle() -> str:
    """An open cycle in which Payments' draft starts from its last submitted answers (1.0.0 -> 1.1.0)."""
    q = versions.resolve(app_db(), "itscm-core@1.1.0")
    campaigns.create(app_db(), SYSTEM, NEW_ID, "Carried", q, date(2026, 1, 1), date(2099, 1, 1), date(2099, 2, 1),
                     status="open", carry_forward=True, previous=open_campaign())
    return NEW_ID


@pytest.mark.usefixtures("app_env")
def test_the_head_sees_carried_answers_confirms_them_and_then_submits():
    cid = _carried_cycle()
    states = carry.carried(app_db(), SYSTEM, cid, UNIT_PAY)
    carried_ids = states["question_id"].to_list()
    q = versions.resolve(app_db(), "itscm-core@1.1.0")
    new_ids = [x.id for x in q.questions if x.id not in carried_ids]
    head = open_page(HEAD_PAY, "self_assessment.py")
    by_key(head.selectbox, "sa_campaign").set_value(cid).run()
    assert_ok(head)
    marks = [m.value for m in head.markdown if "Carried over, confirm or change" in m.value]
    assert len(marks) == len(carried_ids)
    assert f"first given on {states['first_given_on'][0]:%d %b %Y}" in marks[0]
    # Answer the questions nothing was carried for, then submit: refused, naming the carried answers.
    workflow.save_answers(app_db(), SYSTEM, cid, UNIT_PAY, [Answer(qid, 1) for qid in new_ids])
    by_key(head.button, "sa_submit").click().run()
    assert any("not confirmed or changed" in e.value and carried_ids[0] in e.value for e in head.error)
    # Confirm one domain at once, one question on its own; the rest by domain.
    first = q.domains[0]
    by_key(head.button, f"sa_confirm_domain|{first.id}").click().run()
    assert_ok(head)
    left = carry.carried(app_db(), SYSTEM, cid, UNIT_PAY).filter(pl.col("state") == carry.TO_CONFIRM)
    assert not set(left["question_id"]) & {x.id for x in first.questions}
    by_key(head.button, f"sa_confirm|{left['question_id'][0]}").click().run()
    assert_ok(head)
    for d in q.domains[1:]:
        if any(b.key == f"sa_confirm_domain|{d.id}" for b in head.button):
            by_key(head.button, f"sa_confirm_domain|{d.id}").click().run()
    assert set(carry.carried(app_db(), SYSTEM, cid, UNIT_PAY)["state"]) == {carry.CONFIRMED}
    assert not [m for m in head.markdown if "Carried over, confirm or change" in m.value]
    by_key(head.button, "sa_submit").click().run()
    assert_ok(head)
    assert workflow.assessment(app_db(), SYSTEM, cid, UNIT_PAY)["status"] == "submitted"
