"""The write path at each size: saving one answer, a page of answers, submitting a unit (issue 17).

Measured in the benchmark's measuring process after the read steps, on draft units of the open campaign,
through the engine calls the page makes (workflow.save_answers, workflow.submit) as the units' department
head. No floor: the targets are absolute (a save ≤ 4 ms at the median, a submit ≤ 15 ms) or ratios inside
the step (p95 ≤ 3× the median, a page of 43 ≤ 3× one answer, the median at L within 1.3× the one at S).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import date
from typing import Any

SAVES = 60          # single-answer saves timed per size
PAGES = 10          # full-page saves timed per size
SUBMITS = 8         # units submitted per size
SAVE_MS, SUBMIT_MS, P95_RATIO, PAGE_RATIO, FLAT_RATIO = 4.0, 15.0, 3.0, 3.0, 1.3


def _times(fn: Callable[[int], Any], n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def _p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(round(0.95 * len(xs))) - 1)]


def measure(db, campaign_id: str, today: date) -> dict:
    """Medians (seconds) of the three writes on draft units of `campaign_id`, and the events stored."""
    from assessment import access, workflow
    from assessment.catalog import campaign_questionnaire
    from assessment.model import Actor, Answer

    need = 2 + SUBMITS
    with db.read() as cur:
        rows = cur.execute("SELECT unit_id, status FROM assessments WHERE campaign_id = ? AND status IN "
                           "('draft', 'submitted') ORDER BY status, unit_id", [campaign_id]).fetchall()
        stored = cur.execute("SELECT count(*) FROM answer_events").fetchall()[0][0]
    if len(rows) < need:
        return {"available": False, "reason": f"{len(rows)} draft or submitted units in {campaign_id}, {need} needed"}
    drafts = [u for u, _ in rows[:need]]
    # Small organisations have few drafts: submitted units are returned for rework (as a reviewer would) to
    # make up the number, which also deletes their scores, as in the product.
    reviewer = Actor("bench.reviewer", access.MANAGER, source="benchmark")
    for u, status in rows[:need]:
        if status == "submitted":
            workflow.return_for_rework(db, reviewer, campaign_id, u, "benchmark: measured as a draft")
    q = campaign_questionnaire(db, campaign_id)
    head = Actor("bench.head", access.HEAD, frozenset(drafts), source="benchmark")
    ids = [x.id for x in q.questions]

    def answer(qid: str, level: int) -> Answer:
        return Answer(qid, level, evidence="Benchmark evidence: plan v2, reviewed", evidence_date=today)

    def save_one(i: int) -> None:
        workflow.save_answers(db, head, campaign_id, drafts[0], [answer(ids[i % len(ids)], 1 + i % 2 * 2)],
                              today=today)

    def save_page(i: int) -> None:
        workflow.save_answers(db, head, campaign_id, drafts[1], [answer(x, 2 + i % 2) for x in ids], today=today)

    _times(save_one, 5)  # warm-up: the first save of a process parses the questionnaire
    one = _times(save_one, SAVES)
    _times(save_page, 1)
    page = _times(save_page, PAGES)
    for u in drafts[2:need]:
        workflow.save_answers(db, head, campaign_id, u, [answer(x, 3) for x in ids], today=today)
    submit = _times(lambda i: workflow.submit(db, head, campaign_id, drafts[2 + i], today=today), SUBMITS)
    with db.read() as cur:
        after = cur.execute("SELECT count(*) FROM answer_events").fetchall()[0][0]
        submitted = cur.execute(f"SELECT count(*) FROM assessments WHERE campaign_id = ? AND status = 'submitted' "
                                f"AND unit_id IN ({', '.join('?' for _ in drafts[2:])})",
                                [campaign_id, *drafts[2:]]).fetchall()[0][0]
    return {"available": True, "stored_events": stored, "stored_after": after, "submitted": submitted,
            "questions": len(ids),
            "save_one_s": statistics.median(one), "save_one_p95_s": _p95(one), "save_one_all_s": one,
            "save_page_s": statistics.median(page), "save_page_all_s": page,
            "submit_s": statistics.median(submit), "submit_all_s": submit}


def targets(sizes: dict[str, dict], judge: Callable[..., dict]) -> list[dict]:
    """The write targets, judged with the harness's `judge(name, values, ok, key, unit)`."""
    w = {s: r.get("measure", {}).get("info", {}).get("writes", {}) for s, r in sizes.items()}
    w = {s: v for s, v in w.items() if v.get("available")}
    ms = {s: v["save_one_s"] * 1000 for s, v in w.items()}
    out = [
        judge(f"Save one answer <= {SAVE_MS:g} ms (median)", ms, lambda v: v <= SAVE_MS, "save_one", "ms"),
        judge(f"Save one answer: p95 <= {P95_RATIO:g}x the median",
              {s: v["save_one_p95_s"] / v["save_one_s"] for s, v in w.items()}, lambda v: v <= P95_RATIO,
              "save_p95", "ratio"),
        judge(f"Save a page of all questions <= {PAGE_RATIO:g}x one answer",
              {s: v["save_page_s"] / v["save_one_s"] for s, v in w.items()}, lambda v: v <= PAGE_RATIO,
              "save_page", "ratio"),
        judge(f"Submit one unit <= {SUBMIT_MS:g} ms (median)", {s: v["submit_s"] * 1000 for s, v in w.items()},
              lambda v: v <= SUBMIT_MS, "submit", "ms"),
    ]
    if "S" in ms and "L" in ms:
        out.append(judge(f"Save one answer flat: L/S <= {FLAT_RATIO:g}x", {"L/S": ms["L"] / ms["S"]},
                         lambda v: v <= FLAT_RATIO, "save_flat", "growth"))
    return out


def markdown(sizes: dict[str, dict]) -> list[str]:
    """The write-path table of the report."""
    names = list(sizes)
    w = {s: sizes[s].get("measure", {}).get("info", {}).get("writes", {}) for s in names}

    def cell(s: str, key: str) -> str:
        v = w[s]
        if not v.get("available"):
            return v.get("reason", "—") if v else "—"
        return f"{v[key] * 1000:.2f} ms"

    lines = ["", "## Writes (median; engine calls as the department head, on draft units of the open cycle)", "",
             "| Write | " + " | ".join(names) + " |", "|---|" + "---|" * len(names),
             "| Answer events stored before | " + " | ".join(f"{w[s].get('stored_events', 0):,}" for s in names) + " |"]
    for key, label in (("save_one_s", "Save one answer"), ("save_one_p95_s", "↳ p95"),
                       ("save_page_s", "Save a page (every question changed)"),
                       ("submit_s", "Submit one unit (score, persist, lock)")):
        lines.append(f"| {label} | " + " | ".join(cell(s, key) for s in names) + " |")
    return lines
