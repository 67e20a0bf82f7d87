"""SQL for copying a whole database between backends and fingerprinting its content."""

from __future__ import annotations

import hashlib

import polars as pl

from .db import frame, insert_frame, one

# Every table the migrations create, except the migration record itself (the target runs its own).
TABLES = [
    "questionnaires", "q_domains", "q_questions", "q_checklist", "q_question_checklist", "q_tiers",
    "divisions", "business_units", "campaigns", "assessments", "answer_events", "question_scores",
    "domain_scores", "unit_scores", "users", "user_units", "audit_log", "audit_head", "sessions",
    "login_throttle", "login_devices", "audit_checkpoints",
    "suppliers", "sites", "services", "service_versions", "service_dependencies", "exercises",
    "exercise_suppliers", "exercise_results", "incidents", "incident_services", "carried_answers",
    "actions", "action_questions", "action_events", "reminder_digests", "current_answers",
]
MIGRATION_ROWS = ("audit_head", "audit_checkpoints")  # the target's migrations wrote a genesis / baseline row


def read_table(cur, table: str) -> pl.DataFrame:
    return frame(cur, f"SELECT * FROM {table}")


def is_empty(cur) -> bool:
    return all(one(cur, f"SELECT count(*) FROM {t}")[0] == 0 for t in TABLES if t not in MIGRATION_ROWS)


def write_table(cur, table: str, df: pl.DataFrame) -> int:
    if table in MIGRATION_ROWS:  # replaced by the source's own
        cur.execute(f"DELETE FROM {table}")
    return insert_frame(cur, table, df)


def advance_sequence(cur, dialect: str, to_value: int) -> None:
    """Make answer_event_seq hand out values above to_value."""
    if to_value <= 0:
        return
    if dialect == "postgresql":
        cur.execute("SELECT setval('answer_event_seq', ?)", [to_value]).fetchall()
        return
    current = one(cur, "SELECT nextval('answer_event_seq')")[0]
    if current < to_value:  # DuckDB cannot restart a sequence that a column default uses
        cur.execute(f"SELECT max(nextval('answer_event_seq')) FROM range({to_value - current})").fetchall()


def fingerprint(df: pl.DataFrame) -> str:
    """Content hash independent of backend and row order: every value rendered as text, rows sorted."""
    if df.height == 0:
        return hashlib.sha256(b"").hexdigest()
    text = df.select(sorted(df.columns)).select(
        [pl.col(c).cast(pl.String).fill_null("\\N") for c in sorted(df.columns)])
    text = text.sort(text.columns)
    return hashlib.sha256(text.write_csv(include_header=True).encode()).hexdigest()
