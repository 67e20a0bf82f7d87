"""Smoke run of the peer comparison (benchmarks.peer) at a tiny size: every operation of the issue 17 table is
reported, with the peer's quoted figure beside it, and the timed saves really stored answer events.
Timings are never asserted, only that each figure is there and is a number."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import peer

pytestmark = pytest.mark.slow

UNITS, REPS, QUESTIONS = 3, 2, 43


def _number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("peer")
    assert peer.main(["--units", str(UNITS), "--reps", str(REPS), "--out", str(out)]) == 0
    return json.loads((out / "peer.json").read_text()), (out / "peer.md").read_text()


def test_every_operation_of_the_table_is_reported(report):
    data, md = report
    assert [r["key"] for r in data["rows"]] == list(peer.LABELS)
    assert "| operation | this product | peer | peer / this |" in md
    for r in data["rows"]:
        assert _number(r["this_s"]), r
        assert f"| {r['operation']} |" in md
        assert r["peer_s"] == peer.PEER[r["key"]]
        if r["peer_s"] is None:
            assert r["peer_over_this"] is None
        else:
            assert _number(r["peer_over_this"])
    # the figures, quoted as they are there
    assert peer.PEER["save_one_200"] == 0.0406 and peer.PEER["list_all"] == 16.7 and peer.PEER["submit"] is None
    assert {t["status"] for t in data["targets"]} <= {"met", "missed"}
    for step in data["steps"].values():
        assert step["reps"] >= 1 and step["min_s"] <= step["median_s"] <= step["p95_s"] <= step["max_s"]


def test_saves_store_events_and_the_workflow_ran(report):
    data, _ = report
    steps, info = data["steps"], data["info"]
    for key in ("save_one_200", "save_one_4300", "save_one_9000"):
        s = steps[key]
        assert s["stored_after"] - s["stored_before"] == REPS, key  # one event per timed single save
    assert [steps[k]["stored_before"] >= stage for k, stage in
            zip(("save_one_200", "save_one_4300", "save_one_9000"), info["stages"])] == [True] * 3
    page = steps["save_page"]
    assert page["stored_after"] - page["stored_before"] == REPS * QUESTIONS
    assert info["stored_final"] == page["stored_after"]
    assert info["assessment_status"] == {"submitted": UNITS}          # every unit submitted and locked
    assert steps["rescore"]["units_scored"] == UNITS
    assert steps["list_all"]["rows"] == UNITS * QUESTIONS             # one current answer per unit x question
    assert steps["pack_one"]["pack_bytes"] > 0
