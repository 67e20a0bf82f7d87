"""Subprocess for the PostgreSQL multi-process test: one 'app replica' saving answers in a loop."""

from __future__ import annotations

import json
import random
import sys
from datetime import date

from assessment import access, workflow
from assessment.errors import StaleWrite
from assessment.model import Actor, Answer
from assessment.storage.backends import open_url


def main(url: str, schema: str, name: str, saves: int, seed: int) -> None:
    db = open_url(url, schema=schema)
    actor = Actor(name, access.ADMIN, source="page")
    rng = random.Random(seed)
    done, stale = [], []
    for i in range(saves):
        unit = rng.choice(["U1", "U2", "U3"])
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
    print(json.dumps({"done": done, "stale": stale}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
