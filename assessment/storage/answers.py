"""SQL for the append-only answer history and the current answer kept beside it (current_answers)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from . import audit as audit_sql
from . import campaigns as campaigns_sql
from ._sql import fetch_row, in_list, latest_answers, registered
from .db import frame

EVENT_COLUMNS = ["campaign_id", "unit_id", "question_id", "level", "is_na", "na_reason", "evidence",
                 "evidence_url", "evidence_date", "comment", "answered_by", "answered_at", "source"]
CURRENT_COLUMNS = ["event_id", *EVENT_COLUMNS]  # current_answers: the newest event of each key, as stored
KEYS = ("campaign_id", "unit_id", "question_id")
EVENT_SCHEMA = pl.Schema({
    "campaign_id": pl.String(), "unit_id": pl.String(), "question_id": pl.String(), "level": pl.Int64(),
    "is_na": pl.Boolean(), "na_reason": pl.String(), "evidence": pl.String(), "evidence_url": pl.String(),
    "evidence_date": pl.Date(), "comment": pl.String(), "answered_by": pl.String(),
    "answered_at": pl.Datetime("us"), "source": pl.String()})
# Up to this many events are written as one multi-row VALUES statement with their parameters (a few answers);
# more go through a registered frame: binding parameters grows faster per row than the frame's fixed cost
# (measured on DuckDB: 1 row 1.3 vs 2.6 ms, 43 rows 6.9 vs 2.6 ms).
SMALL_BATCH = 8


def append_events(cur, events: pl.DataFrame) -> int:
    """Append answer events (never updating or deleting history) and make each key's newest one its current
    answer, in the caller's transaction."""
    if events.height == 0:
        return 0
    if events.height <= SMALL_BATCH:
        return append_rows(cur, events.select(EVENT_COLUMNS).rows())
    _append_bulk(cur, events.select(EVENT_COLUMNS))
    return events.height


def append_rows(cur, rows: list[tuple], replacing: Collection[tuple] | None = None) -> int:
    """append_events for a few events given as tuples in EVENT_COLUMNS order (a page's save).

    `replacing`: the keys (campaign, unit, question) among them that have a current answer, as read in this
    transaction; their current rows are updated in place and the others inserted, without a delete first.
    """
    if not rows:
        return 0
    if len(rows) <= SMALL_BATCH and len({r[:3] for r in rows}) == len(rows):
        _append_small(cur, rows, replacing)
    else:
        _append_bulk(cur, pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row"))
    return len(rows)


def _append_small(cur, rows: list[tuple], replacing: Collection[tuple] | None) -> None:
    width = "(" + ", ".join("?" for _ in EVENT_COLUMNS) + ")"
    params = [v for r in rows for v in r]
    values = ", ".join(width for _ in rows)
    cols = ", ".join(EVENT_COLUMNS)
    ids = cur.execute(f"INSERT INTO answer_events ({cols}) VALUES {values} RETURNING event_id, campaign_id, "
                      "unit_id, question_id", params).fetchall()
    event_of = {tuple(k): e for e, *k in ids}
    if replacing is None:
        _delete_current(cur, [r[:3] for r in rows])
        fresh, known = rows, []
    else:
        fresh = [r for r in rows if r[:3] not in replacing]
        known = [r for r in rows if r[:3] in replacing]
    if known:
        _update_current(cur, [(event_of[r[:3]], *r) for r in known])
    if fresh:
        cur.execute(f"INSERT INTO current_answers ({', '.join(CURRENT_COLUMNS)}) VALUES "
                    + ", ".join("(?, " + width[1:] for _ in fresh),
                    [v for r in fresh for v in (event_of[r[:3]], *r)])


# current_answers' column types, for the typed VALUES of an update (PostgreSQL does not infer them from ?).
_CURRENT_TYPES = {"event_id": "BIGINT", "level": "INTEGER", "is_na": "BOOLEAN", "evidence_date": "DATE",
                  "answered_at": "TIMESTAMP"}


def _update_current(cur, rows: list[tuple]) -> None:
    """Set the current answer of keys that have one (rows in CURRENT_COLUMNS order), in one statement.

    One row (a page's single answer, the commonest save) is set by its key alone: joining a VALUES list keeps
    DuckDB from filtering the scan by the key's constants, which cost 2.0 against 1.1 ms at S and 3.1 against
    2.1 ms at L. A few rows share one statement with a VALUES list (one statement per row costs more)."""
    if len(rows) == 1:
        values = dict(zip(CURRENT_COLUMNS, rows[0]))
        changed = [c for c in CURRENT_COLUMNS if c not in KEYS]
        cur.execute(f"UPDATE current_answers SET {', '.join(f'{c} = ?' for c in changed)} "
                    f"WHERE {' AND '.join(f'{k} = ?' for k in KEYS)}",
                    [values[c] for c in changed] + [values[k] for k in KEYS])
        return
    typed = "(" + ", ".join(f"CAST(? AS {_CURRENT_TYPES.get(c, 'VARCHAR')})" for c in CURRENT_COLUMNS) + ")"
    sets = ", ".join(f"{c} = v.{c}" for c in CURRENT_COLUMNS if c not in KEYS)
    keys = " AND ".join(f"current_answers.{k} = v.{k}" for k in KEYS)
    cur.execute(f"UPDATE current_answers SET {sets} FROM (VALUES {', '.join(typed for _ in rows)}) "
                f"AS v({', '.join(CURRENT_COLUMNS)}) WHERE {keys}", [x for r in rows for x in r])


def _delete_current(cur, keys: Sequence[tuple]) -> None:
    by_assessment: dict[tuple, list[str]] = {}
    for c, u, q in keys:
        by_assessment.setdefault((c, u), []).append(q)
    for (c, u), questions in by_assessment.items():
        qs, params = in_list(questions)
        cur.execute(f"DELETE FROM current_answers WHERE campaign_id = ? AND unit_id = ? AND question_id IN {qs}",
                    [c, u, *params])


def _append_bulk(cur, events: pl.DataFrame) -> None:
    # Event ids are drawn first and given in input order, so the last event of a key in the batch is its
    # newest; the events and the current rows then come from one registered frame.
    with registered(cur, "_new_events", events.select(EVENT_COLUMNS)) as name:
        ids = sorted(r[0] for r in cur.execute(f"SELECT nextval('answer_event_seq') FROM {name}").fetchall())
    numbered = events.select(EVENT_COLUMNS).with_columns(pl.Series("event_id", ids, dtype=pl.Int64))
    numbered = numbered.with_columns((pl.col("event_id") == pl.col("event_id").max().over(KEYS)).alias("_newest"))
    cols = ", ".join(CURRENT_COLUMNS)
    with registered(cur, "_new_events", numbered) as name:
        cur.execute(f"INSERT INTO answer_events ({cols}) SELECT {cols} FROM {name}")
        cur.execute(f"DELETE FROM current_answers USING {name} n WHERE n._newest "
                    "AND current_answers.campaign_id = n.campaign_id AND current_answers.unit_id = n.unit_id "
                    "AND current_answers.question_id = n.question_id")
        cur.execute(f"INSERT INTO current_answers ({cols}) SELECT {cols} FROM {name} WHERE _newest")


def current(cur, campaign_id: str, unit_ids: list[str] | None = None) -> pl.DataFrame:
    """Current answer per unit and question of a campaign (the newest event of each)."""
    where, params = "campaign_id = ?", [campaign_id]
    if unit_ids is not None:
        units, unit_params = in_list(unit_ids)
        where += f" AND unit_id IN {units}"
        params += unit_params
    return frame(cur, latest_answers(where) + " ORDER BY e.unit_id, e.question_id", params)


@dataclass(frozen=True)
class SaveRead:
    """Everything a save reads, in one statement: the assessment's context (campaigns.assessment_context;
    None for an unknown campaign), the current answers of the questions saved, and the audit head."""

    context: dict | None
    current: dict[str, dict[str, Any]]
    head: audit_sql.Head | None


def save_read(cur, campaign_id: str, unit_id: str, question_ids: Sequence[str]) -> SaveRead:
    """The one read of a save: its cost does not depend on how many answers or units are stored."""
    qs, params = in_list(list(question_ids))
    ctx_cols = ("campaign_status", "questionnaire_id", "questionnaire_version", "content_hash", "status",
                "revision", "division_id", "tier", "submitted_by")
    res = cur.execute(
        f"SELECT ctx.*, {audit_sql.HEAD_COLUMNS}, {', '.join('ca.' + c for c in CURRENT_COLUMNS)} "
        f"FROM ({campaigns_sql.ASSESSMENT_CONTEXT}) ctx {audit_sql.HEAD_JOIN} "
        f"LEFT JOIN current_answers ca ON ca.campaign_id = ? AND ca.unit_id = ? AND ca.question_id IN {qs}",
        [unit_id, campaign_id, campaign_id, unit_id, *params])
    cols = [d[0] for d in res.description]
    rows = [dict(zip(cols, r)) for r in res.fetchall()]
    if not rows:
        return SaveRead(None, {}, None)
    current = {r["question_id"]: {c: r[c] for c in CURRENT_COLUMNS} for r in rows if r["event_id"] is not None}
    return SaveRead({c: rows[0][c] for c in ctx_cols}, current, audit_sql.head_of(rows[0]))


def history(cur, campaign_id: str, unit_id: str, question_id: str | None = None) -> pl.DataFrame:
    where, params = "campaign_id = ? AND unit_id = ?", [campaign_id, unit_id]
    if question_id:
        where += " AND question_id = ?"
        params.append(question_id)
    return frame(cur, f"SELECT * FROM answer_events WHERE {where} ORDER BY question_id, event_id DESC", params)


def answered_by(cur, campaign_id: str, unit_id: str, username: str) -> bool:
    """Whether `username` saved any answer event in this assessment, ever (returned rounds included)."""
    row = fetch_row(cur, "SELECT count(*) AS n FROM answer_events WHERE campaign_id = ? AND unit_id = ? "
                         "AND answered_by = ?", [campaign_id, unit_id, username])
    return bool(row and row["n"])
