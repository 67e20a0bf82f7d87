"""Smoke run of the benchmark harness at size S (one repetition): it must keep working and report every
figure. Timings are never asserted, only that each figure is there and is a number."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import run, synth

pytestmark = pytest.mark.slow


def _number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert run.main(["--sizes", "S", "--reps", "1", "--out", str(out)]) == 0
    data = json.loads((out / "latest.json").read_text())
    return data, (out / "latest.md").read_text()


def test_every_step_and_floor_is_measured(report):
    data, _ = report
    size = data["sizes"]["S"]
    steps, floors = size["measure"]["steps"], size["measure"]["floors"]
    for key, _, kind in run.STEPS:
        entry = steps[key]
        if kind in ("export", "import") and not entry["available"]:
            # the Excel modules are optional for the harness: "not available" must say why
            assert entry["reason"] and "failed" not in entry["reason"], entry
            continue
        assert entry["available"], (key, entry.get("reason"), entry.get("traceback"))
        for field in ("median_s", "min_s", "max_s", "peak_rss_mb"):
            assert _number(entry[field]), (key, field, entry[field])
        assert entry["reps"] == len(entry["times_s"]) >= 1
        assert entry["min_s"] <= entry["median_s"] <= entry["max_s"]
    for key, _, kind in run.STEPS:
        if kind in run.TARGETS:  # every step with a ratio target has a floor measured in the same run
            assert floors[key]["available"], (key, floors[key].get("reason"))
            assert _number(floors[key]["median_s"])
    assert _number(size["measure"]["peak_rss_mb"]) and size["measure"]["peak_rss_mb"] > 0


def test_ratios_targets_and_machine_are_reported(report):
    data, md = report
    ratios = data["derived"]["ratios"]["S"]
    for key, _, kind in run.STEPS:
        if kind in run.TARGETS and data["sizes"]["S"]["measure"]["steps"][key]["available"]:
            assert _number(ratios[key]), key
    statuses = {t["status"] for t in data["derived"]["targets"]}
    assert statuses <= {"met", "missed", "not measured"}
    m = data["machine"]
    assert m["cpu"] and m["cores"] >= 1 and set(m["versions"]) >= {"python", "duckdb", "polars"}
    assert "## Targets" in md and "| Scoring + persisting one campaign" in md


def test_synthetic_organisation_is_deterministic_and_believable():
    from datetime import date

    from assessment.questionnaire import load_default

    q = load_default()
    a = synth.generate(q, "S", date(2026, 6, 30))
    b = synth.generate(q, "S", date(2026, 6, 30))
    assert a.answers.equals(b.answers) and a.states.equals(b.states) and a.units.equals(b.units)
    assert a.units.height == 20 and len(a.campaigns) == synth.CYCLES
    assert set(a.units["tier"].unique()) == {1, 2, 3}
    assert a.answers.filter("is_na")["na_reason"].null_count() == 0
    assert a.answers["level"].drop_nulls().is_between(0, 5).all()
    assert a.answers["evidence"].null_count() < a.answers.height  # some evidence, not everywhere
    assert a.revisions.height > 0
    assert a.campaigns[-1]["status"] == "open" and a.campaigns[-2]["status"] == "closed"


def test_synthetic_records_have_the_issue_14_proportions_and_a_valid_register():
    from datetime import date

    from assessment.service_checks import validate_services
    from benchmarks import records

    units = [f"BU{i:05d}" for i in range(1, 21)]
    r = records.generate(units, date(2026, 12, 1), synth.SEED, since=date(2022, 11, 1))
    # 10 services per unit, 2 dependencies per service, 4 exercise results per service (L: 50k/100k/200k)
    assert r.counts == {"services": 200, "dependencies": 400, "exercises": 80, "exercise_results": 800}
    assert r.results.group_by("service_id").len()["len"].unique().to_list() == [4]
    assert validate_services(r.services, r.dependencies, units, r.suppliers["supplier_id"].to_list(), []) == []
    assert records.generate(units, date(2026, 12, 1), synth.SEED, since=date(2022, 11, 1)).results.equals(r.results)


def test_the_records_steps_are_reported(report):
    data, _ = report
    steps = data["sizes"]["S"]["measure"]["steps"]
    for key in ("scoring_records", "recovery"):
        assert steps[key]["available"] and _number(steps[key]["median_s"]), key
    info = data["sizes"]["S"]["measure"]["info"]["scoring_records"]
    assert info["questionnaire"].startswith("itscm-core@1.1.0") and info["record_rules"] == 4


def test_the_writes_are_measured_and_really_write(report):
    data, md = report
    w = data["sizes"]["S"]["measure"]["info"]["writes"]
    assert w["available"], w.get("reason")
    for key in ("save_one_s", "save_one_p95_s", "save_page_s", "submit_s"):
        assert _number(w[key]) and w[key] > 0, key
    from benchmarks import writes

    assert len(w["save_one_all_s"]) == writes.SAVES and len(w["submit_all_s"]) == writes.SUBMITS
    # every timed save changed something: one event per single save, 43 per page save, and the submits locked
    assert w["stored_after"] - w["stored_events"] >= writes.SAVES + writes.PAGES * w["questions"]
    assert w["submitted"] == writes.SUBMITS
    assert w["stored_events"] > 0 and "## Writes" in md and "| Submit one unit" in md
    names = {t["key"] for t in data["derived"]["targets"]}
    assert {"save_one", "save_p95", "save_page", "submit"} <= names


def test_the_excel_process_results_join_the_read_process_results():
    reads = {"steps": {"summary": {"median_s": 0.01}}, "floors": {"summary": {"median_s": 0.009}},
             "info": {"latest_campaign": "C8", "profiles": {"changes": "a.txt"}},
             "peak_rss_mb": 900.0, "process_peak_rss_mb": 950.0, "ru_maxrss_mb": 950.0}
    excel = {"steps": {"export": {"median_s": 1.2}}, "floors": {"export": {"median_s": 2.0}},
             "info": {"pack_mb": 8.0, "writes": {"available": True}, "profiles": {"export": "b.txt"}},
             "peak_rss_mb": 1100.0, "process_peak_rss_mb": 1150.0, "ru_maxrss_mb": 1150.0}
    both = run.merge_children(reads, excel)
    assert set(both["steps"]) == {"summary", "export"} and set(both["floors"]) == {"summary", "export"}
    assert both["info"]["latest_campaign"] == "C8" and both["info"]["pack_mb"] == 8.0
    assert both["info"]["profiles"] == {"changes": "a.txt", "export": "b.txt"}
    assert (both["peak_rss_mb"], both["process_peak_rss_mb"]) == (1100.0, 1150.0)
    assert run.merge_children(excel, reads)["peak_rss_mb"] == 1100.0
