"""The management-review pack: gathered for the demo and a 500-unit organisation, rendered to PDF, the pages
converted with pdftoppm and the text read back with pdftotext; access, the actions hook, literal user text,
the CLI command and the dashboard's download button."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from datetime import date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest

from assessment import access, actions, campaigns, clock, review_pack, review_pdf
from assessment.cli import main
from assessment.errors import PermissionDenied
from assessment.exercises import judge as judge_results
from assessment.incidents import judge as judge_outages
from assessment.model import Actor
from assessment.questionnaire import QUESTIONNAIRE_DIR, load_file
from assessment.storage import exercises as exercises_sql
from assessment.storage import incidents as incidents_sql
from assessment.storage import services as services_sql
from assessment.storage.db import open_database
from assessment.storage.exercises import EXERCISE_SCHEMA
from assessment.storage.incidents import INCIDENT_SCHEMA
from assessment.storage.services import SERVICE_SCHEMA
from benchmarks import synth

from .conftest import ADMIN
from .helpers.apptest import HEAD_PAY, LEADERSHIP, MANAGER, open_page
from .test_recovery import NOW, logged  # noqa: F401  (the records fixture: logged)

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils (pdftoppm)")

SECTIONS = ["Headline figures", "2. Maturity against target by division", "3. Top gaps",
            "4. Demonstrated against required recovery", "5. Exercises done against planned",
            "6. Incidents and post-mortems", "7. Actions: opened, closed, overdue", "8. Review deadlines missed",
            "9. Decisions required"]
LEADER = Actor("lea", access.LEADERSHIP)


def pages(pdf: Path, tmp: Path) -> int:
    """Convert every page to PNG with pdftoppm; the number of images it wrote."""
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp / "page")], check=True)
    return len(list(tmp.glob("page-*.png")))


def text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def page_texts(pdf: Path) -> list[str]:
    return text(pdf).split("\f")


@pytest.fixture
def demo_db(tmp_path, demo_template):
    shutil.copy(demo_template / "itscm.duckdb", tmp_path / "demo.duckdb")
    db = open_database(tmp_path / "demo.duckdb")
    yield db
    db.close()


def _open_cycle(db) -> str:
    c = campaigns.list_campaigns(db, access.SYSTEM)
    return c.filter(pl.col("status") == "open")["campaign_id"][0]


def test_demo_pack_has_its_pages_sections_and_the_demo_story(demo_db, tmp_path):
    cid = _open_cycle(demo_db)
    out = tmp_path / "pack.pdf"
    pack = review_pdf.management_review(demo_db, LEADER, cid, out)
    assert pages(out, tmp_path) == 9  # the headline page and one page per section
    per_page = page_texts(out)
    for section in SECTIONS:
        assert section in text(out), section
    first = per_page[0]
    # Demo records (demo_records.py): 18 services; CARD-AUTH (6 h against 2 h) and MKT-DATA (50 min against
    # 30 min) were slower than their RTO; 4 incidents in the year, the card outage (7 h) and the network
    # degradation (45 min against 30 min) over RTO, the card outage's post-mortem overdue.
    assert "Headline figures" in first and "2 of 18" in first
    assert re.search(r"Incidents\s", first) and "2 over a service's RTO" in first
    h = pack.headline
    assert (h.services, h.slower_than_rto, h.incidents, h.incidents_over_rto, h.postmortems_overdue) == (
        18, 2, 4, 2, 1)
    recovery_page = next(p for p in per_page if "4. Demonstrated against required recovery" in p)
    assert re.search(r"CARD-AUTH .*2\s*h\s+6\s*h .*slower than RTO", recovery_page)
    incidents_page = next(p for p in per_page if "6. Incidents and post-mortems" in p)
    assert "Card authorisation outage" in incidents_page and "overdue" in incidents_page
    decisions_page = per_page[8]
    assert "1 incident post-mortem(s) are overdue" in decisions_page
    assert "2 service(s) recovered slower than their RTO" in decisions_page
    assert f"Decisions required: {len(pack.decisions)}" in first
    # The demo's action register (assessment/demo_actions.py): the section reports it.
    assert pack.actions is not None and "open now" in per_page[6] and pack.actions.open > 0


def test_pack_of_a_small_register_on_each_backend(logged, mini_q, tmp_path):  # noqa: F811
    """tests/test_recovery.py's records, as of 2026-06-30: CORE-DB (RTO 1 h, restored in 45 min), PAY-GW (RTO
    2 h, latest failover 5 h), TRD (tier 1, never tested), HR (no RTO); the gateway outage of 6 h went over its
    RTO and its post-mortem was due on 2026-02-24; no assessment submitted yet."""
    campaigns.create(logged, ADMIN, "C1", "Cycle 1", mini_q, date(2026, 6, 1), date(2026, 6, 30),
                     date(2026, 7, 15), status="open")
    with clock.frozen(NOW):
        pack = review_pdf.management_review(logged, LEADER, "C1", tmp_path / "small.pdf")
    h = pack.headline
    assert (h.services, h.top_tier_services, h.untested_top_tier, h.slower_than_rto, h.without_rto) == (4, 3, 1, 1, 1)
    assert (h.exercises_held, h.incidents, h.incidents_over_rto, h.postmortems_overdue) == (3, 2, 1, 1)
    assert (h.units, h.submitted, h.expected, h.score) == (3, 0, 3, None)
    assert pack.recovery_worst["service_id"].to_list() == ["PAY-GW", "TRD"]  # slower first, then never tested
    assert [d.topic for d in pack.decisions] == ["Recovery capability", "Exercise programme", "Lessons learned",
                                                 "Plan maintenance", "Business impact analysis", "Participation"]
    assert pages(tmp_path / "small.pdf", tmp_path) == 9
    body = re.sub(r"\s+", " ", text(tmp_path / "small.pdf"))
    assert "Gateway down" in body and "PAY-GW" in body and "3 of 3 unit(s) have not submitted" in body


def test_who_may_read_the_pack(demo_db):
    cid = _open_cycle(demo_db)
    head = Actor(HEAD_PAY, access.HEAD, frozenset({"RET-PAY"}))
    with pytest.raises(PermissionDenied):
        review_pack.gather(demo_db, head, cid)
    for role in (access.ADMIN, access.MANAGER, access.LEADERSHIP, access.AUDITOR):
        assert review_pack.gather(demo_db, Actor("x", role), cid).headline.units == 16


def test_the_actions_section_counts_the_demo_register(demo_db, tmp_path):
    cid = _open_cycle(demo_db)
    out = tmp_path / "pack.pdf"
    pack = review_pdf.management_review(demo_db, LEADER, cid, out)
    # Counted row by row here, apart from the pack's set-based figures: open = open, in progress or done
    # (not yet verified); overdue = open and due before the pack's date.
    rows = actions.list_actions(demo_db, LEADER).rows(named=True)
    still_open = [r for r in rows if r["status"] in ("open", "in_progress", "done")]
    late = [r for r in still_open if r["due_on"] < pack.as_of]
    opened = [r for r in rows if pack.since <= r["created_at"].date() <= pack.as_of]
    closed = [r for r in rows if r["closed_on"] and pack.since <= r["closed_on"] <= pack.as_of]
    a = pack.actions
    assert (a.opened, a.closed, a.open, a.overdue) == (len(opened), len(closed), len(still_open), len(late))
    assert a.open > 0 and a.overdue > 0                       # the demo's story has overdue actions
    assert pack.headline.actions_overdue == len(late)
    assert sum(a.by_division["overdue"]) == len(late)
    worst = max(late, key=lambda r: (pack.as_of - r["due_on"]).days)
    assert a.overdue_list.row(0, named=True)["title"] == worst["title"]
    actions_page = re.sub(r"\s+", " ", page_texts(out)[6])
    assert (f"{len(opened)} opened, {len(closed)} closed; {len(still_open)} open now, {len(late)} of them "
            "overdue") in actions_page


def test_user_text_is_printed_literally_never_as_markup(demo_db, tmp_path):
    evil = '<font size="40" color="red">Big</font> & <b>bold</b> <a href="http://x.example">x</a>'

    def rename(cur):
        cur.execute("UPDATE divisions SET name = ? WHERE division_id = "
                    "(SELECT min(division_id) FROM divisions)", [evil])

    demo_db.transaction(rename)
    out = tmp_path / "pack.pdf"
    review_pdf.management_review(demo_db, LEADER, _open_cycle(demo_db), out)
    flat = re.sub(r"\s+", " ", text(out))
    assert '<font size="40"' in flat and "<b>bold</b>" in flat


def test_cli_report_writes_the_pdf_and_refuses_an_unknown_campaign(demo_template, tmp_path, capsys):
    shutil.copy(demo_template / "itscm.duckdb", tmp_path / "demo.duckdb")
    db = open_database(tmp_path / "demo.duckdb")
    cid = _open_cycle(db)
    db.close()
    out = tmp_path / "pack.pdf"
    assert main(["--db", str(tmp_path / "demo.duckdb"), "report", cid, "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert out.read_bytes().startswith(b"%PDF") and "Management review pack" in text(out)
    assert main(["--db", str(tmp_path / "demo.duckdb"), "report", "NOPE", "-o", str(tmp_path / "x.pdf")]) == 1
    assert "unknown campaign 'NOPE'" in capsys.readouterr().err and not (tmp_path / "x.pdf").exists()


# ---- at M size (500 units in 10 divisions) ---------------------------------------------------------------------

RTO = {1: 60, 2: 480, 3: 1440}


def add_records(db, org: synth.Org, today: date) -> None:
    """One service per unit (its recovery tier = the unit's tier), a failover of every third unit's service
    100 days ago (every seventh one 50 % slower than its RTO), and an incident for every 25th unit."""
    units = org.units.select("unit_id", "tier").with_row_index("i")
    start = datetime.combine(today - timedelta(days=400), time(9))
    services = units.select(
        ("SVC-" + pl.col("unit_id")).alias("service_id"), pl.lit(1, pl.Int64).alias("revision"),
        ("Service of " + pl.col("unit_id")).alias("name"), "unit_id", pl.lit("owner").alias("owner"),
        pl.col("tier").cast(pl.Int64).alias("recovery_tier"), pl.lit(None, pl.String).alias("activity"),
        pl.lit(2880, pl.Int64).alias("mtpd_minutes"),
        pl.col("tier").replace_strict(RTO, return_dtype=pl.Int64).alias("rto_minutes"),
        pl.lit(60, pl.Int64).alias("rpo_minutes"), pl.lit(True).alias("holds_data"),
        pl.lit(None, pl.String).alias("min_service_level"), pl.lit("Head").alias("approved_by"),
        pl.lit(today - timedelta(days=100)).alias("approved_on"),
        pl.lit(today + timedelta(days=265)).alias("next_review"),
        pl.lit(True).alias("active"), pl.lit(start).alias("updated_at"), pl.lit("benchmark").alias("updated_by"),
    ).cast(SERVICE_SCHEMA)
    tested = units.filter(pl.col("i") % 3 == 0).join(services.select("unit_id", "service_id", "rto_minutes"),
                                                     on="unit_id")
    when = today - timedelta(days=100)
    exercise = pl.DataFrame([{"exercise_id": "EX-00001", "exercise_date": when, "exercise_type": "failover",
                              "title": "Group failover", "scenario": "Loss of a site", "participants": "IT",
                              "objectives": "RTO", "objectives_met": False, "report_url": None,
                              "recorded_at": datetime.combine(when, time(18)), "recorded_by": "benchmark"}],
                            schema=EXERCISE_SCHEMA)
    results = judge_results(tested.select(
        pl.lit("EX-00001").alias("exercise_id"), "service_id", pl.lit(1, pl.Int64).alias("service_revision"),
        "unit_id", pl.when(pl.col("i") % 7 == 0).then(pl.col("rto_minutes") * 3 // 2)
        .otherwise(pl.col("rto_minutes") // 2).alias("achieved_recovery_minutes"),
        pl.lit(0, pl.Int64).alias("achieved_data_loss_minutes"), "rto_minutes",
        pl.lit(60, pl.Int64).alias("rpo_minutes"), pl.lit(True).alias("holds_data"),
        pl.lit(None, pl.String).alias("findings"))).drop("holds_data")
    hit = units.filter(pl.col("i") % 25 == 0).join(services.select("unit_id", "service_id", "rto_minutes"),
                                                   on="unit_id").with_row_index("k", offset=1)
    started = datetime.combine(today - timedelta(days=60), time(8))
    incidents = hit.select(
        pl.format("INC-{}", pl.col("k").cast(pl.String).str.zfill(5)).alias("incident_id"),
        pl.lit(1, pl.Int64).alias("revision"), ("Outage of " + pl.col("service_id")).alias("title"),
        pl.lit("high").alias("severity"), pl.lit(started).alias("started_at"),
        pl.lit(started + timedelta(hours=3)).alias("ended_at"), pl.lit(True).alias("plan_invoked"),
        pl.lit(today - timedelta(days=30)).alias("postmortem_due"), pl.lit(None, pl.Date).alias("postmortem_done"),
        pl.lit(None, pl.String).alias("report_url"), pl.lit(None, pl.String).alias("ticket_url"),
        pl.lit(started).alias("recorded_at"), pl.lit("benchmark").alias("recorded_by"),
        pl.lit(started).alias("updated_at"), pl.lit("benchmark").alias("updated_by")).cast(INCIDENT_SCHEMA)
    affected = judge_outages(hit.select(
        pl.format("INC-{}", pl.col("k").cast(pl.String).str.zfill(5)).alias("incident_id"), "service_id",
        pl.lit(1, pl.Int64).alias("service_revision"), "unit_id", pl.lit(180, pl.Int64).alias("outage_minutes"),
        pl.lit(None, pl.Int64).alias("data_loss_minutes"), "rto_minutes", pl.lit(60, pl.Int64).alias("rpo_minutes"),
        pl.lit(True).alias("holds_data"))).drop("holds_data")

    def work(cur):
        services_sql.append_versions(cur, services, "create")
        services_sql.insert_current(cur, services)
        exercises_sql.insert(cur, exercise, results,
                             pl.DataFrame(schema={"exercise_id": pl.String, "supplier_id": pl.String}))
        incidents_sql.insert(cur, incidents, affected)

    db.transaction(work)


@pytest.fixture(scope="module")
def m_org(tmp_path_factory):
    folder = tmp_path_factory.mktemp("review-m")
    db = open_database(folder / "m.duckdb")
    today = date(2026, 6, 30)
    q = load_file(QUESTIONNAIRE_DIR / "itscm-core.yaml")  # 1.0.0: synth scores without record rules
    # Without the benchmark's own synthetic register: the counts below are those of add_records alone.
    org = dataclasses.replace(synth.generate(q, "M", today), records=None)
    synth.load(db, q, org)
    add_records(db, org, today)
    yield db, org
    db.close()


def test_m_size_pack_stays_a_few_pages_of_divisions_and_top_lists(m_org, tmp_path):
    db, org = m_org
    cid = org.campaigns[-1]["campaign_id"]
    out = tmp_path / "m.pdf"
    if os.environ.get("REVIEW_PDF_COPY"):  # to look at the pages by hand
        out = Path(os.environ["REVIEW_PDF_COPY"])
    pack = review_pdf.management_review(db, LEADER, cid, out)
    h = pack.headline
    tiers = org.units["tier"]
    # Hand-counted from add_records: 500 services; units 0, 3, 6, ... (167) tested, those also divisible by 7
    # (i = 0, 21, ..., 483: 24) 50 % slower than their RTO; 20 incidents of 3 h, over RTO for tier 1 (RTO 1 h) only.
    assert (h.services, h.slower_than_rto, h.incidents) == (500, 24, 20)
    assert h.top_tier_services == int((tiers == 1).sum())
    hit_tiers = org.units.with_row_index("i").filter(pl.col("i") % 25 == 0)["tier"]
    assert h.incidents_over_rto == int((hit_tiers == 1).sum()) and h.postmortems_overdue == 20
    assert pack.divisions_total == 10 and pack.divisions.height == 10
    n = pages(out, tmp_path)
    assert 9 <= n <= 11  # readable at scale: divisions and top-N lists, never a 500-row table
    body = text(out)
    for section in SECTIONS:
        assert section in body, section
    # Units appear only in top-N lists (gaps, services, incidents, deadlines, overdue actions): far fewer than 500.
    units_named = set(re.findall(r"(?:BU|(?<= ))(\d{5})\b", body)) - {"22301"}  # unit names end in their number
    assert review_pack.TOP_N <= len(units_named) <= 5 * review_pack.TOP_N


# ---- the dashboard ---------------------------------------------------------------------------------------------

def test_dashboard_button_prepares_the_pdf_for_managers_not_for_heads(app_env):
    at = open_page(MANAGER, "dashboard.py")
    assert not any(b.key == "dash_review_download" for b in at.get("download_button"))
    next(b for b in at.button if b.key == "dash_review_build").click().run()
    assert not at.exception, at.exception
    assert any(b.key == "dash_review_download" for b in at.get("download_button"))
    at = open_page(LEADERSHIP, "dashboard.py")
    assert any(b.key == "dash_review_build" for b in at.button)
    at = open_page(HEAD_PAY, "dashboard.py")
    assert not any(b.key == "dash_review_build" for b in at.button)
