"""Subprocess for the PostgreSQL sign-in test: one 'app replica' trying wrong passwords on one account.

argv: url schema username attempts at (ISO time, the same in every process so that no delay expires).
Prints one JSON line: how many attempts were answered "wrong password" (checked) and how many were throttled.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from assessment import auth
from assessment.storage.backends import open_url


def main(url: str, schema: str, username: str, attempts: int, at: datetime) -> None:
    db = open_url(url, schema=schema)
    wrong = throttled = 0
    for i in range(attempts):
        try:
            auth.login(db, username, f"a wrong guess {i}", at=at)
        except auth.LoginFailed as exc:
            wrong += str(exc) == auth.WRONG
            throttled += str(exc) != auth.WRONG
    db.close()
    print(json.dumps({"wrong": wrong, "throttled": throttled}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), datetime.fromisoformat(sys.argv[5]))
