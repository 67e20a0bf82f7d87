"""Benchmark harness (issue 7): `python -m benchmarks.run [--sizes S,M,L] [--reps N] [--out DIR] [--profile]`.

For each size the parent process runs two child processes on a fresh DuckDB file in a temp folder:
1. `--child load`: generate the synthetic organisation (benchmarks.synth) and load it set-based;
2. `--child measure`: open the file like the app does and time every read step (median of the
   repetitions, min/max and all times kept), each beside its floor (benchmarks.floors), and the dashboard;
3. `--child excel`: the auditor pack export and its import beside their floors (benchmarks.excel), then the
   writes (benchmarks.writes), which change the open cycle the reads measured. In a process of its own,
   the export's peak memory is its own, not the heap the read steps left behind.
Each step's peak RSS is measured in its process (VmHWM reset per step); the product's peak memory at a size
is the largest of them (the loader's memory is not counted).
The parent writes DIR/latest.json and DIR/latest.md and prints the Markdown.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from . import writes

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results"
DEFAULT_SIZES = ("S", "M", "L")
DEFAULT_REPS = 5
FAST = 0.05          # steps faster than this (first run) get at least FAST_REPS timed runs
FAST_REPS = 15
SLOW = 10.0          # steps slower than this (first run) get at most SLOW_REPS runs, the first one included
SLOW_REPS = 3
MB = 1024 * 1024

# (key, label, kind): kind is "scoring", "query", "extra-query", "page", "export" or "import".
STEPS: list[tuple[str, str, str]] = [
    ("scoring", "Scoring + persisting one campaign (workflow.rescore_campaign)", "scoring"),
    ("scoring_records", "Scoring one campaign with record rules, questionnaire 1.1.0 (records read + scoring.score)",
     "scoring"),
    ("recovery", "Recovery view, demonstrated vs required per service (recovery.demonstrated)", "query"),
    ("heatmap_division", "Heatmap, division x domain (reports.heatmap)", "query"),
    ("heatmap_unit", "Heatmap, 40 worst units x domain (reports.heatmap by=unit)", "query"),
    ("top_gaps", "Top 20 gaps (reports.top_gaps)", "query"),
    ("trends_org", "Trends over all cycles, organisation (reports.trends)", "query"),
    ("trends_division", "Trends over all cycles, per division (reports.trends by=division)", "query"),
    ("changes", "Changes since the previous cycle, per unit (reports.changes)", "query"),
    ("deadlines", "Review deadlines (reports.deadlines)", "query"),
    ("deadlines_actions", "Review deadlines with 20 improvement actions per unit (reports.deadlines + "
     "actions.due_for)", "query"),
    ("summary", "KPI summary (reports.summary)", "extra-query"),
    ("changes_detail", "Changes since the previous cycle, 500 questions (reports.change_details)",
     "extra-query"),
    ("checklist", "Checklist coverage (reports.checklist_coverage)", "extra-query"),
    ("standards", "Standards view, every standard (standards_view.view)", "extra-query"),
    ("dashboard", "Leadership dashboard, AppTest run, cold cache (signed in as leadership)", "page"),
    ("dashboard_warm", "Leadership dashboard, AppTest run, st.cache_data warm", "page-extra"),
    ("export", "Auditor pack export of one campaign (excel.export.auditor_pack)", "export"),
    ("import", "Import of its Answers sheet: validation + dry-run diff (excel.importer)", "import"),
]
FLOOR_LABELS = {
    "scoring": "the same job in plain SQL: every question row with caps and explanations, domains, units, "
               "persisted in one transaction (tests/test_bench_floors.py checks the rows are the product's)",
    **dict.fromkeys(("heatmap_division", "heatmap_unit", "top_gaps", "summary", "checklist", "trends_org",
                     "trends_division", "changes", "changes_detail", "deadlines"),
                    "the product's frame in plain SQL, one statement (tests/test_bench_query_floors.py checks "
                    "it equals the product's)"),
    "deadlines_actions": "the product's two frames in plain SQL, one statement each (tests/test_bench_query_floors.py "
                         "checks they equal the product's)",
    "scoring_records": "the same job in plain SQL: the four record rules judged on the records as of each unit's "
                       "day, the caps, explanations and notes, domains, units (tests/test_bench_record_floor.py "
                       "checks the rows are the product's)",
    "export": "xlsxwriter constant_memory writing the same cells",
    "import": "fastexcel reading the Answers sheet",
}
TARGETS = {"scoring": 1.5, "query": 2.0, "extra-query": 2.0, "export": 1.5, "import": 3.0}
# Issue 17: trends, changes and deadlines within 1.5x floors that return their very frame (names, placement,
# order, days left and bucket; tests/test_bench_query_floors.py); other steps keep the target of their kind
# (the heatmaps, top gaps, summary and checklist have same-work floors too, under the 2x).
STEP_TARGETS = {key: 1.5 for key in ("trends_org", "trends_division", "changes", "changes_detail", "deadlines",
                                     "deadlines_actions")}
QUERY_GROWTH = 10.0
PAGE_GROWTH = 3.0
PEAK_LIMIT_MB = 1.5 * 1024


# ------------------------------------------------------------------------------------------------ memory


class Memory:
    """Per-step peak RSS (Linux: reset VmHWM through /proc/self/clear_refs) and the process peak."""

    def __init__(self) -> None:
        self.process_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.can_reset = self._try_reset()

    @staticmethod
    def _status(field: str) -> int | None:
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def _try_reset(self) -> bool:
        try:
            self._fold()
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            return True
        except OSError:
            return False

    def _fold(self) -> None:
        hwm = self._status("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.process_peak_kb = max(self.process_peak_kb, hwm)

    def start(self) -> float:
        """Begin a step: reset the high-water mark; return the current RSS in MB."""
        if self.can_reset:
            self._try_reset()
        return (self._status("VmRSS") or 0) / 1024

    def step_peak(self) -> float:
        """Peak RSS in MB since start() (the process peak so far when the mark cannot be reset)."""
        self._fold()
        if self.can_reset:
            return (self._status("VmHWM") or 0) / 1024
        return self.process_peak_kb / 1024

    def peak_mb(self) -> float:
        self._fold()
        return self.process_peak_kb / 1024


# ------------------------------------------------------------------------------------------------ timing


class _Timed:
    """One callable being measured: warm-up (with its own peak RSS), then timed runs."""

    def __init__(self, fn: Callable[[], Any], setup: Callable[[], Any] | None) -> None:
        self.fn, self.setup = fn, setup
        self.times: list[float] = []
        self.cpu: list[float] = []
        self.out: dict[str, Any] = {"available": True}

    def warm_up(self, memory: Memory, tracemalloc_on: bool, given: tuple[float, float, float] | None = None) -> float:
        if given is not None:  # the caller already ran it once: (seconds, rss before, peak rss)
            self.out.update({"warmup_s": given[0], "rss_before_mb": given[1], "peak_rss_mb": given[2]})
            return given[0]
        self.out["rss_before_mb"] = memory.start()
        if self.setup:
            self.setup()
        t = time.perf_counter()
        self.fn()
        warm = time.perf_counter() - t
        self.out["warmup_s"] = warm
        self.out["peak_rss_mb"] = memory.step_peak()  # the peak of one run: every run does the same work
        if tracemalloc_on:
            import tracemalloc

            if self.setup:
                self.setup()
            tracemalloc.start()
            self.fn()
            self.out["py_heap_peak_mb"] = tracemalloc.get_traced_memory()[1] / MB
            tracemalloc.stop()
        return warm

    def once(self) -> None:
        if self.setup:
            self.setup()
        gc.collect()
        c = time.process_time()
        t = time.perf_counter()
        self.fn()
        self.times.append(time.perf_counter() - t)
        self.cpu.append(time.process_time() - c)

    def result(self) -> dict:
        t = self.times
        self.out.update({"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t), "reps": len(t),
                         "times_s": t, "cpu_median_s": statistics.median(self.cpu) if self.cpu else None})
        return self.out


def measure(fn: Callable[[], Any], reps: int, memory: Memory, setup: Callable[[], Any] | None = None,
            tracemalloc_on: bool = False, floor: Callable[[], Any] | None = None,
            prewarmed: tuple[float, float, float] | None = None) -> tuple[dict, dict | None]:
    """Warm up the step (and its floor), then time them in turns: step, floor, step, floor...

    Interleaving keeps the ratio to the floor fair when other work on the machine comes and goes.
    Steps under FAST seconds get at least FAST_REPS runs (unless reps is 1); steps over SLOW seconds at most
    SLOW_REPS, their warm-up run counted (warm-up effects are noise at that length).
    """
    parts = [_Timed(fn, setup)] + ([_Timed(floor, None)] if floor is not None else [])
    warm = [p.warm_up(memory, tracemalloc_on, prewarmed if i == 0 else None) for i, p in enumerate(parts)]
    slowest = max(warm)
    if slowest < FAST and reps > 1:
        n = max(reps, FAST_REPS)
    elif warm[0] >= SLOW:
        n = min(reps, SLOW_REPS)
        for p, w in zip(parts, warm):
            if w >= SLOW:
                p.times.append(w)
                p.out["warmup_counted"] = True
    else:
        n = reps
    memory.start()
    while any(len(p.times) < n for p in parts):
        for p in parts:
            if len(p.times) < n:
                p.once()
    memory.step_peak()
    results = [p.result() for p in parts]
    if floor is not None:
        ratios = [a / b for a, b in zip(parts[0].times, parts[1].times) if b > 0]
        results[0]["paired_ratio_median"] = statistics.median(ratios) if ratios else None
        if results[0]["cpu_median_s"] and results[1]["cpu_median_s"]:
            results[0]["cpu_ratio"] = results[0]["cpu_median_s"] / results[1]["cpu_median_s"]
    return results[0], (results[1] if floor is not None else None)


def unavailable(reason: str) -> dict:
    return {"available": False, "reason": reason}


def failed(exc: BaseException) -> dict:
    return {"available": False, "reason": f"failed: {type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8)}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ children


def child_load(size: str, db_dir: Path, today: date, seed: int) -> dict:
    from assessment.questionnaire import load_default
    from assessment.storage.db import open_database

    from . import synth

    q = load_default()
    org = synth.generate(q, size, today, seed)
    db = open_database(db_dir / "itscm.duckdb")
    try:
        phases = synth.load(db, q, org)
    finally:
        db.close()
    return {
        "size": size, "units": org.units.height, "divisions": org.divisions.height,
        "campaigns": len(org.campaigns), "questions": len(q.questions),
        "answer_events": org.answers.height + org.revisions.height,
        "generate_s": org.timings["generate_s"], "load": phases,
        "db_file_mb": (db_dir / "itscm.duckdb").stat().st_size / MB,
        "loader_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_measure(size: str, db_dir: Path, today: date, reps: int, profile_dir: Path | None,
                  tracemalloc_on: bool) -> dict:
    memory = Memory()
    os.environ["ITSCM_DATA_DIR"] = str(db_dir)
    os.environ.pop("ITSCM_DATABASE_URL", None)
    os.environ["ITSCM_DEMO"] = "0"
    # The app's first start (the dashboard step) would otherwise take its scheduled online backup in a thread
    # of this process, copying the whole file while the dashboard and the steps after it are timed.
    os.environ["ITSCM_BACKUPS"] = "0"

    import logging

    os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")  # bare-mode warnings would drown the progress log
    import polars as pl
    import streamlit.logger

    streamlit.logger.set_log_level("error")
    logging.getLogger("fastexcel").setLevel(logging.ERROR)
    from assessment import access, actions, recovery, reports, standards_view, users, workflow
    from assessment.catalog import campaign_questionnaire
    from assessment.storage.db import open_database

    from . import floors

    db = open_database(db_dir / "itscm.duckdb")
    admin = access.SYSTEM.with_source("benchmark")
    users.create(db, admin, "bench.leadership", "Benchmark leadership", access.LEADERSHIP, None)
    users.create(db, admin, "bench.auditor", "Benchmark auditor", access.AUDITOR, None, can_import=True)
    with db.read() as cur:
        camps = cur.sql("SELECT campaign_id, status FROM campaigns ORDER BY opens_on").pl()
        threads = cur.execute("SELECT current_setting('threads')").fetchall()[0][0]
        counts = {t: cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                  for t in ("business_units", "answer_events", "question_scores", "domain_scores", "unit_scores")}
    ids = camps["campaign_id"].to_list()
    latest, previous = ids[-1], ids[-2]
    last_closed = camps.filter(pl.col("status") == "closed")["campaign_id"].to_list()[-1]
    rule = campaign_questionnaire(db, latest).policy.evidence_rule
    floors.prepare(db)
    results: dict[str, dict] = {}
    floor_results: dict[str, dict] = {}
    info: dict[str, Any] = {"latest_campaign": latest, "previous_campaign": previous,
                            "scored_campaign": last_closed, "duckdb_threads": threads, "rows": counts,
                            "memory_per_step": "VmHWM reset per step" if memory.can_reset else "process peak only"}

    def run(key: str, fn: Callable[[], Any] | None, floor: Callable[[], Any] | None = None,
            setup: Callable[[], Any] | None = None, reason: str = "") -> None:
        if fn is None:
            results[key] = unavailable(reason)
            log(f"{size} {key}: not available ({reason})")
            if floor is not None:
                try:
                    floor_results[key] = measure(floor, reps, memory, None, tracemalloc_on)[0]
                except Exception as exc:  # noqa: BLE001
                    floor_results[key] = failed(exc)
            return
        try:
            results[key], f = measure(fn, reps, memory, setup, tracemalloc_on, floor)
            if f is not None:
                floor_results[key] = f
            tail = f", floor {f['median_s'] * 1000:.1f} ms" if f else ""
            log(f"{size} {key}: {results[key]['median_s'] * 1000:.1f} ms{tail}")
        except Exception as exc:  # noqa: BLE001 - report and carry on with the other steps
            results[key] = failed(exc)
            log(f"{size} {key}: FAILED {exc}")
            if floor is not None and key not in floor_results:
                try:
                    floor_results[key] = measure(floor, reps, memory, None, tracemalloc_on)[0]
                except Exception as exc2:  # noqa: BLE001
                    floor_results[key] = failed(exc2)

    run("scoring", lambda: workflow.rescore_campaign(db, admin, last_closed),
        lambda: floors.scoring(db, last_closed))
    scoring_records, records_floor, records_info = _records_scoring(db, last_closed)
    info["scoring_records"] = records_info
    run("scoring_records", scoring_records, records_floor)
    at_day_end = datetime.combine(today, datetime.max.time())
    run("recovery", lambda: recovery.demonstrated(db, admin, at=at_day_end), lambda: floors.recovery(db, at_day_end))
    run("heatmap_division", lambda: reports.heatmap(db, admin, latest, by="division"),
        lambda: floors.heatmap_division(db, latest))
    run("heatmap_unit", lambda: reports.heatmap(db, admin, latest, by="unit", limit=40),
        lambda: floors.heatmap_unit(db, latest, 40))
    run("top_gaps", lambda: reports.top_gaps(db, admin, latest, limit=20), lambda: floors.top_gaps(db, latest, 20))
    run("trends_org", lambda: reports.trends(db, admin, by="organisation"), lambda: floors.trends(db, False))
    run("trends_division", lambda: reports.trends(db, admin, by="division"), lambda: floors.trends(db, True))
    run("changes", lambda: reports.changes(db, admin, latest), lambda: floors.changes(db, latest))
    run("deadlines", lambda: reports.deadlines(db, admin, latest, today=today),
        lambda: floors.deadlines(db, latest, rule.min_level, rule.max_age_months, today))
    run("deadlines_actions", lambda: (reports.deadlines(db, admin, latest, today=today),
                                      actions.due_for(db, admin, today=today)),
        lambda: floors.deadlines_with_actions(db, latest, rule.min_level, rule.max_age_months, today))
    run("summary", lambda: reports.summary(db, admin, latest, today=today),
        lambda: floors.summary(db, latest, today))
    run("changes_detail", lambda: reports.change_details(db, admin, latest, previous, limit=500),
        lambda: floors.changes_detail(db, latest, previous, 500))
    run("checklist", lambda: reports.checklist_coverage(db, admin, latest),
        lambda: floors.checklist_coverage(db, latest))
    refs, compliance = _clause_keys(db, latest), campaign_questionnaire(db, latest).policy.compliance_level
    run("standards", lambda: standards_view.view(db, admin, latest),
        lambda: floors.standards(db, latest, refs, compliance, standards_view.BELOW_LISTED))

    page, page_warm, page_info = _dashboard_steps(db)
    info["dashboard"] = page_info
    run("dashboard", page, setup=_clear_data_cache, reason=page_info.get("reason", ""))
    run("dashboard_warm", page_warm, reason=page_info.get("reason", ""))

    if profile_dir is not None:
        info["profiles"] = _profiles(size, profile_dir, {
            "scoring": lambda: workflow.rescore_campaign(db, admin, last_closed),
            "changes": lambda: reports.changes(db, admin, latest),
            "deadlines": lambda: reports.deadlines(db, admin, latest, today=today),
            "dashboard": page,
        })
    db.close()
    return _child_result(memory, results, floor_results, info)


def child_excel(size: str, db_dir: Path, today: date, reps: int, profile_dir: Path | None,
                tracemalloc_on: bool) -> dict:
    """The Excel steps (export, import, their floors) and then the writes, in a process of their own: the
    export's peak memory is then its own, not what the read steps before it left on the heap."""
    memory = Memory()
    os.environ["ITSCM_DATA_DIR"] = str(db_dir)
    os.environ.pop("ITSCM_DATABASE_URL", None)
    os.environ["ITSCM_DEMO"] = "0"
    # The auditor pack of a large campaign exceeds the default 10 MB import limit: lift it so the import's
    # cost is measured (the pack's size is reported beside the default limit).
    os.environ["ITSCM_IMPORT_MAX_BYTES"] = str(4 * 1024 * MB)

    import logging

    logging.getLogger("fastexcel").setLevel(logging.ERROR)
    from assessment import access
    from assessment.model import Actor
    from assessment.storage.db import open_database

    from . import excel

    db = open_database(db_dir / "itscm.duckdb")
    auditor = Actor("bench.auditor", access.AUDITOR, can_import=True, source="benchmark")
    with db.read() as cur:
        latest = cur.execute("SELECT campaign_id FROM campaigns ORDER BY opens_on DESC LIMIT 1").fetchall()[0][0]
    results: dict[str, dict] = {}
    floor_results: dict[str, dict] = {}
    info: dict[str, Any] = {}
    # Excel. The first export produces the pack and the first import reads it: both run before the harness
    # reads the pack back for the export floor, so their peak memory is the product's alone. Then each is
    # timed in turns with its floor (those first runs count as their warm-ups).
    pack, floor_pack = db_dir / "pack.xlsx", db_dir / "floor-pack.xlsx"
    exp = excel.export_step(db, auditor, latest, pack, today)
    info["export_function"] = exp.detail or exp.reason
    exp_warm = _first_run("export", exp.fn, memory, results) if exp.fn is not None else None
    exported = exp_warm is not None and pack.exists()
    if exported:
        imp = excel.import_step(db, auditor, pack, today)
        info["import_with_default_limits"] = excel.default_limits_verdict(db, auditor, pack, today)
    else:
        mod, why = excel._module("assessment.excel.importer")
        imp = excel.Step(None, why or "nothing to import: the auditor pack export is not available")
    info["import_function"] = imp.detail or imp.reason
    imp_warm = _first_run("import", imp.fn, memory, results) if imp.fn is not None else None

    if exported:
        sheets = excel.read_sheets(pack)
        info["pack_mb"] = pack.stat().st_size / MB
        info["pack_sheets"] = {k: v.height for k, v in sheets.items()}
        try:
            from assessment.excel.safety import Limits

            info["import_default_limits_mb"] = {"max_bytes": Limits().max_bytes / MB,
                                                "max_uncompressed": Limits().max_uncompressed / MB}
        except ImportError:
            pass
        info["export_floor_source"] = "the cells of the product's pack, read back"
    else:
        sheets = {excel.ANSWERS_SHEET: excel.answers_frame_from_db(db, latest)}
        info["export_floor_source"] = "the campaign's answer rows from the database (no product export to copy)"

    def floor_export() -> int:
        return excel.xlsxwriter_floor(sheets, floor_pack, header=not exported)

    source = pack if exported else floor_pack
    for key, step, warm, floor in (("export", exp, exp_warm, floor_export),
                                   ("import", imp, imp_warm, lambda: excel.fastexcel_floor(source))):
        if warm is not None:
            try:
                results[key], floor_results[key] = measure(step.fn, reps, memory, None, tracemalloc_on, floor,
                                                           warm)
                log(f"{size} {key}: {results[key]['median_s']:.2f} s, floor {floor_results[key]['median_s']:.2f} s")
            except Exception as exc:  # noqa: BLE001
                results[key] = failed(exc)
                log(f"{size} {key}: FAILED {exc}")
        results.setdefault(key, unavailable(step.reason))
        if key not in floor_results:
            try:
                floor_results[key] = measure(floor, reps, memory, None, tracemalloc_on)[0]
            except Exception as exc:  # noqa: BLE001
                floor_results[key] = failed(exc)
        sheets = {}  # after the export: free the read-back cells

    # Last: the writes change the open cycle the read steps measured.
    try:
        info["writes"] = writes.measure(db, latest, today)
        if info["writes"].get("available"):
            w = info["writes"]
            log(f"{size} writes: save one {w['save_one_s'] * 1000:.2f} ms (p95 {w['save_one_p95_s'] * 1000:.2f}), "
                f"page {w['save_page_s'] * 1000:.2f} ms, submit {w['submit_s'] * 1000:.2f} ms")
    except Exception as exc:  # noqa: BLE001
        info["writes"] = {"available": False, "reason": f"failed: {exc}"}
        log(f"{size} writes: FAILED {exc}")

    if profile_dir is not None:
        info["profiles"] = _profiles(size, profile_dir, {"export": exp.fn, "import": imp.fn})
    db.close()
    return _child_result(memory, results, floor_results, info)


def _child_result(memory: Memory, results: dict, floor_results: dict, info: dict) -> dict:
    """What a measuring process reports: its steps, floors and info, the product's peak (the largest step
    peak) and the process's own."""
    product_peak = max((e.get("peak_rss_mb") or 0 for e in results.values() if e.get("available")), default=None)
    return {"steps": results, "floors": floor_results, "info": info, "peak_rss_mb": product_peak,
            "process_peak_rss_mb": memory.peak_mb(),
            "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def merge_children(measure: dict, excel_part: dict) -> dict:
    """One size's measurements from its two measuring processes: steps, floors and info side by side, the
    peaks the larger of the two."""
    def larger(key: str) -> float | None:
        vals = [v for v in (measure.get(key), excel_part.get(key)) if v is not None]
        return max(vals) if vals else None

    return {**measure, "steps": {**measure["steps"], **excel_part["steps"]},
            "floors": {**measure["floors"], **excel_part["floors"]},
            "info": {**measure["info"], **{k: v for k, v in excel_part["info"].items() if k != "profiles"},
                     "profiles": {**measure["info"].get("profiles", {}), **excel_part["info"].get("profiles", {})}},
            "peak_rss_mb": larger("peak_rss_mb"), "process_peak_rss_mb": larger("process_peak_rss_mb"),
            "ru_maxrss_mb": larger("ru_maxrss_mb")}


def _records_scoring(db, campaign_id: str) -> tuple[Callable[[], Any], Callable[[], Any], dict]:
    """Score a campaign's submitted units with questionnaire 1.1.0, whose record rules read the services,
    exercise results and incidents as of each unit's submission date (what rescore_campaign does for a
    1.1.0 cycle; the benchmark's cycles are on 1.0.0, so the scores are not persisted); with its floor,
    floors.scoring_records, the same rows in plain SQL."""
    import polars as pl

    from assessment import scoring
    from assessment.questionnaire import QUESTIONNAIRE_DIR, load_file
    from assessment.storage import answers as answers_sql
    from assessment.storage import campaigns as campaigns_sql
    from assessment.storage import recovery as recovery_sql

    from . import floors

    q = load_file(QUESTIONNAIRE_DIR / "itscm-core-1.1.yaml")

    def fn() -> int:
        with db.read() as cur:
            done = campaigns_sql.assessment_states(cur, campaign_id).filter(
                pl.col("status").is_in(["submitted", "approved"]))
            units = done.select("unit_id", "division_id", "tier",
                                pl.col("submitted_at").cast(pl.Date).alias("as_of"))
            current = answers_sql.current(cur, campaign_id)
            facts = recovery_sql.facts(cur, units)
        s = scoring.score(q, current, units, records=facts)
        return s.questions.height

    return (fn, lambda: floors.scoring_records(db, campaign_id, q),
            {"questionnaire": q.policy_label, "record_rules": len(q.policy.record_rules)})


def _first_run(key: str, fn: Callable[[], Any], memory: Memory, results: dict) -> tuple[float, float, float] | None:
    """Run a step once (its warm-up): (seconds, RSS before, peak RSS), or None after recording the failure."""
    try:
        rss0 = memory.start()
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0, rss0, memory.step_peak()
    except Exception as exc:  # noqa: BLE001 - report and carry on
        results[key] = failed(exc)
        log(f"{key}: FAILED {exc}")
        return None


def _quiet_streamlit() -> None:
    """Bare-mode warnings ("missing ScriptRunContext", "No runtime found") would drown the progress log;
    AppTest re-applies streamlit's configured log level, so this is called again around each run."""
    import streamlit.logger

    streamlit.logger.set_log_level("error")


def _clause_keys(db, campaign_id: str):
    """(key_id, question_id) of every cited clause, clause group and standard of the campaign's questionnaire:
    the floor's input (the view answers all three levels)."""
    import polars as pl

    from assessment.catalog import campaign_questionnaire
    from assessment.standards_view import clause_group

    q = campaign_questionnaire(db, campaign_id)
    rows = [{"key_id": key, "question_id": x.id} for x in q.questions for r in x.references
            for key in (f"c|{r.standard}|{r.clause}", f"g|{r.standard}|{clause_group(r.standard, r.clause)}",
                        f"s|{r.standard}")]
    return pl.DataFrame(rows).unique()


def _clear_data_cache() -> None:
    import streamlit as st

    _quiet_streamlit()
    st.cache_data.clear()


def _dashboard_steps(db) -> tuple[Callable | None, Callable | None, dict]:
    """A fresh AppTest session signed in as leadership per run; the default page is the dashboard."""
    try:
        from streamlit.testing.v1 import AppTest

        from assessment import auth
    except Exception as exc:  # noqa: BLE001
        return None, None, {"reason": f"streamlit AppTest unavailable: {exc}"}
    app = str(ROOT / "app.py")
    state: dict[str, Any] = {}

    def page() -> None:
        at = AppTest.from_file(app, default_timeout=900)
        at.session_state["itscm_session"] = auth.create_session(db, "bench.leadership")
        _quiet_streamlit()
        at.run()
        _quiet_streamlit()
        if at.exception:
            raise RuntimeError("the page raised: " + "; ".join(e.message for e in at.exception))
        titles = [t.value for t in at.title]
        state["title"] = titles[0] if titles else None
        state["elements"] = sum(1 for _ in at.main)

    info: dict[str, Any] = {"app": "app.py (default page: views/dashboard.py)"}
    try:
        page()  # first start: imports, st.cache_resource (the app's Database), questionnaire registration
        info.update(state)
    except Exception as exc:  # noqa: BLE001
        return None, None, {"reason": f"the dashboard run failed: {type(exc).__name__}: {exc}"}
    return page, page, info


def _profiles(size: str, out: Path, steps: dict[str, Callable | None]) -> dict[str, str]:
    try:
        from pyinstrument import Profiler
    except ImportError:
        return {"error": "pyinstrument is not installed (.venv/bin/pip install pyinstrument)"}
    written = {}
    for key, fn in steps.items():
        if fn is None:
            continue
        if key == "dashboard":  # AppTest runs the script in its own thread
            _clear_data_cache()
            written[key] = _profile_threads(fn, out / f"profile-{size}-{key}")
            continue
        profiler = Profiler(interval=0.0005)
        profiler.start()
        try:
            fn()
        finally:
            profiler.stop()
        base = out / f"profile-{size}-{key}"
        base.with_suffix(".html").write_text(profiler.output_html())
        base.with_suffix(".txt").write_text(profiler.output_text(unicode=True, color=False, show_all=False))
        written[key] = str(base.with_suffix(".txt"))
    return written


def _profile_threads(fn: Callable, base: Path) -> str:
    """Profile an AppTest run: its script runs in a ScriptRunner thread, so profile that thread too
    (by wrapping LocalScriptRunner._run_script_thread) and merge it with the calling thread's profile."""
    from pyinstrument import Profiler
    from pyinstrument.renderers import ConsoleRenderer, HTMLRenderer
    from pyinstrument.session import Session
    from streamlit.testing.v1.local_script_runner import LocalScriptRunner

    sessions: list = []
    orig = LocalScriptRunner._run_script_thread

    def profiled(self) -> None:
        p = Profiler(interval=0.0005)
        p.start()
        try:
            orig(self)
        finally:
            sessions.append(p.stop())

    LocalScriptRunner._run_script_thread = profiled
    main_p = Profiler(interval=0.0005)
    try:
        main_p.start()
        fn()
    finally:
        merged = main_p.stop()
        LocalScriptRunner._run_script_thread = orig
    for s in sessions:
        merged = Session.combine(merged, s)
    base.with_suffix(".html").write_text(HTMLRenderer().render(merged))
    base.with_suffix(".txt").write_text(ConsoleRenderer(unicode=True, color=False, show_all=False).render(merged))
    return str(base.with_suffix(".txt"))


# ------------------------------------------------------------------------------------------------ report


def machine() -> dict:
    import duckdb
    import polars as pl

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions = {"python": platform.python_version(), "duckdb": duckdb.__version__, "polars": pl.__version__}
    for mod in ("streamlit", "xlsxwriter", "fastexcel", "numpy"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            versions[mod] = "not installed"
    cores = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    return {"cpu": cpu, "cores": cores, "usable_cores": usable, "ram_gb": ram,
            "os": f"{platform.system()} {platform.release()}", "versions": versions}


def _median(entry: dict | None) -> float | None:
    if entry and entry.get("available") and entry.get("median_s") is not None:
        return entry["median_s"]
    return None


def derive(sizes: dict[str, dict]) -> dict:
    """Ratios to floor per size, growth L/S for every figure, targets met/missed."""
    ratios: dict[str, dict[str, float | None]] = {}
    for size, r in sizes.items():
        m = r.get("measure", {})
        ratios[size] = {}
        for key, _, _ in STEPS:
            p, f = _median(m.get("steps", {}).get(key)), _median(m.get("floors", {}).get(key))
            ratios[size][key] = p / f if p is not None and f else None
    growth: dict[str, float | None] = {}
    first, last = _ends(sizes)
    if first and last and first != last:
        a, b = sizes[first].get("measure", {}), sizes[last].get("measure", {})
        for key, _, _ in STEPS:
            for part in ("steps", "floors"):
                x, y = _median(a.get(part, {}).get(key)), _median(b.get(part, {}).get(key))
                growth[f"{part}.{key}"] = y / x if x and y is not None else None
        pa, pb = a.get("peak_rss_mb"), b.get("peak_rss_mb")
        growth["peak_rss_mb"] = pb / pa if pa and pb else None
        la, lb = sizes[first].get("load", {}).get("load", {}), sizes[last].get("load", {}).get("load", {})
        growth["load"] = lb["total_s"] / la["total_s"] if la.get("total_s") and lb.get("total_s") else None
    return {"ratios": ratios, "growth": growth, "growth_between": [first, last],
            "targets": targets(sizes, ratios, growth, first, last)}


def _ends(sizes: dict) -> tuple[str | None, str | None]:
    order = [s for s in ("S", "M", "L") if s in sizes] + [s for s in sizes if s not in ("S", "M", "L")]
    return (order[0], order[-1]) if order else (None, None)


def targets(sizes: dict, ratios: dict, growth: dict, first: str | None, last: str | None) -> list[dict]:
    out = []
    labels = {k: label for k, label, _ in STEPS}
    for key, _, kind in STEPS:
        if kind in TARGETS:
            limit = STEP_TARGETS.get(key, TARGETS[kind])
            values = {s: ratios[s].get(key) for s in sizes}
            out.append(_judge(f"{labels[key]} <= {limit:g}x floor", values, lambda v, lim=limit: v <= lim,
                              key, "ratio", extra=kind == "extra-query"))
        if kind in ("query", "extra-query"):
            g = growth.get(f"steps.{key}")
            values = {f"{last}/{first}": g} if last == "L" and first == "S" else {}
            out.append(_judge(f"{labels[key]}: L/S <= {QUERY_GROWTH:g}x", values,
                              lambda v: v <= QUERY_GROWTH, key, "growth", extra=kind == "extra-query"))
        if kind == "page":
            g = growth.get(f"steps.{key}")
            values = {f"{last}/{first}": g} if last == "L" and first == "S" else {}
            out.append(_judge(f"Leadership dashboard at L <= {PAGE_GROWTH:g}x its run at S", values,
                              lambda v: v <= PAGE_GROWTH, key, "growth"))
    out += writes.targets(sizes, _judge)
    peak = sizes.get("L", {}).get("measure", {}).get("peak_rss_mb")
    out.append(_judge(f"Peak memory (product) at L < {PEAK_LIMIT_MB / 1024:g} GB", {"L": peak} if peak else {},
                      lambda v: v < PEAK_LIMIT_MB, "peak", "mb"))
    return out


def _judge(name: str, values: dict, ok: Callable[[float], bool], key: str, unit: str, extra: bool = False) -> dict:
    measured = {k: v for k, v in values.items() if v is not None}
    if not measured:
        status = "not measured"
    else:
        missed = [k for k, v in measured.items() if not ok(v)]
        status = "met" if not missed else "missed" + (f" ({', '.join(missed)})" if len(measured) > 1 else "")
    return {"target": name, "key": key, "unit": unit, "values": values, "status": status, "extra": extra}


def fmt_s(v: float | None) -> str:
    if v is None:
        return "—"
    if v < 1:
        return f"{v * 1000:.3g} ms" if v >= 0.001 else f"{v * 1000:.2f} ms"
    return f"{v:.3g} s" if v < 100 else f"{v:.0f} s"


def fmt_x(v: float | None) -> str:
    return "—" if v is None else (f"{v:.2f}×" if v < 10 else f"{v:.0f}×")


def markdown(report: dict) -> str:
    sizes = report["sizes"]
    names = list(sizes)
    d = report["derived"]
    m = report["machine"]
    v = m["versions"]
    first, last = d["growth_between"]
    gcol = f"{last}/{first}" if first and last and first != last else "growth"
    lines = [
        "# ITSCM benchmark results", "",
        f"Machine: {m['cpu']}, {m['usable_cores']} usable core(s) of {m['cores']}, {m['ram_gb']} GB RAM, "
        f"{m['os']}; Python {v['python']}, DuckDB {v['duckdb']}, polars {v['polars']}, streamlit {v['streamlit']}, "
        f"xlsxwriter {v['xlsxwriter']}, fastexcel {v['fastexcel']}.",
        f"Run: {report['config']['started']}, {report['config']['reps']} repetition(s) per step (at least "
        f"{FAST_REPS} for steps under {FAST * 1000:.0f} ms, at most {SLOW_REPS} including the first for steps over "
        f"{SLOW:.0f} s), median shown; min/max and every time in latest.json. "
        f"Total {fmt_s(report['config'].get('elapsed_s'))}. Load average (1 min) before each size: "
        + ", ".join(f"{n} {sizes[n].get('loadavg_before', ['?'])[0]}" for n in names)
        + " (other work on the machine inflates the timings; CPU times are in latest.json).", "",
        "## Data", "",
        "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names),
    ]
    data_rows = [
        ("Business units", lambda s: f"{s['load']['units']:,}"),
        ("Divisions", lambda s: f"{s['load']['divisions']:,}"),
        ("Cycles × questions", lambda s: f"{s['load']['campaigns']} × {s['load']['questions']}"),
        ("Answer events", lambda s: f"{s['load']['answer_events']:,}"),
        ("Question scores", lambda s: f"{s['measure']['info']['rows']['question_scores']:,}"),
        ("Generate + load (one transaction)", lambda s: f"{fmt_s(s['load']['generate_s'])} + "
                                                         f"{fmt_s(s['load']['load']['total_s'])}"),
        ("Database file", lambda s: f"{s['load']['db_file_mb']:.0f} MB"),
        ("Auditor pack", lambda s: f"{s['measure']['info']['pack_mb']:.1f} MB"
         if s["measure"]["info"].get("pack_mb") else "—"),
    ]
    for label, f in data_rows:
        cells = []
        for n in names:
            try:
                cells.append(f(sizes[n]))
            except (KeyError, TypeError):
                cells.append("—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "## Timings (median; × its floor in brackets)", "",
              "| Step | " + " | ".join(names) + f" | {gcol} |", "|---|" + "---|" * (len(names) + 1)]
    for key, label, _kind in STEPS:
        cells = []
        for n in names:
            e = sizes[n].get("measure", {}).get("steps", {}).get(key)
            if e is None:
                cells.append("—")
            elif not e.get("available"):
                cells.append("not available")
            else:
                r = d["ratios"][n].get(key)
                cells.append(fmt_s(e["median_s"]) + (f" ({fmt_x(r)})" if r is not None else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {fmt_x(d['growth'].get(f'steps.{key}'))} |")
        if any(key in sizes[n].get("measure", {}).get("floors", {}) for n in names):
            fl = []
            for n in names:
                e = sizes[n].get("measure", {}).get("floors", {}).get(key)
                fl.append(fmt_s(_median(e)) if e else "—")
            flabel = FLOOR_LABELS.get(key, "plain DuckDB query over the same rows (benchmarks/floors.py)")
            lines.append(f"| ↳ floor: {flabel} | " + " | ".join(fl)
                         + f" | {fmt_x(d['growth'].get(f'floors.{key}'))} |")
    lines += writes.markdown(sizes)
    lines += ["", "## Targets", "", "| Target | Measured | Status |", "|---|---|---|"]
    for t in d["targets"]:
        vals = ", ".join(f"{k} {_fmt_target(val, t['unit'])}" for k, val in t["values"].items() if val is not None)
        name = t["target"] + (" *(extra query, same rule)*" if t["extra"] else "")
        lines.append(f"| {name} | {vals or '—'} | **{t['status']}** |")
    lines += ["", "## Memory (peak RSS of the measuring process, MB)", "",
              "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines.append("| **Product peak** (highest peak of the product steps' first runs) | "
                 + " | ".join(_mb(sizes[n].get("measure", {}).get("peak_rss_mb")) for n in names) + " |")
    lines.append("| Measuring process peak (also floors, pack read back for the export floor) | "
                 + " | ".join(_mb(sizes[n].get("measure", {}).get("process_peak_rss_mb")) for n in names) + " |")
    lines.append("| Loader process peak (generation + load; not the product) | "
                 + " | ".join(_mb(sizes[n].get("load", {}).get("loader_peak_rss_mb")) for n in names) + " |")
    for key, label, _ in STEPS:
        cells = [_mb(sizes[n].get("measure", {}).get("steps", {}).get(key, {}).get("peak_rss_mb")) for n in names]
        if any(c != "—" for c in cells):
            lines.append(f"| {label.split(' (')[0]} | " + " | ".join(cells) + " |")
    notes = []
    for n in names:
        info = sizes[n].get("measure", {}).get("info", {})
        for key in ("export", "import", "dashboard"):
            e = sizes[n].get("measure", {}).get("steps", {}).get(key)
            if e is not None and not e.get("available"):
                notes.append(f"- {n} {key}: {e.get('reason')}")
        if info.get("import_with_default_limits") and info["import_with_default_limits"] != "accepted":
            notes.append(f"- {n} import with the default limits (excel.safety.Limits): "
                         f"{info['import_with_default_limits']}")
        if info.get("export_floor_source"):
            notes.append(f"- {n} export floor source: {info['export_floor_source']}")
    for n, err in report.get("failed", {}).items():
        notes.append(f"- {n}: the run failed: {err}")
    if notes:
        lines += ["", "## Notes", ""] + sorted(set(notes))
    return "\n".join(lines) + "\n"


def _fmt_target(v: float, unit: str) -> str:
    if unit == "ms":
        return f"{v:.2f} ms"
    return f"{v:.0f} MB" if unit == "mb" else fmt_x(v)


def _mb(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}"


# ------------------------------------------------------------------------------------------------ main


def _child(args, kind: str, size: str, db_dir: Path, today: date) -> dict:
    out = db_dir / f"{kind}.json"
    cmd = [sys.executable, "-m", "benchmarks.run", "--child", kind, "--size", size, "--db-dir", str(db_dir),
           "--today", today.isoformat(), "--reps", str(args.reps), "--seed", str(args.seed)]
    if args.profile:
        cmd += ["--profile", "--out", str(Path(args.out).resolve())]
    if args.tracemalloc:
        cmd.append("--tracemalloc")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"the {kind} process for size {size} failed (exit code {proc.returncode})")
    return json.loads(out.read_text())


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=",".join(DEFAULT_SIZES), help="comma-separated: S, M, L or a unit count")
    p.add_argument("--reps", type=int, default=DEFAULT_REPS, help="timed repetitions per step (median reported)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="folder for latest.json, latest.md and profiles")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--profile", action="store_true", help="also write pyinstrument profiles to --out")
    p.add_argument("--tracemalloc", action="store_true",
                   help="one extra run per step under tracemalloc (Python heap peak; slow, misses native memory)")
    p.add_argument("--keep", action="store_true", help="keep the temp databases (path printed)")
    p.add_argument("--child", choices=("load", "measure", "excel"), help=argparse.SUPPRESS)
    p.add_argument("--size", help=argparse.SUPPRESS)
    p.add_argument("--db-dir", help=argparse.SUPPRESS)
    p.add_argument("--today", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.reps < 1:
        p.error("--reps must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from . import synth

    if args.seed is None:
        args.seed = synth.SEED
    if args.child:
        db_dir = Path(args.db_dir)
        today = date.fromisoformat(args.today)
        if args.child == "load":
            result = child_load(args.size, db_dir, today, args.seed)
        else:
            prof = Path(args.out) if args.profile else None
            if prof:
                prof.mkdir(parents=True, exist_ok=True)
            child = child_measure if args.child == "measure" else child_excel
            result = child(args.size, db_dir, today, args.reps, prof, args.tracemalloc)
        (db_dir / f"{args.child}.json").write_text(json.dumps(result, indent=1, default=str))
        return 0

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        synth.unit_count(s)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    today = date.today()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean the temp folder (and the child) on kill
    report: dict[str, Any] = {
        "machine": machine(),
        "config": {"sizes": sizes, "reps": args.reps, "seed": args.seed, "today": today.isoformat(),
                   "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "fast_reps": FAST_REPS, "fast_s": FAST},
        "sizes": {},
    }
    ok = True
    work = Path(tempfile.mkdtemp(prefix="itscm-bench-"))
    try:
        for size in sizes:
            db_dir = work / size
            db_dir.mkdir()
            entry: dict[str, Any] = {"loadavg_before": _loadavg()}
            t0 = time.perf_counter()
            try:
                log(f"{size}: generating and loading {synth.unit_count(size):,} units")
                entry["load"] = _child(args, "load", size, db_dir, today)
                log(f"{size}: loaded in {entry['load']['load']['total_s']:.1f} s; measuring")
                entry["measure"] = _child(args, "measure", size, db_dir, today)
                # A failed Excel process leaves the read steps reported, and the size marked failed.
                entry["measure"] = merge_children(entry["measure"], _child(args, "excel", size, db_dir, today))
            except Exception as exc:  # noqa: BLE001 - report the other sizes
                entry["error"] = str(exc)
                ok = False
                log(f"{size}: {exc}")
            entry["elapsed_s"] = time.perf_counter() - t0
            entry["loadavg_after"] = _loadavg()
            report["sizes"][size] = entry
    finally:
        if args.keep:
            log(f"databases kept in {work}")
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    report["config"]["elapsed_s"] = time.time() - started
    report["derived"] = derive({k: v for k, v in report["sizes"].items() if "measure" in v})
    text = markdown({**report, "sizes": {k: v for k, v in report["sizes"].items() if "measure" in v},
                     "failed": {k: v["error"] for k, v in report["sizes"].items() if "error" in v}})
    (out / "latest.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "latest.md").write_text(text)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
