"""The Organisation page (AppTest): managers list, filter, edit, move and deactivate units; heads and
leadership do not get the page; an uploaded workbook shows its dry-run diff, commits on the button, and the new
heads' one-time passwords are shown once."""

from __future__ import annotations

import io

import openpyxl
import polars as pl
import pytest

from assessment import access, auth, organisation

from .helpers.apptest import (
    HEAD_PAY,
    LEADERSHIP,
    MANAGER,
    UNIT_PAY,
    app_db,
    assert_ok,
    by_key,
    open_page,
    sign_in,
    start,
)


def _unit(unit_id: str) -> dict:
    units = organisation.register(app_db(), access.SYSTEM)[1]
    return units.filter(pl.col("unit_id") == unit_id).row(0, named=True)


def _frame(at, column: str):
    """The page's table that has this column (AppTest dataframes carry no key)."""
    found = [d for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with a {column!r} column"
    return found[0]


@pytest.mark.usefixtures("app_env")
def test_department_heads_and_leadership_do_not_get_the_page():
    for user in (HEAD_PAY, LEADERSHIP):
        at = sign_in(start(), user)
        with pytest.raises(ValueError, match="navigation page"):
            at.switch_page("views/organisation.py")


@pytest.mark.usefixtures("app_env")
def test_a_manager_filters_moves_and_deactivates_a_unit():
    at = open_page(MANAGER, "organisation.py")
    everything = _frame(at, "review_interval_months").value
    assert everything.shape[0] == organisation.register(app_db(), access.SYSTEM)[1].height
    by_key(at.text_input, "og_f_text").input(UNIT_PAY).run()
    assert _frame(at, "review_interval_months").value["unit_id"].tolist() == [UNIT_PAY]
    before = _unit(UNIT_PAY)
    divisions = organisation.register(app_db(), access.SYSTEM)[0]
    new_div = divisions.filter(pl.col("division_id") != before["division_id"])["division_id"][0]
    by_key(at.selectbox, f"og_div|{UNIT_PAY}").set_value(new_div).run()
    by_key(at.button, "og_save").click().run()
    assert_ok(at)
    assert _unit(UNIT_PAY)["division_id"] == new_div
    assert any("saved (division_id)" in s.value for s in at.success)
    by_key(at.button, "og_deactivate").click().run()
    assert_ok(at)
    assert _unit(UNIT_PAY)["active"] is False


@pytest.mark.usefixtures("app_env")
def test_an_uploaded_workbook_shows_its_diff_then_commits_and_shows_the_passwords_once():
    at = open_page(MANAGER, "organisation.py")
    divisions = organisation.register(app_db(), access.SYSTEM)[0]
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, header, rows in (
            ("Divisions", ["division_id", "name"], []),
            ("Units", ["unit_id", "name", "division_id", "tier", "head_usernames", "plan_last_reviewed",
                       "review_interval_months", "active"],
             [["NEW-1", "New unit", divisions["division_id"][0], "1", "new.head", "", "12", "yes"]]),
            ("People", ["username", "display_name", "email", "role"],
             [["new.head", "New Head", "new.head@example.org", "department_head"]])):
        ws = wb.create_sheet(name)
        ws.append(header)
        for r in rows:
            ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    at.session_state["og_file"] = ("new.xlsx", out.getvalue())  # what the uploader stores
    at.run()
    assert_ok(at)
    diff = _frame(at, "object").value
    assert set(zip(diff["object"], diff["id"], diff["action"])) == {("unit", "NEW-1", "added"),
                                                                    ("person", "new.head", "added")}
    assert "NEW-1" not in organisation.register(app_db(), access.SYSTEM)[1]["unit_id"].to_list()
    by_key(at.button, "og_commit").click().run()
    assert_ok(at)
    assert _unit("NEW-1")["head_usernames"] == "new.head"
    shown = [c.value for c in at.code]
    assert len(shown) == 1 and shown[0].split()[0] == "new.head" and len(shown[0].split()[1]) >= 12
    user, secret = shown[0].split()
    assert auth.login(app_db(), user, secret)                           # the password shown is the real one
    at.run()
    assert not at.code                                                  # shown once
