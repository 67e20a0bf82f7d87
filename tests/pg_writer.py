"""Subprocess for the PostgreSQL multi-process tests: one 'app replica' saving answers in a loop.

argv: url schema name saves seed [seconds] [units]. It stops after `saves` saves or `seconds` seconds,
whichever comes first, and saves to the comma-separated `units` (default U1,U2,U3). Prints one JSON line:
the saves that committed, the ones refused as stale, and the ones that failed (a DatabaseError after all
retries), with the time spent.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import date

from assessment import access, workflow
from assessment.errors import DatabaseError, StaleWrite
from assessment.model import Actor, Answer
from assessment.storage.backends import open_url


def main(url: str, schema: str, name: str, saves: int, seed: int, seconds: float | None = None,
         units: tuple[str, ...] = ("U1", "U2", "U3")) -> None:
    db = open_url(url, schema=schema)
    actor = Actor(name, access.ADMIN, source="page")
    rng = random.Random(seed)
    done, stale, failed = [], [], []
    start = time.monotonic()
    for i in range(saves):
        if seconds is not None and time.monotonic() - start > seconds:
            break
        unit = rng.choice(units)
        qid = rng.choice(["GOV-01", "GOV-02", "TEST-02"])
        level = rng.randint(0, 5)
        cur = workflow.current_answers(db, actor, "C1", unit)
        base = dict(zip(cur["question_id"].to_list(), cur["event_id"].to_list()))
        try:
            r = workflow.save_answers(db, actor, "C1", unit, [Answer(qid, level, comment=f"{name}-{i}")],
                                      base_events={qid: base.get(qid)}, today=date(2026, 6, 30))
            if r.saved:
                done.append([unit, qid, f"{name}-{i}"])
        except StaleWrite as exc:
            stale.append(str(exc))
        except DatabaseError as exc:
            failed.append(str(exc)[:300])
    db.close()
    print(json.dumps({"done": done, "stale": stale, "failed": failed, "seconds": time.monotonic() - start}))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], args[2], int(args[3]), int(args[4]),
         float(args[5]) if len(args) > 5 and args[5] != "-" else None,
         tuple(args[6].split(",")) if len(args) > 6 else ("U1", "U2", "U3"))
