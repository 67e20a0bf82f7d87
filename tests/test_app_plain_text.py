"""User-supplied text is never rendered as Markdown or HTML (issue 13 item 6).

Markdown image and link syntax, raw HTML and emphasis are planted in every field a user (or a registered
questionnaire file) controls: unit, division and campaign names, the head of a unit, a return comment,
evidence, an N/A reason, a user's display name, and the questionnaire's title, domains, questions,
guidance, level descriptors, scale, bands, tiers and checklist. Then every page is drawn for the roles
that see it, and every Markdown-capable string the pages send (bodies, labels, metric values, tab,
expander and radio labels, help texts) is checked: the payload arrives escaped, never as syntax. Plotly
labels are checked for raw HTML.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
import streamlit as st
import yaml

from assessment import access, campaigns, clock, users, workflow
from assessment.model import Answer
from assessment.questionnaire import QUESTIONNAIRE_DIR, loads
from assessment.storage import campaigns as campaigns_sql
from assessment.storage import catalog as catalog_sql
from ui.format import WJ

from .helpers.apptest import ADMIN, HEAD_PAY, LEADERSHIP, MANAGER, UNIT_PAY, app_db, by_key, open_campaign, open_page

SYSTEM = access.SYSTEM
HOST = "planted.invalid"
PAYLOAD_ID = "PAYLOAD"
HEAD_TRD = "mei.lin"  # heads CMK-TRD, whose assessment in the demo's open cycle is submitted


def payload(field: str) -> str:
    return (f"{field}: ![](http://{HOST}/{field}.png) <img src=x onerror=alert(1)> "
            "[link](javascript:alert(1)) **bold**")


# Fields whose text the pages put into Markdown (each must be seen there, escaped). Evidence, N/A reasons
# and display names are only shown in tables (plain text); they are planted and checked all the same.
SEEN = {"unit", "division", "head", "campaign", "comment", "title", "domain", "description", "question",
        "guidance", "expected", "level", "scale", "band", "tier"}
PLANTED = SEEN | {"evidence", "reason", "display", "checklist"}


def _questionnaire():
    raw = yaml.safe_load((QUESTIONNAIRE_DIR / "itscm-core.yaml").read_text())
    raw["id"], raw["version"], raw["title"] = "planted", "1.0.0", payload("title")
    raw["scale"][0]["name"] = payload("scale")
    for band in raw["bands"]:
        band["name"] = payload("band") + f" {band['min']}"
    for tier in raw["policy"]["tiers"]:
        tier["name"] = payload("tier") + f" {tier['tier']}"
    raw["checklist"][0]["text"] = payload("checklist")
    for d in raw["domains"]:
        d["name"] = payload("domain") + f" {d['id']}"
        d["description"] = payload("description")
        for x in d["questions"]:
            x["text"], x["guidance"], x["evidence"] = payload("question"), payload("guidance"), payload("expected")
            x["levels"][2] = payload("level")
    return loads(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), base_dir=QUESTIONNAIRE_DIR)


@pytest.fixture
def planted(app_env):
    at = open_page(LEADERSHIP, "dashboard.py")  # starts the app: the demo organisation exists from here
    db = app_db()
    with db.read() as cur:
        division = catalog_sql.unit(cur, UNIT_PAY)["division_id"]

    def rename(cur):
        catalog_sql.update_unit(cur, UNIT_PAY, head=payload("head"))
        catalog_sql.update_unit(cur, "CMK-CB", name=payload("unit"))  # scored in the planted cycle below
        cur.execute("UPDATE divisions SET name = ? WHERE division_id = ?", [payload("division"), division])
        campaigns_sql.update_campaign(cur, open_campaign(), name=payload("campaign"))

    db.transaction(rename)
    st.cache_data.clear()  # the pages' cached reads still hold the names from before
    cid = open_campaign()
    # A return comment on a submitted assessment (answered and submitted by its head in the demo).
    workflow.return_for_rework(db, SYSTEM, cid, "CMK-TRD", payload("comment"))
    # Evidence and an N/A reason in the open cycle.
    workflow.save_answers(db, SYSTEM, cid, UNIT_PAY, [
        Answer("GOV-01", 4, evidence=payload("evidence")),
        Answer("PLAN-09", is_na=True, na_reason=payload("reason"))])
    users.create(db, SYSTEM, "planted.user", payload("display"), access.LEADERSHIP, "a long enough passphrase")
    # A newer cycle on a questionnaire whose every text is planted, with one unit scored in it.
    q = _questionnaire()
    today = clock.today()
    campaigns.create(db, SYSTEM, PAYLOAD_ID, payload("campaign") + " (planted questionnaire)", q, today,
                     today + timedelta(days=30), today + timedelta(days=40), status="open")
    workflow.save_answers(db, SYSTEM, PAYLOAD_ID, "CMK-CB", [
        Answer(x.id, 4, evidence="pack", evidence_date=date(today.year, 1, 1) if today.month > 1 else today)
        for x in q.questions])
    workflow.submit(db, SYSTEM, PAYLOAD_ID, "CMK-CB")
    return at


# ---- what the pages send ------------------------------------------------------------------------------------

MARKDOWN_KEYS = {"body", "label", "help", "delta", "text"}
PLAIN_TYPES = {"text", "code", "json", "dataframe", "arrow_data_frame", "plotly_chart", "exception"}
OPTION_MARKDOWN_TYPES = {"radio", "button_group"}  # selectbox and multiselect options are plain text


def _strings(message, keys: set[str], with_options: bool):
    for field, value in message.ListFields():
        if field.message_type is not None:
            values = value if field.is_repeated else [value]
            for v in values:
                yield from _strings(v, keys, with_options)
        elif field.name in keys and isinstance(value, str):
            yield value
        elif with_options and field.name == "options" and field.is_repeated:
            yield from (v for v in value if isinstance(v, str))


def markdown_strings(at) -> list[str]:
    out = []

    def walk(node):
        kind = getattr(node, "type", "")
        proto = getattr(node, "proto", None)
        if proto is not None and kind not in PLAIN_TYPES and hasattr(proto, "ListFields"):
            out.extend(_strings(proto, MARKDOWN_KEYS, kind in OPTION_MARKDOWN_TYPES))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return out


def figure_strings(at) -> list[str]:
    out = []

    def collect(value):
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            for v in value:
                collect(v)

    for chart in at.get("plotly_chart"):
        collect(json.loads(chart.proto.spec))
    return out


def interpreted(md: str) -> list[str]:
    """Markdown/HTML syntax of the payload that survives in `md` outside backslash escapes."""
    bare = re.sub(r"\\.", "", md)
    return [s for s in ("![", "](http", "](javascript", "**bold**", "<img", "http://") if s in bare]


def check(at, seen: set[str]) -> None:
    """Nothing interpreted on this page; adds to `seen` the fields whose payload reached Markdown (escaped)."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    for md in markdown_strings(at):
        assert not interpreted(md), (interpreted(md), md)
        shown = re.sub(r"\\(.)", r"\1", md).replace(WJ, "")  # what the reader sees
        seen.update(f for f in PLANTED if payload(f) in shown)
    for text in figure_strings(at):
        assert "<img" not in text, text


def test_planted_markdown_is_shown_as_text_on_every_page(planted):
    seen: set[str] = set()
    at = planted
    # Leadership: the dashboard on the planted cycle (newest) and on the demo cycle, the unit and deadlines.
    at.run()
    by_key(at.selectbox, "dash_campaign").set_value(PAYLOAD_ID).run()
    check(at, seen)
    by_key(at.selectbox, "dash_unit").set_value("CMK-CB").run()
    check(at, seen)
    by_key(at.selectbox, "dash_campaign").set_value(open_campaign()).run()
    by_key(at.selectbox, "dash_drill").set_value("RET").run()
    check(at, seen)
    at.switch_page("views/unit.py").run()
    by_key(at.selectbox, "unit_pick").set_value(UNIT_PAY).run()
    by_key(at.selectbox, "unit_campaign").set_value(open_campaign()).run()
    check(at, seen)
    by_key(at.selectbox, "unit_pick").set_value("CMK-CB").run()
    by_key(at.selectbox, "unit_campaign").set_value(PAYLOAD_ID).run()
    check(at, seen)
    by_key(at.selectbox, "unit_pick").set_value("CMK-TRD").run()
    by_key(at.selectbox, "unit_campaign").set_value(open_campaign()).run()
    check(at, seen)
    at.switch_page("views/deadlines.py").run()
    check(at, seen)
    # Department heads: the form on the planted questionnaire, and a returned assessment with its comment.
    head = open_page(HEAD_PAY, "self_assessment.py")
    check(head, seen)
    by_key(head.selectbox, "sa_campaign").set_value(PAYLOAD_ID).run()
    check(head, seen)
    returned = open_page(HEAD_TRD, "self_assessment.py")
    by_key(returned.selectbox, "sa_campaign").set_value(open_campaign()).run()
    check(returned, seen)
    # Continuity manager: campaigns (review and manage tabs) and Excel; administrator: users and audit.
    manager = open_page(MANAGER, "campaigns.py")
    check(manager, seen)
    by_key(manager.selectbox, "cp_review_campaign").set_value(PAYLOAD_ID).run()
    check(manager, seen)
    manager.switch_page("views/excel.py").run()
    check(manager, seen)
    admin = open_page(ADMIN, "admin.py")
    check(admin, seen)
    for page in ("audit.py", "account.py"):
        admin.switch_page(f"views/{page}").run()
        check(admin, seen)
    assert SEEN <= seen, sorted(SEEN - seen)
