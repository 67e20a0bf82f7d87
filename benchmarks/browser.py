"""Browser benchmark (issue 17): `python -m benchmarks.browser [--sizes S,L] [--reps N] [--db-dir DIR] [--out DIR]`.

Not a test: it times what a user waits for in Chromium (Debian's /usr/bin/chromium, driven by Playwright).

For each size it builds the synthetic organisation (benchmarks.synth, as `benchmarks.run` does) into
DIR/<size>/itscm.duckdb, or reuses that file when it exists (--db-dir keeps them between runs), creates the
benchmark's accounts through the engine (assessment.users.create), serves the app with `streamlit run` on a
free port and measures, per repetition, in a fresh browser context:

- the leadership dashboard, which is the page a user lands on after signing in: the cold time runs from
  the click on "Sign in" until Streamlit has finished the run (no `stStatusWidget` running indicator), the
  page's title, its four metrics and every Plotly chart are drawn, and that state has held for STABLE_S.
  (Timing a later click on its sidebar link would time a second visit: the landing run has already filled
  the user's cache, and may still be running when the click comes);
- at the --head-size (default L), a department head's self-assessment page of one unit (a partly answered
  draft in the open cycle: the whole form), from the click on its sidebar link once the landing page has
  finished, timed the same way (progress bar and the domain tabs drawn).

Each repetition signs in as its own user (bench.lead<i>, bench.head<i>): the pages' st.cache_data is keyed
by the user, so every timed render is cold, as a user's first visit is. A warm figure (the same user's
second visit) is kept beside it. The median is reported; the target is dashboard L <= 2 x S.
Screenshots of the last repetition go to OUT/browser-<size>-<page>.png; OUT/browser.md and browser.json
hold the results.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results"
DEFAULT_REPS = 5
TARGET = 2.0          # dashboard at L <= 2 x its time at S
STABLE_S = 0.5        # the finished state must hold this long (a rerun would bring the indicator back)
POLL_MS = 25
TIMEOUT_S = 180.0
PASSWORD = "benchmark browser passphrase 2026"
DASHBOARD, SELF_ASSESSMENT, ACCOUNT = "Leadership dashboard", "Self-assessment", "My account"
LANDING = DASHBOARD   # the page app.py opens after sign-in (its default page)

# Finished: no running indicator, the page's h1 is the wanted title, the required elements are there, every
# Plotly chart has drawn its SVG, and no exception box. Returns null while not finished, else the counts.
READY_JS = """
([title, required]) => {
  if (document.querySelector('[data-testid="stStatusWidget"]')) return null;
  const h1 = [...document.querySelectorAll('h1')].map(e => e.innerText.trim());
  if (!h1.includes(title)) return null;
  const alerts = [...document.querySelectorAll('[data-testid="stAlert"]')].map(e => e.innerText);
  const failed = alerts.find(t => t.includes('Something went wrong (reference'));
  if (failed) return {error: failed};
  const counts = {};
  for (const [sel, min] of Object.entries(required)) {
    counts[sel] = document.querySelectorAll(sel).length;
    if (counts[sel] < min) return null;
  }
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  if (charts.some(c => !c.querySelector('.main-svg'))) return null;
  counts.charts = charts.length;
  counts.elements = document.querySelectorAll('[data-testid="stMain"] [data-testid="stElementContainer"]').length;
  counts.exceptions = document.querySelectorAll('[data-testid="stException"]').length;
  return counts;
}
"""
DASHBOARD_REQUIRED = {'[data-testid="stMetric"]': 4, '[data-testid="stPlotlyChart"]': 3}
SELF_REQUIRED = {'[data-testid="stProgress"]': 1, '[role="tab"]': 2}


def log(msg: str) -> None:
    print(f"[browser {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ data


def ensure_database(size: str, folder: Path, today: date, seed: int) -> dict:
    """The synthetic organisation in folder/itscm.duckdb: built (benchmarks.run's loader) unless it exists."""
    path = folder / "itscm.duckdb"
    if path.exists():
        return {"built": False, "db_file_mb": path.stat().st_size / 2**20}
    folder.mkdir(parents=True, exist_ok=True)
    from .run import child_load

    log(f"{size}: building the synthetic organisation in {folder}")
    out = child_load(size, folder, today, seed)
    return {"built": True, **{k: out[k] for k in ("units", "answer_events", "db_file_mb")}}


def prepare_users(folder: Path, reps: int, head: bool) -> dict:
    """Benchmark accounts (one leadership and, if asked, one head user per repetition plus a warm-up one);
    the head's unit is a partly answered draft of the open cycle. Reused when they exist."""
    import polars as pl

    from assessment import access, users
    from assessment.errors import InvalidState
    from assessment.storage import answers as answers_sql
    from assessment.storage import campaigns as campaigns_sql
    from assessment.storage.db import open_database

    db = open_database(folder / "itscm.duckdb")
    admin = access.SYSTEM.with_source("benchmark")
    info: dict[str, Any] = {}
    try:
        with db.read() as cur:
            latest = cur.execute("SELECT campaign_id FROM campaigns ORDER BY opens_on DESC LIMIT 1").fetchall()[0][0]
            drafts = campaigns_sql.assessment_states(cur, latest).filter(pl.col("status") == "draft").sort("unit_id")
            unit = None
            for uid in drafts["unit_id"].to_list():
                n = answers_sql.current(cur, latest, [uid]).height
                if 0 < n < 43:
                    unit, info["head_answers"] = uid, n
                    break
            unit = unit or drafts["unit_id"][0]
        info.update(campaign=latest, head_unit=unit)
        wanted = [(f"bench.lead{i}", access.LEADERSHIP, []) for i in range(reps + 1)]
        if head:
            wanted += [(f"bench.head{i}", access.HEAD, [unit]) for i in range(reps + 1)]
        for name, role, units in wanted:
            try:
                users.create(db, admin, name, f"Benchmark {name}", role, PASSWORD, units)
            except InvalidState:
                pass  # reused database: the account is already there
    finally:
        db.close()
    return info


# ------------------------------------------------------------------------------------------------ browser


def _sign_in(page, url: str, username: str, landing: tuple[str, dict] | None = None) -> tuple[float, dict]:
    """Sign in; with landing (title, required), the seconds from the Sign in click until that page, where
    the app lands a signed-in user, has finished (else 0.0 once whatever page it landed on has finished)."""
    page.goto(f"{url}/account")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Sign in").click()
    if landing is not None:
        return _wait_ready(page, *landing, t0)
    page.get_by_role("button", name="Sign out").wait_for(timeout=TIMEOUT_S * 1000)
    _settle(page)
    return 0.0, {}


def _settle(page) -> None:
    """Wait until no run has been going for STABLE_S (the indicator can come back for a rerun)."""
    end = time.monotonic() + TIMEOUT_S
    quiet_since: float | None = None
    while time.monotonic() < end:
        now = time.monotonic()
        if page.locator('[data-testid="stStatusWidget"]').count() or not page.locator("h1").count():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= STABLE_S:
            return
        page.wait_for_timeout(POLL_MS)


class PageError(RuntimeError):
    """The page showed the app's error box (its reference is in the server log)."""


def _timed_visit(page, title: str, required: dict) -> tuple[float, dict]:
    """Click the sidebar link to `title`; seconds until the finished state first held for STABLE_S."""
    link = page.get_by_role("link", name=title).first
    link.wait_for()
    t0 = time.perf_counter()
    link.click()
    return _wait_ready(page, title, required, t0)


def _wait_ready(page, title: str, required: dict, t0: float) -> tuple[float, dict]:
    """Seconds from t0 until the page `title` has finished and that state has held for STABLE_S."""
    first: float | None = None
    counts: dict = {}
    while True:
        now = time.perf_counter()
        state = page.evaluate(READY_JS, [title, required])
        if state is not None and "error" in state:
            raise PageError(f"{title}: {state['error']}")
        if state is None:
            first = None
        elif first is None:
            first, counts = now, state
        elif now - first >= STABLE_S:
            return first - t0, counts
        if now - t0 > TIMEOUT_S:
            raise TimeoutError(f"{title} did not finish rendering in {TIMEOUT_S:.0f} s")
        page.wait_for_timeout(POLL_MS)


def _shot(page, path: Path) -> None:
    """A full-page screenshot (Streamlit scrolls inside its main container: grow the viewport first)."""
    height = page.evaluate("() => (document.querySelector('[data-testid=stMain]') || document.body).scrollHeight")
    page.set_viewport_size({"width": 1400, "height": max(900, min(int(height) + 40, 12000))})
    _settle(page)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def measure_page(browser, url: str, user_prefix: str, title: str, required: dict, reps: int,
                 shot: Path | None) -> dict:
    """A warm-up visit (user 0: first imports, the database's caches), then one cold visit per repetition,
    each as its own user in a fresh context (the landing page: timed from the Sign in click), followed by the
    same user's warm second visit."""
    cold, warm, counts = [], [], {}
    for i in range(reps + 1):
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT_S * 1000)
        try:
            lands = title == LANDING
            try:
                t, counts = _sign_in(page, url, f"{user_prefix}{i}", (title, required) if lands else None)
                if not lands:
                    t, counts = _timed_visit(page, title, required)
            except PageError as exc:
                if i > 0:
                    raise
                # First run in a new server: an import race (see the report) can fail it; try once more.
                log(f"  warm-up visit failed ({exc}); once more")
                page.wait_for_timeout(2000)
                _timed_visit(page, ACCOUNT, {})
                t, counts = _timed_visit(page, title, required)
            _timed_visit(page, ACCOUNT, {})
            t_warm, _ = _timed_visit(page, title, required)
            if i > 0:
                cold.append(t)
                warm.append(t_warm)
            log(f"  {title} as {user_prefix}{i}: {t * 1000:.0f} ms cold, {t_warm * 1000:.0f} ms warm"
                + (" (warm-up, not counted)" if i == 0 else ""))
            if shot is not None and i == reps:
                _shot(page, shot)
        finally:
            ctx.close()
    return {"median_s": statistics.median(cold), "min_s": min(cold), "max_s": max(cold), "times_s": cold,
            "warm_median_s": statistics.median(warm), "warm_times_s": warm, "reps": len(cold),
            "page": counts, "screenshot": str(shot) if shot else None}


def measure_size(size: str, folder: Path, reps: int, head: bool, out: Path) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, serve

    result: dict[str, Any] = {}
    with serve(folder, demo=False) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            log(f"{size}: leadership dashboard, {reps} repetition(s)")
            result["dashboard"] = measure_page(browser, url, "bench.lead", DASHBOARD, DASHBOARD_REQUIRED, reps,
                                               out / f"browser-{size}-dashboard.png")
            if head:
                log(f"{size}: self-assessment page of a department head, {reps} repetition(s)")
                result["self_assessment"] = measure_page(browser, url, "bench.head", SELF_ASSESSMENT, SELF_REQUIRED,
                                                         reps, out / f"browser-{size}-self-assessment.png")
        finally:
            browser.close()
    return result


# ------------------------------------------------------------------------------------------------ report


def fmt_ms(v: float | None) -> str:
    return "—" if v is None else f"{v * 1000:,.0f} ms"


def markdown(report: dict) -> str:
    sizes = report["sizes"]
    names = list(sizes)
    lines = ["# Browser benchmark (issue 17)", "",
             f"Chromium {report['machine'].get('chromium', '?')} through Playwright; {report['machine']['cores']} "
             f"core(s); {report['config']['reps']} cold repetition(s) per page after one warm-up, median shown "
             f"(each repetition is its own user, so st.cache_data is cold; 'warm' is that user's second visit). "
             f"A cold render is timed from the click that opens the page (Sign in for the dashboard, where the app "
             f"lands; the sidebar link for the self-assessment page) until the run has finished and the page's "
             f"elements and charts are drawn, held for {STABLE_S * 1000:.0f} ms; a warm one from the sidebar link. "
             f"Run {report['config']['started']}.",
             "", "| Page | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key, label in (("dashboard", "Leadership dashboard (cold)"), ("self_assessment", "Self-assessment, one head")):
        if not any(key in sizes[n] for n in names):
            continue
        lines.append(f"| {label} | " + " | ".join(fmt_ms(sizes[n].get(key, {}).get("median_s")) for n in names) + " |")
        lines.append("| ↳ warm (second visit) | "
                     + " | ".join(fmt_ms(sizes[n].get(key, {}).get("warm_median_s")) for n in names) + " |")
    lines += ["", "## Targets", "", "| Target | Measured | Status |", "|---|---|---|"]
    for t in report["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | **{t['status']}** |")
    notes = [f"- {n}: {sizes[n]['error']}" for n in names if "error" in sizes[n]]
    if notes:
        lines += ["", "## Notes", ""] + notes
    return "\n".join(lines) + "\n"


def targets(sizes: dict) -> list[dict]:
    s = sizes.get("S", {}).get("dashboard", {}).get("median_s")
    big = sizes.get("L", {}).get("dashboard", {}).get("median_s")
    if s and big:
        ratio = big / s
        return [{"target": f"Leadership dashboard at L <= {TARGET:g}x its render at S", "ratio": ratio,
                 "measured": f"L/S {ratio:.2f}×", "status": "met" if ratio <= TARGET else "missed"}]
    return [{"target": f"Leadership dashboard at L <= {TARGET:g}x its render at S", "ratio": None,
             "measured": "—", "status": "not measured"}]


def _chromium_version() -> str | None:
    import subprocess

    try:
        return subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True,
                              timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.browser", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="S,L", help="comma-separated: S, M, L or a unit count")
    p.add_argument("--reps", type=int, default=DEFAULT_REPS, help="cold repetitions per page (median reported)")
    p.add_argument("--db-dir", default=None,
                   help="folder of the organisations (DIR/<size>/itscm.duckdb): reused when there, built otherwise "
                        "(default: a temporary folder, removed after)")
    p.add_argument("--head-size", default="L", help="the size whose self-assessment page is measured")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="folder for browser.md, browser.json, screenshots")
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args(argv)
    if args.reps < 1:
        p.error("--reps must be at least 1")
    import os
    import shutil
    import tempfile

    from . import synth

    # The served app must not start its scheduled online backup (a copy of the whole database) while it is timed.
    os.environ["ITSCM_BACKUPS"] = "0"
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        synth.unit_count(s)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.db_dir) if args.db_dir else Path(tempfile.mkdtemp(prefix="itscm-browser-"))
    seed = synth.SEED if args.seed is None else args.seed
    report: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "chromium": _chromium_version()},
        "config": {"sizes": sizes, "reps": args.reps, "stable_s": STABLE_S, "db_dir": str(work),
                   "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")},
        "sizes": {},
    }
    ok = True
    try:
        for size in sizes:
            entry: dict[str, Any] = {}
            try:
                entry["data"] = ensure_database(size, work / size, date.today(), seed)
                entry["accounts"] = prepare_users(work / size, args.reps, size == args.head_size)
                entry.update(measure_size(size, work / size, args.reps, size == args.head_size, out))
            except Exception as exc:  # noqa: BLE001 - report the other sizes
                entry["error"] = f"{type(exc).__name__}: {exc}"
                ok = False
                log(f"{size}: FAILED {entry['error']}")
            report["sizes"][size] = entry
    finally:
        if not args.db_dir:
            shutil.rmtree(work, ignore_errors=True)
    report["targets"] = targets(report["sizes"])
    text = markdown(report)
    (out / "browser.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "browser.md").write_text(text)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
