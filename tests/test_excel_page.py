"""The Excel page through AppTest: downloads, an upload with problems, an upload previewed then confirmed."""

from __future__ import annotations

import io
from datetime import date, timedelta

import polars as pl
import pytest

from assessment import access, campaigns, workflow
from assessment.catalog import campaign_questionnaire
from assessment.excel import template as excel_template

from .helpers.apptest import (
    ADMIN,
    HEAD_PAY,
    LEADERSHIP,
    UNIT_PAY,
    app_db,
    assert_ok,
    by_key,
    metric,
    open_page,
)
from .helpers.excel import edit

pytestmark = pytest.mark.usefixtures("app_env")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def open_campaign() -> str:
    c = campaigns.list_campaigns(app_db(), access.SYSTEM).filter(pl.col("status") == "open")
    return c["campaign_id"][0]


def filled_template(cid: str) -> bytes:
    buf = io.BytesIO()
    excel_template.unit_template(app_db(), access.SYSTEM, cid, UNIT_PAY, buf)
    when = date.today() - timedelta(days=30)
    return edit(buf.getvalue(), [("GOV-01", "Level", 4), ("GOV-01", "Evidence", "policy"),
                                 ("GOV-01", "Evidence date", when), ("GOV-02", "Level", 2)])


def test_admin_downloads_the_pack_and_a_template():
    at = open_page(ADMIN, "excel.py")
    by_key(at.button, "xl_pack_build").click().run()
    assert_ok(at)
    assert any(b.key == "xl_pack_download" for b in at.get("download_button"))
    by_key(at.selectbox, "xl_template_unit").set_value(UNIT_PAY).run()
    by_key(at.button, "xl_template_build").click().run()
    assert_ok(at)
    assert any(b.key == "xl_template_download" for b in at.get("download_button"))


def test_leadership_may_export_but_not_template_or_import():
    at = open_page(LEADERSHIP, "excel.py")
    assert by_key(at.button, "xl_pack_build")
    infos = " ".join(i.value for i in at.info)
    assert "may not download answer templates" in infos and "may not import" in infos


def test_upload_shows_every_problem_and_saves_nothing():
    cid = open_campaign()
    bad = edit(filled_template(cid), [("GOV-01", "Level", 9), ("TEST-01", "Evidence date", "soon")])
    at = open_page(ADMIN, "excel.py")
    by_key(at.file_uploader, "xl_upload").set_value(("bad.xlsx", bad, XLSX)).run()
    assert not at.exception
    assert "2 problem(s) in bad.xlsx" in at.error[0].value
    problems = at.dataframe[0].value
    assert set(problems["column"]) == {"Level", "Evidence date"}
    assert workflow.current_answers(app_db(), access.SYSTEM, cid, UNIT_PAY).height == 0


def test_department_head_previews_then_confirms_an_import():
    cid = open_campaign()
    data = filled_template(cid)
    at = open_page(HEAD_PAY, "excel.py")
    by_key(at.file_uploader, "xl_upload").set_value(("payments.xlsx", data, XLSX)).run()
    assert_ok(at)
    assert metric(at, "New") == "2" and metric(at, "Conflicts") == "0"
    assert workflow.current_answers(app_db(), access.SYSTEM, cid, UNIT_PAY).height == 0  # preview only
    by_key(at.button, "xl_commit").click().run()
    assert_ok(at)
    assert any("Imported payments.xlsx" in s.value for s in at.success)
    cur = workflow.current_answers(app_db(), access.SYSTEM, cid, UNIT_PAY)
    assert dict(zip(cur["question_id"], cur["level"])) == {"GOV-01": 4, "GOV-02": 2}
    # Every question of the template is now unchanged (47 in the open cycle's questionnaire 1.1.0).
    total = len(campaign_questionnaire(app_db(), cid).questions)
    assert metric(at, "Unchanged") == str(total) and metric(at, "New") == "0"
