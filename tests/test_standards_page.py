"""The Standards page through AppTest on the demo: it shows what the engine computes, filtered as asked."""

from __future__ import annotations

import io

import polars as pl
import pytest

from assessment import access, campaigns, standards_view
from assessment.model import Actor
from assessment.reports import Filters

from .helpers.apptest import HEAD_PAY, LEADERSHIP, UNIT_PAY, app_db, assert_ok, metric, open_campaign, open_page

SYSTEM = access.SYSTEM


@pytest.mark.usefixtures("app_env")
def test_leadership_sees_dora_readiness_groups_and_clauses_of_the_open_cycle():
    at = open_page(LEADERSHIP, "standards.py")
    assert at.title[0].value == "Standards"
    assert at.selectbox(key="std_standard").value == "DORA"
    cid = open_campaign()
    v = standards_view.view(app_db(), SYSTEM, cid, Filters(), "DORA")
    row = v.standards.row(0, named=True)
    assert row["units_scored"] == 11  # the demo's open cycle: 11 submitted assessments
    assert metric(at, "Units at or above 3") == f"{row['share']:.0f}%"
    assert metric(at, "Median unit score") == f"{row['median']:.2f}"
    assert metric(at, "Catalogue clauses cited") == f"{row['clauses_cited']} of {row['in_scope_clauses']}"
    groups, clauses = at.dataframe[0].value, at.dataframe[1].value
    assert list(groups["group"])[:5] == ["Art. 5", "Art. 8", "Art. 9", "Art. 11", "Art. 12"]
    assert len(clauses) == v.clauses.height == row["clauses_cited"]
    art11 = clauses[clauses["clause"] == "Art.11(1)"].iloc[0]
    want = v.clauses.filter(pl.col("clause") == "Art.11(1)").row(0, named=True)
    assert (art11["questions"], art11["median"], art11["share"], art11["units_below"]) == (
        want["questions"], want["median"], want["share"], want["units_below"])
    assert "Out of scope" in [s.value for s in at.subheader]
    assert_ok(at)


@pytest.mark.usefixtures("app_env")
def test_iso22301_lists_its_out_of_scope_clauses_and_filters_change_the_numbers():
    at = open_page(LEADERSHIP, "standards.py")
    at.selectbox(key="std_standard").set_value("ISO22301").run()
    assert_ok(at)
    oos = at.dataframe[2].value
    assert sorted(oos["clause"]) == ["4.1", "4.2", "4.3", "6.2"] and oos["reason"].str.len().min() > 20
    assert metric(at, "Out of scope") == "4"
    everyone = number_of_units(at)
    at.multiselect(key="std_division").set_value(["OPT"]).run()
    assert_ok(at)
    v = standards_view.view(app_db(), SYSTEM, open_campaign(), Filters(division_ids=("OPT",)), "ISO22301")
    assert number_of_units(at) == v.standards["units_scored"][0] < everyone
    assert list(at.dataframe[1].value["units_scored"]) == v.clauses["units_scored"].to_list()


def number_of_units(at) -> int:
    text = [m.delta for m in at.metric if m.label == "Units at or above 3"][0]
    return int(text.split(" of ")[1].split()[0])


@pytest.mark.usefixtures("app_env")
def test_all_standards_table_search_and_csv_download():
    at = open_page(LEADERSHIP, "standards.py")
    at.selectbox(key="std_standard").set_value("").run()
    assert_ok(at)
    table = at.dataframe[0].value
    assert {"DORA", "ISO22301", "NISTCSF", "COBIT"} <= set(table["standard"])
    at.text_input(key="std_search").set_value("TEST-02").run()
    clauses = at.dataframe[2].value
    assert len(clauses) and all("TEST-02" in q for q in clauses["questions"])
    csv = [b for b in at.get("download_button") if b.proto.label == "Download CSV"]
    assert csv, "no CSV download"
    v = standards_view.view(app_db(), SYSTEM, open_campaign(), Filters(), None)
    back = pl.read_csv(io.BytesIO(standards_view.csv_bytes(v)[3:]))
    assert back.height == v.clauses.height > len(clauses)  # the download holds every clause, not the search


@pytest.mark.usefixtures("app_env")
def test_a_department_head_sees_only_their_own_unit():
    closed = campaigns.list_campaigns(app_db(), SYSTEM).filter(pl.col("status") == "closed")
    cid = closed.sort("opens_on")["campaign_id"][-1]
    at = open_page(HEAD_PAY, "standards.py")
    at.selectbox(key="std_campaign").set_value(cid).run()
    assert_ok(at)
    clauses = at.dataframe[1].value
    assert set(clauses["units_scored"]) == {1}
    head = Actor(HEAD_PAY, "department_head", units=frozenset({UNIT_PAY}))
    v = standards_view.view(app_db(), head, cid, Filters(), "DORA")
    assert list(clauses["median"]) == v.clauses["median"].to_list()
    assert all(u in ("", "Payments") for u in clauses["units_below"])
