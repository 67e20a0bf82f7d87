"""Smoke run of the browser benchmark (benchmarks.browser) at size S, one repetition: it must keep working,
report both pages and take their screenshots. Times are never asserted. Needs Debian's /usr/bin/chromium."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import browser

from .helpers.browser import require_browser

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_browser_benchmark_measures_both_pages(tmp_path):
    require_browser()
    out = tmp_path / "out"
    assert browser.main(["--sizes", "S", "--reps", "1", "--head-size", "S", "--db-dir", str(tmp_path / "db"),
                         "--out", str(out)]) == 0
    data = json.loads((out / "browser.json").read_text())
    size = data["sizes"]["S"]
    for page in ("dashboard", "self_assessment"):
        entry = size[page]
        assert entry["reps"] == 1 and all(math.isfinite(t) and t > 0 for t in entry["times_s"])
        assert entry["page"]["exceptions"] == 0
        assert (out / f"browser-S-{page.replace('_', '-')}.png").stat().st_size > 0
    assert size["dashboard"]["page"]['[data-testid="stMetric"]'] >= 4
    assert data["targets"][0]["status"] == "not measured"  # S only: no L/S ratio
    assert "| Leadership dashboard (cold) |" in (out / "browser.md").read_text()


def test_the_probe_times_the_dashboard_from_sign_in_because_the_app_lands_there():
    # The cold dashboard is timed from the Sign in click (benchmarks.browser.LANDING); if the app's default page
    # changed, that figure would silently time another page's landing run.
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).resolve().parent.parent / "app.py").read_text())
    pages = next(ast.literal_eval(node.value) for node in tree.body
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PAGES")
    assert [title for _file, title, _icon, _action, default in pages if default] == [browser.LANDING]
