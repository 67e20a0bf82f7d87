"""SQL for questionnaire versions and the organisation (divisions and business units)."""

from __future__ import annotations

import polars as pl

from ..clock import now
from ..model import Questionnaire
from .db import fetch_one, frame, insert_frame, one


def questionnaire_exists(cur, qid: str, version: str) -> str | None:
    row = fetch_one(
        cur, "SELECT content_hash FROM questionnaires WHERE questionnaire_id = ? AND version = ?", [qid, version]
    )
    return row[0] if row else None


def save_questionnaire(cur, q: Questionnaire) -> None:
    """Store a questionnaire version with its full source and its normalised scoring tables."""
    key = [q.id, q.version]
    cur.execute(
        "INSERT INTO questionnaires VALUES (?, ?, ?, ?, ?, ?)", [*key, q.content_hash, q.title, q.source, now()]
    )
    base = {"questionnaire_id": q.id, "version": q.version}
    insert_frame(
        cur,
        "q_domains",
        pl.DataFrame(
            [
                {**base, "domain_id": d.id, "name": d.name, "weight": d.weight, "position": i}
                for i, d in enumerate(q.domains)
            ]
        ),
    )
    insert_frame(
        cur,
        "q_questions",
        pl.DataFrame(
            [
                {
                    **base,
                    "question_id": x.id,
                    "domain_id": x.domain_id,
                    "text": x.text,
                    "weight": x.weight,
                    "na_allowed": x.na_allowed,
                    "position": i,
                }
                for i, x in enumerate(q.questions)
            ]
        ),
    )
    insert_frame(
        cur,
        "q_checklist",
        pl.DataFrame(
            [{**base, "checklist_id": c.id, "text": c.text, "position": i} for i, c in enumerate(q.checklist)]
        ),
    )
    insert_frame(
        cur,
        "q_question_checklist",
        pl.DataFrame([{**base, "question_id": x.id, "checklist_id": c} for x in q.questions for c in x.checklist]),
    )
    insert_frame(
        cur,
        "q_tiers",
        pl.DataFrame(
            [{**base, "tier": t.tier, "name": t.name, "target": t.target, "factor": t.factor} for t in q.policy.tiers]
        ),
    )


def questionnaire_source(cur, qid: str, version: str) -> str | None:
    row = fetch_one(cur, "SELECT source FROM questionnaires WHERE questionnaire_id = ? AND version = ?", [qid, version])
    return row[0] if row else None


def insert_units(cur, units: pl.DataFrame) -> int:
    cols = ["unit_id", "division_id", "name", "tier", "head", "plan_last_reviewed", "review_interval_months", "active"]
    return insert_frame(cur, "business_units", units, cols)


def insert_divisions(cur, divisions: pl.DataFrame) -> int:
    return insert_frame(cur, "divisions", divisions, ["division_id", "name"])


def units(cur, unit_ids: list[str] | None = None, include_inactive: bool = False) -> pl.DataFrame:
    where, params = ["1=1"], []
    if not include_inactive:
        where.append("u.active")
    if unit_ids is not None:
        if not unit_ids:
            where.append("1=0")
        else:
            where.append(f"u.unit_id IN ({', '.join('?' for _ in unit_ids)})")
            params.extend(unit_ids)
    return frame(
        cur,
        f"""
        SELECT u.unit_id, u.name, u.division_id, d.name AS division, u.tier, u.head,
               u.plan_last_reviewed, u.review_interval_months, u.active
        FROM business_units u JOIN divisions d ON d.division_id = u.division_id
        WHERE {" AND ".join(where)} ORDER BY d.name, u.name""",
        params,
    )


def unit(cur, unit_id: str) -> dict | None:
    df = units(cur, [unit_id], include_inactive=True)
    return df.row(0, named=True) if df.height else None


def update_unit(cur, unit_id: str, **fields) -> None:
    allowed = {"name", "division_id", "tier", "head", "plan_last_reviewed", "review_interval_months", "active"}
    bad = set(fields) - allowed
    if bad:
        raise ValueError(f"cannot update unit fields {sorted(bad)}")
    sets = ", ".join(f"{k} = ?" for k in fields)
    cur.execute(f"UPDATE business_units SET {sets} WHERE unit_id = ?", [*fields.values(), unit_id])


def divisions(cur) -> pl.DataFrame:
    return frame(cur, "SELECT division_id, name FROM divisions ORDER BY name")


def count_rows(cur, table: str) -> int:
    return one(cur, f"SELECT count(*) FROM {table}")[0]


def questionnaires(cur) -> pl.DataFrame:
    """Every stored questionnaire version, newest first, with its question count."""
    return frame(cur, """
        SELECT q.questionnaire_id, q.version, q.title, q.content_hash, q.loaded_at,
               (SELECT count(*) FROM q_questions x WHERE x.questionnaire_id = q.questionnaire_id
                  AND x.version = q.version) AS questions
        FROM questionnaires q ORDER BY q.loaded_at DESC, q.questionnaire_id, q.version DESC""")
