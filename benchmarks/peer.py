"""Peer comparison (issue 17): `python -m benchmarks.peer [--units N] [--reps N] [--out DIR]`.

This product's side of the comparison with CISO Assistant, at 100 business units x the 43 questions of
questionnaires/itscm-core.yaml, in one open cycle of a fresh DuckDB file, through the public engine API:

- save one answer (workflow.save_answers, one Answer, as the unit's department head): median and p95 with
  ~200, ~4,300 and ~9,000 answer events stored (the store is filled between the stages with whole pages,
  untimed: every unit once, then every unit revised);
- save a full page of 43 answers (one save_answers call, every answer changed);
- submit one unit (workflow.submit: score, persist, lock);
- re-score 100 units (workflow.rescore_campaign, every unit submitted);
- one unit's auditor pack, as auditor (excel.export.auditor_pack filtered to one unit, into memory);
- list all answers in one query (the campaign's current answers, storage.answers.current in one read: no
  engine read returns every unit's answers at once).

The peer's figures are constants (PEER) quoted from issue 17: CISO Assistant, measured externally on the
same kind of 2-core machine with 100 units each holding one ISO 22301 audit of 46 questions. Every timed
save really changes its answer (the levels alternate), so each appends events; the JSON keeps the stored
counts before and after each step.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results"
UNITS = 100
STAGES = (200, 4300, 9000)     # stored answer events at 100 units x 43 questions (scaled for other sizes)
REPS = {"save_one": 50, "save_page": 15, "submit": 15, "rescore": 7, "pack_one": 10, "list_all": 15}
PEER_SOURCE = ("CISO Assistant, as quoted in issue 17: measured externally on the same kind of 2-core machine, "
               "100 units each with one ISO 22301 audit of 46 questions, its default SQLite database")
# operation key -> the peer's figure in seconds (None: not measured), quoted from the issue 17 table.
PEER: dict[str, float | None] = {
    "save_one_200": 0.0406, "save_one_4300": 0.108, "save_one_9000": 0.135,
    "save_page": None, "submit": None, "rescore": 0.850, "pack_one": 0.086, "list_all": 16.7,
}
LABELS = {
    "save_one_200": "save one answer, median, ~200 stored",
    "save_one_4300": "save one answer, median, ~4,300 stored",
    "save_one_9000": "save one answer, median, ~9,000 stored",
    "save_page": "save a page of 43 answers, median, ~9,000 stored",
    "submit": "submit one unit (score, persist, lock)",
    "rescore": "re-score 100 units",
    "pack_one": "one unit's auditor pack, as auditor",
    "list_all": "list all answers, one query",
}
SAVE_FACTOR = 10.0   # save >= 10x faster than the peer at every size
P95_FACTOR = 3.0
PAGE_FACTOR = 3.0
SUBMIT_LIMIT_S = 0.015
PACK_LIMIT_S = 0.043


def log(msg: str) -> None:
    print(f"[peer {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def p95(times: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    s = sorted(times)
    return s[max(0, min(len(s) - 1, -(-95 * len(s) // 100) - 1))]


def stats(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "p95_s": p95(times), "min_s": min(times), "max_s": max(times),
            "reps": len(times), "times_s": times}


class Bench:
    """A fresh database with `units` business units in one open cycle, and the actors of the comparison."""

    def __init__(self, folder: Path, units: int, today: date):
        from assessment import access, users
        from assessment.catalog import register_questionnaire
        from assessment.model import Actor
        from assessment.questionnaire import load_default
        from assessment.storage import campaigns, catalog
        from assessment.storage.db import open_database

        from . import synth

        self.today = today
        self.q = load_default()
        self.qids = [x.id for x in self.q.questions]
        self.db = open_database(folder / "itscm.duckdb")
        self.admin = access.SYSTEM.with_source("benchmark")
        org = synth.generate(self.q, str(units), today)
        self.units = org.units["unit_id"].to_list()
        self.cid = f"{today.year}-PEER"
        register_questionnaire(self.db, self.admin, self.q)

        def work(cur) -> None:
            catalog.insert_divisions(cur, org.divisions)
            catalog.insert_units(cur, org.units)
            created = datetime.combine(today - timedelta(days=10), dtime(8))
            campaigns.insert_campaign(cur, self.cid, "Peer comparison cycle", self.q.id, self.q.version,
                                      today - timedelta(days=10), today + timedelta(days=30),
                                      today + timedelta(days=45), "open", None, created, "benchmark")
            campaigns.create_assessments(cur, self.cid, self.units, created)

        self.db.transaction(work)
        users.create(self.db, self.admin, "bench.head", "Benchmark head", access.HEAD, None, self.units)
        users.create(self.db, self.admin, "bench.auditor", "Benchmark auditor", access.AUDITOR, None)
        self.head = Actor("bench.head", access.HEAD, frozenset(self.units), source="benchmark")
        self.auditor = Actor("bench.auditor", access.AUDITOR, source="benchmark")
        self.slot = 0  # the fill's position: revision x unit x question

    def stored(self) -> int:
        with self.db.read() as cur:
            return cur.execute("SELECT count(*) FROM answer_events").fetchall()[0][0]

    def answer(self, qid: str, level: int):
        from assessment.model import Answer

        return Answer(qid, level=level, evidence="benchmark evidence pack",
                      evidence_url="https://intranet.example/itscm/evidence", evidence_date=self.today)

    def fill_to(self, target: int) -> None:
        """Untimed: save whole pages (revision r sets level 2 + r % 2) until `target` events are stored."""
        from assessment import workflow

        per_rev = len(self.units) * len(self.qids)
        need = target - self.stored()
        while need > 0:
            rev, pos = divmod(self.slot, per_rev)
            u, qi = divmod(pos, len(self.qids))
            n = min(need, len(self.qids) - qi)
            page = [self.answer(qid, 2 + rev % 2) for qid in self.qids[qi:qi + n]]
            done = workflow.save_answers(self.db, self.head, self.cid, self.units[u], page, today=self.today)
            self.slot += n
            need -= done.saved
            if done.saved == 0 and n:
                need -= n  # nothing changed (cannot happen with alternating levels; never loop forever)


def timed(fn: Callable[[int], Any], reps: int, setup: Callable[[int], Any] | None = None) -> list[float]:
    out = []
    for i in range(reps):
        if setup:
            setup(i)
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def run(units: int = UNITS, reps: dict[str, int] | None = None, folder: Path | None = None) -> dict:
    from assessment import reports, workflow
    from assessment.excel.export import auditor_pack
    from assessment.storage import answers as answers_sql

    reps = {**REPS, **(reps or {})}
    work = folder or Path(tempfile.mkdtemp(prefix="itscm-peer-"))
    today = date.today()
    b = Bench(work, units, today)
    scale = units * 43 / 4300
    stages = [max(1, round(s * scale)) for s in STAGES]
    steps: dict[str, dict] = {}
    probe = b.units[-1]  # the unit whose single answers are saved (its first question, levels 4 and 5)
    saves = 0

    def save_one(_i: int) -> None:
        nonlocal saves
        saves += 1
        r = workflow.save_answers(b.db, b.head, b.cid, probe, [b.answer(b.qids[0], 4 + saves % 2)], today=today)
        assert r.saved == 1, r

    for key, target in zip(("save_one_200", "save_one_4300", "save_one_9000"), stages):
        b.fill_to(target)
        before = b.stored()
        times = timed(save_one, reps["save_one"])
        steps[key] = {**stats(times), "stored_before": before, "stored_after": b.stored()}
        log(f"{key}: {steps[key]['median_s'] * 1000:.2f} ms median at {before:,} stored")

    page_unit = b.units[0]
    pages = 0

    def save_page(_i: int) -> None:
        nonlocal pages
        pages += 1
        r = workflow.save_answers(b.db, b.head, b.cid, page_unit, [b.answer(x, 4 + pages % 2) for x in b.qids],
                                  today=today)
        assert r.saved == len(b.qids), r

    before = b.stored()
    steps["save_page"] = {**stats(timed(save_page, reps["save_page"])), "stored_before": before,
                          "stored_after": b.stored(), "answers_per_save": len(b.qids)}
    log(f"save_page: {steps['save_page']['median_s'] * 1000:.2f} ms median")

    # Submit: every unit is complete after the second stage; the timed ones first, then the rest untimed.
    n_submit = min(reps["submit"], len(b.units) - 1)
    submitted: list[str] = []

    def submit(i: int) -> None:
        workflow.submit(b.db, b.head, b.cid, b.units[i], today=today)
        submitted.append(b.units[i])

    steps["submit"] = stats(timed(submit, n_submit))
    for uid in b.units[n_submit:]:
        workflow.submit(b.db, b.head, b.cid, uid, today=today)
    log(f"submit: {steps['submit']['median_s'] * 1000:.2f} ms median")

    scored: list[int] = []
    steps["rescore"] = {**stats(timed(lambda _i: scored.append(workflow.rescore_campaign(b.db, b.admin, b.cid)),
                                      reps["rescore"])), "units_scored": scored[-1] if scored else 0}
    log(f"rescore: {steps['rescore']['median_s'] * 1000:.1f} ms median, {steps['rescore']['units_scored']} units")

    pack_unit = b.units[len(b.units) // 2]
    sizes: list[int] = []

    def pack(_i: int) -> None:
        buf = io.BytesIO()
        auditor_pack(b.db, b.auditor, b.cid, buf, filters=reports.Filters(unit_ids=(pack_unit,)), today=today)
        sizes.append(len(buf.getvalue()))

    steps["pack_one"] = {**stats(timed(pack, reps["pack_one"])), "pack_bytes": sizes[-1] if sizes else 0}
    log(f"pack_one: {steps['pack_one']['median_s'] * 1000:.1f} ms median")

    rows: list[int] = []

    def list_all(_i: int) -> None:
        with b.db.read() as cur:
            rows.append(answers_sql.current(cur, b.cid).height)

    steps["list_all"] = {**stats(timed(list_all, reps["list_all"])), "rows": rows[-1] if rows else 0}
    log(f"list_all: {steps['list_all']['median_s'] * 1000:.2f} ms median, {steps['list_all']['rows']} rows")

    with b.db.read() as cur:
        status = dict(cur.execute("SELECT status, count(*) FROM assessments WHERE campaign_id = ? GROUP BY status",
                                  [b.cid]).fetchall())
    info = {"units": units, "questions": len(b.qids), "stages": stages, "stored_final": b.stored(),
            "timed_single_saves": saves, "timed_page_saves": pages, "assessment_status": status,
            "submitted_timed": submitted, "database": str(work / "itscm.duckdb")}
    b.db.close()
    return {"steps": steps, "info": info, "targets": targets(steps), "rows": table_rows(steps)}


def table_rows(steps: dict) -> list[dict]:
    out = []
    for key, label in LABELS.items():
        mine = steps.get(key, {}).get("median_s")
        peer = PEER.get(key)
        out.append({"key": key, "operation": label, "this_s": mine, "peer_s": peer,
                    "peer_over_this": peer / mine if peer and mine else None})
    return out


def targets(steps: dict) -> list[dict]:
    def judge(name: str, value: str, ok: bool | None) -> dict:
        return {"target": name, "measured": value,
                "status": "not measured" if ok is None else ("met" if ok else "missed")}

    out = []
    for key in ("save_one_200", "save_one_4300", "save_one_9000"):
        m, peer = steps[key]["median_s"], PEER[key]
        assert peer is not None
        limit = f"<= {peer / SAVE_FACTOR * 1000:.2f} ms"
        out.append(judge(f"{LABELS[key]}: >= {SAVE_FACTOR:g}x faster than the peer ({limit})",
                         f"{m * 1000:.2f} ms ({peer / m:.1f}x)", m * SAVE_FACTOR <= peer))
        r = steps[key]["p95_s"] / m
        out.append(judge(f"{LABELS[key]}: p95 <= {P95_FACTOR:g}x median", f"p95 {steps[key]['p95_s'] * 1000:.2f} ms "
                         f"({r:.2f}x)", r <= P95_FACTOR))
    one = steps["save_one_9000"]["median_s"]
    page = steps["save_page"]["median_s"]
    out.append(judge(f"save a page of 43 <= {PAGE_FACTOR:g}x saving one (both at ~9,000 stored)",
                     f"{page * 1000:.2f} ms ({page / one:.2f}x)", page <= PAGE_FACTOR * one))
    s = steps["submit"]["median_s"]
    out.append(judge(f"submit one unit <= {SUBMIT_LIMIT_S * 1000:.0f} ms", f"{s * 1000:.1f} ms", s <= SUBMIT_LIMIT_S))
    p = steps["pack_one"]["median_s"]
    out.append(judge(f"one unit's auditor pack <= {PACK_LIMIT_S * 1000:.0f} ms (half the peer's 86 ms)",
                     f"{p * 1000:.1f} ms", p <= PACK_LIMIT_S))
    return out


def _ms(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.2f} s" if v >= 1 else (f"{v * 1000:.1f} ms" if v >= 0.01 else f"{v * 1000:.2f} ms")


def _x(v: float | None) -> str:
    return "—" if v is None else (f"{v:.2f}×" if v < 10 else f"{v:,.0f}×")


def markdown(report: dict) -> str:
    info, m = report["info"], report["machine"]
    lines = ["# Against CISO Assistant (issue 17)", "",
             f"This product: {info['units']} units × {info['questions']} questions in one open cycle of a fresh "
             f"DuckDB file, public engine API, {m['cores']} core(s), Python {m['python']}, DuckDB {m['duckdb']}; "
             f"run {report['config']['started']}. Peer: {PEER_SOURCE}.", "",
             "| operation | this product | peer | peer / this |", "|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['operation']} | {_ms(r['this_s'])} | {_ms(r['peer_s'])} | {_x(r['peer_over_this'])} |")
    lines += ["", "## Targets", "", "| Target | Measured | Status |", "|---|---|---|"]
    for t in report["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | **{t['status']}** |")
    st = report["steps"]
    lines += ["", "Stored answer events at each save stage: "
              + ", ".join(f"{st[k]['stored_before']:,}" for k in ("save_one_200", "save_one_4300", "save_one_9000"))
              + "; p95 of one save: "
              + ", ".join(_ms(st[k]["p95_s"]) for k in ("save_one_200", "save_one_4300", "save_one_9000")) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.peer", description=__doc__.splitlines()[0])
    p.add_argument("--units", type=int, default=UNITS, help="business units (the comparison uses 100)")
    p.add_argument("--reps", type=int, default=None, help="timed repetitions of every operation (default: per step)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="folder for peer.md and peer.json")
    args = p.parse_args(argv)
    if args.units < 2 or (args.reps is not None and args.reps < 1):
        p.error("--units must be at least 2 and --reps at least 1")
    import duckdb

    os.environ.setdefault("ITSCM_DEMO", "0")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    reps = {k: args.reps for k in REPS} if args.reps else None
    with tempfile.TemporaryDirectory(prefix="itscm-peer-") as tmp:
        report = run(args.units, reps, Path(tmp))
    report["machine"] = {"cores": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__}
    report["config"] = {"units": args.units, "reps": reps or REPS, "started": started, "peer": PEER,
                        "peer_source": PEER_SOURCE}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(report)
    (out / "peer.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "peer.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
