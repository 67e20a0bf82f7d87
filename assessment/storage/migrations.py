"""Numbered schema migrations, each applied once in its own transaction and recorded."""

from __future__ import annotations

import functools
import re
from contextlib import nullcontext

from ..clock import now
from .db import DatabaseError, one
from .types import Store

# Portable SQL (DuckDB and PostgreSQL): no DuckDB-only types, sequences for surrogate keys.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "questionnaires, organisation, campaigns, answers, scores",
        [
            """CREATE TABLE questionnaires (
                questionnaire_id VARCHAR NOT NULL, version VARCHAR NOT NULL,
                content_hash VARCHAR NOT NULL, title VARCHAR NOT NULL, source TEXT NOT NULL,
                loaded_at TIMESTAMP NOT NULL, PRIMARY KEY (questionnaire_id, version))""",
            """CREATE TABLE q_domains (
                questionnaire_id VARCHAR NOT NULL, version VARCHAR NOT NULL, domain_id VARCHAR NOT NULL,
                name VARCHAR NOT NULL, weight DOUBLE PRECISION NOT NULL, position INTEGER NOT NULL,
                PRIMARY KEY (questionnaire_id, version, domain_id))""",
            """CREATE TABLE q_questions (
                questionnaire_id VARCHAR NOT NULL, version VARCHAR NOT NULL, question_id VARCHAR NOT NULL,
                domain_id VARCHAR NOT NULL, text TEXT NOT NULL, weight DOUBLE PRECISION NOT NULL,
                na_allowed BOOLEAN NOT NULL, position INTEGER NOT NULL,
                PRIMARY KEY (questionnaire_id, version, question_id))""",
            """CREATE TABLE q_checklist (
                questionnaire_id VARCHAR NOT NULL, version VARCHAR NOT NULL, checklist_id VARCHAR NOT NULL,
                text TEXT NOT NULL, position INTEGER NOT NULL,
                PRIMARY KEY (questionnaire_id, version, checklist_id))""",
            """CREATE TABLE q_question_checklist (
                questionnaire_id VARCHAR NOT NULL, version VARCHAR NOT NULL, question_id VARCHAR NOT NULL,
                checklist_id VARCHAR NOT NULL, PRIMARY KEY (questionnaire_id, version, question_id, checklist_id))""",
            """CREATE TABLE q_tiers (
                questionnaire_id VARCHAR NOT NULL, version VARCHAR NOT NULL, tier INTEGER NOT NULL,
                name VARCHAR NOT NULL, target DOUBLE PRECISION NOT NULL, factor DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (questionnaire_id, version, tier))""",
            """CREATE TABLE divisions (division_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL)""",
            """CREATE TABLE business_units (
                unit_id VARCHAR PRIMARY KEY, division_id VARCHAR NOT NULL, name VARCHAR NOT NULL,
                tier INTEGER NOT NULL, head VARCHAR, plan_last_reviewed DATE,
                review_interval_months INTEGER NOT NULL DEFAULT 12, active BOOLEAN NOT NULL DEFAULT TRUE)""",
            """CREATE TABLE campaigns (
                campaign_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,
                questionnaire_id VARCHAR NOT NULL, questionnaire_version VARCHAR NOT NULL,
                opens_on DATE NOT NULL, due_on DATE NOT NULL, closes_on DATE NOT NULL,
                status VARCHAR NOT NULL, previous_campaign_id VARCHAR,
                created_at TIMESTAMP NOT NULL, created_by VARCHAR NOT NULL)""",
            """CREATE TABLE assessments (
                campaign_id VARCHAR NOT NULL, unit_id VARCHAR NOT NULL, status VARCHAR NOT NULL,
                revision INTEGER NOT NULL DEFAULT 0, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL,
                submitted_by VARCHAR, submitted_at TIMESTAMP, approved_by VARCHAR, approved_at TIMESTAMP,
                returned_by VARCHAR, returned_at TIMESTAMP, return_comment TEXT,
                PRIMARY KEY (campaign_id, unit_id))""",
            "CREATE SEQUENCE answer_event_seq START 1",
            """CREATE TABLE answer_events (
                event_id BIGINT PRIMARY KEY DEFAULT nextval('answer_event_seq'),
                campaign_id VARCHAR NOT NULL, unit_id VARCHAR NOT NULL, question_id VARCHAR NOT NULL,
                level INTEGER, is_na BOOLEAN NOT NULL, na_reason TEXT, evidence TEXT, evidence_url TEXT,
                evidence_date DATE, comment TEXT, answered_by VARCHAR NOT NULL, answered_at TIMESTAMP NOT NULL,
                source VARCHAR NOT NULL)""",
            "CREATE INDEX answer_events_assessment ON answer_events (campaign_id, unit_id, question_id)",
            """CREATE TABLE question_scores (
                campaign_id VARCHAR NOT NULL, unit_id VARCHAR NOT NULL, question_id VARCHAR NOT NULL,
                domain_id VARCHAR NOT NULL, level INTEGER, is_na BOOLEAN NOT NULL, score DOUBLE PRECISION,
                status VARCHAR NOT NULL, explanation TEXT NOT NULL, weight DOUBLE PRECISION NOT NULL,
                target DOUBLE PRECISION NOT NULL, gap DOUBLE PRECISION, priority DOUBLE PRECISION,
                policy VARCHAR NOT NULL, scored_at TIMESTAMP NOT NULL,
                PRIMARY KEY (campaign_id, unit_id, question_id))""",
            """CREATE TABLE domain_scores (
                campaign_id VARCHAR NOT NULL, unit_id VARCHAR NOT NULL, domain_id VARCHAR NOT NULL,
                score DOUBLE PRECISION, weight DOUBLE PRECISION NOT NULL, target DOUBLE PRECISION NOT NULL,
                gap DOUBLE PRECISION, priority DOUBLE PRECISION, answered INTEGER NOT NULL,
                na INTEGER NOT NULL, capped INTEGER NOT NULL, scored_at TIMESTAMP NOT NULL,
                PRIMARY KEY (campaign_id, unit_id, domain_id))""",
            """CREATE TABLE unit_scores (
                campaign_id VARCHAR NOT NULL, unit_id VARCHAR NOT NULL, division_id VARCHAR NOT NULL,
                tier INTEGER NOT NULL, score DOUBLE PRECISION, target DOUBLE PRECISION NOT NULL,
                gap DOUBLE PRECISION, rollup_weight DOUBLE PRECISION NOT NULL, weakest_domain VARCHAR,
                weakest_score DOUBLE PRECISION, band VARCHAR, answered INTEGER NOT NULL, na INTEGER NOT NULL,
                capped INTEGER NOT NULL, policy VARCHAR NOT NULL, scored_at TIMESTAMP NOT NULL,
                PRIMARY KEY (campaign_id, unit_id))""",
        ],
    ),
    (
        2,
        "users, unit assignments, hash-chained audit log",
        [
            """CREATE TABLE users (
                username VARCHAR PRIMARY KEY, display_name VARCHAR NOT NULL, role VARCHAR NOT NULL,
                password_hash VARCHAR, active BOOLEAN NOT NULL DEFAULT TRUE,
                can_import BOOLEAN NOT NULL DEFAULT FALSE, failed_logins INTEGER NOT NULL DEFAULT 0,
                last_failed_at TIMESTAMP, created_at TIMESTAMP NOT NULL, password_changed_at TIMESTAMP)""",
            """CREATE TABLE user_units (
                username VARCHAR NOT NULL, unit_id VARCHAR NOT NULL, PRIMARY KEY (username, unit_id))""",
            """CREATE TABLE audit_log (
                seq BIGINT PRIMARY KEY, logged_at TIMESTAMP NOT NULL, actor VARCHAR NOT NULL, source VARCHAR NOT NULL,
                action VARCHAR NOT NULL, object_type VARCHAR NOT NULL, object_id VARCHAR NOT NULL,
                before_json TEXT, after_json TEXT, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL)""",
            # A single row every writer updates: concurrent writers conflict here and retry, so the
            # chain never forks.
            """CREATE TABLE audit_head (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash VARCHAR NOT NULL)""",
            "INSERT INTO audit_head VALUES (1, 0, 'genesis')",
        ],
    ),
    (
        3,
        "login sessions",
        [
            """CREATE TABLE sessions (
                token_hash VARCHAR PRIMARY KEY, username VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
                last_seen_at TIMESTAMP NOT NULL, ended_at TIMESTAMP, end_reason VARCHAR)""",
        ],
    ),
    (
        4,
        "score tables without primary keys",
        # Maintaining the key cost two thirds of persisting a campaign's scores (benchmark, 5,000 units).
        # Uniqueness holds without it: scores.replace deletes a unit's rows and inserts the new set in one
        # transaction, and that is the only writer of these tables.
        [
            "CREATE TABLE question_scores_v4 AS SELECT * FROM question_scores",
            "DROP TABLE question_scores",
            "ALTER TABLE question_scores_v4 RENAME TO question_scores",
            "CREATE TABLE domain_scores_v4 AS SELECT * FROM domain_scores",
            "DROP TABLE domain_scores",
            "ALTER TABLE domain_scores_v4 RENAME TO domain_scores",
        ],
    ),
    (
        5,
        "sign-in throttling by name and client, remembered devices, keyed audit checkpoints",
        [
            # One row per throttled key ('name:<user name>' whether or not the account exists, or
            # 'client:<address>'): consecutive failures and when they happened.
            """CREATE TABLE login_throttle (
                throttle_key VARCHAR PRIMARY KEY, failures INTEGER NOT NULL,
                first_failed_at TIMESTAMP NOT NULL, last_failed_at TIMESTAMP NOT NULL)""",
            """CREATE TABLE login_devices (
                token_hash VARCHAR PRIMARY KEY, username VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
                last_used_at TIMESTAMP NOT NULL, failures INTEGER NOT NULL DEFAULT 0)""",
            """CREATE TABLE audit_checkpoints (
                seq BIGINT PRIMARY KEY, head_hash VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
                key_id VARCHAR, mac VARCHAR)""",
            # The baseline: entries up to the head at upgrade time predate checkpoints (no HMAC).
            "INSERT INTO audit_checkpoints SELECT seq, hash, current_timestamp AT TIME ZONE 'UTC', NULL, NULL "
            "FROM audit_head",
        ],
    ),
    (
        7,
        "continuity records: suppliers, sites, services with history, exercises, incidents",
        # Services keep every version (service_versions, append-only): a cycle reads the version valid at
        # its date, so a changed RTO shows in history and never rewrites a closed cycle. `services` holds the
        # current version (its revision is the stale-write check); dependencies belong to a version.
        # Exercise results and incident outages store the RTO/RPO they were judged against. Exercise and
        # incident ids are numbered from the highest stored one (no sequence, so copy-db and restore keep
        # handing out fresh ids).
        [
            """CREATE TABLE suppliers (
                supplier_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,
                updated_at TIMESTAMP NOT NULL, updated_by VARCHAR NOT NULL)""",
            """CREATE TABLE sites (
                site_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,
                updated_at TIMESTAMP NOT NULL, updated_by VARCHAR NOT NULL)""",
            """CREATE TABLE services (
                service_id VARCHAR PRIMARY KEY, revision INTEGER NOT NULL, name VARCHAR NOT NULL,
                unit_id VARCHAR NOT NULL, owner VARCHAR NOT NULL, recovery_tier INTEGER NOT NULL, activity TEXT,
                mtpd_minutes BIGINT, rto_minutes BIGINT, rpo_minutes BIGINT, holds_data BOOLEAN NOT NULL,
                min_service_level TEXT, approved_by VARCHAR, approved_on DATE, next_review DATE,
                active BOOLEAN NOT NULL, updated_at TIMESTAMP NOT NULL, updated_by VARCHAR NOT NULL)""",
            """CREATE TABLE service_versions (
                service_id VARCHAR NOT NULL, revision INTEGER NOT NULL, name VARCHAR NOT NULL,
                unit_id VARCHAR NOT NULL, owner VARCHAR NOT NULL, recovery_tier INTEGER NOT NULL, activity TEXT,
                mtpd_minutes BIGINT, rto_minutes BIGINT, rpo_minutes BIGINT, holds_data BOOLEAN NOT NULL,
                min_service_level TEXT, approved_by VARCHAR, approved_on DATE, next_review DATE,
                active BOOLEAN NOT NULL, updated_at TIMESTAMP NOT NULL, updated_by VARCHAR NOT NULL,
                change VARCHAR NOT NULL, PRIMARY KEY (service_id, revision))""",
            """CREATE TABLE service_dependencies (
                service_id VARCHAR NOT NULL, revision INTEGER NOT NULL, kind VARCHAR NOT NULL,
                target_id VARCHAR NOT NULL, note TEXT, accepted_inversion TEXT,
                PRIMARY KEY (service_id, revision, kind, target_id))""",
            """CREATE TABLE exercises (
                exercise_id VARCHAR PRIMARY KEY, exercise_date DATE NOT NULL, exercise_type VARCHAR NOT NULL,
                title VARCHAR NOT NULL, scenario TEXT, participants TEXT, objectives TEXT, objectives_met BOOLEAN,
                report_url TEXT, recorded_at TIMESTAMP NOT NULL, recorded_by VARCHAR NOT NULL,
                withdrawn_at TIMESTAMP, withdrawn_by VARCHAR, withdrawn_reason TEXT)""",
            """CREATE TABLE exercise_suppliers (
                exercise_id VARCHAR NOT NULL, supplier_id VARCHAR NOT NULL, PRIMARY KEY (exercise_id, supplier_id))""",
            """CREATE TABLE exercise_results (
                exercise_id VARCHAR NOT NULL, service_id VARCHAR NOT NULL, service_revision INTEGER NOT NULL,
                unit_id VARCHAR NOT NULL, achieved_recovery_minutes BIGINT, achieved_data_loss_minutes BIGINT,
                rto_minutes BIGINT, rpo_minutes BIGINT, recovery_met BOOLEAN, data_met BOOLEAN, passed BOOLEAN,
                findings TEXT, PRIMARY KEY (exercise_id, service_id))""",
            "CREATE INDEX exercise_results_service ON exercise_results (service_id)",
            """CREATE TABLE incidents (
                incident_id VARCHAR PRIMARY KEY, revision INTEGER NOT NULL, title VARCHAR NOT NULL,
                severity VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL, ended_at TIMESTAMP,
                plan_invoked BOOLEAN NOT NULL, postmortem_due DATE, postmortem_done DATE, report_url TEXT,
                ticket_url TEXT, recorded_at TIMESTAMP NOT NULL, recorded_by VARCHAR NOT NULL,
                updated_at TIMESTAMP NOT NULL, updated_by VARCHAR NOT NULL)""",
            """CREATE TABLE incident_services (
                incident_id VARCHAR NOT NULL, service_id VARCHAR NOT NULL, service_revision INTEGER NOT NULL,
                unit_id VARCHAR NOT NULL, outage_minutes BIGINT, data_loss_minutes BIGINT, rto_minutes BIGINT,
                rpo_minutes BIGINT, over_rto BOOLEAN, over_rpo BOOLEAN, PRIMARY KEY (incident_id, service_id))""",
            "CREATE INDEX incident_services_service ON incident_services (service_id)",
        ],
    ),
    (
        8,
        "an email address per user, for reminders and organisation imports",
        ["ALTER TABLE users ADD COLUMN email VARCHAR"],
    ),
    (
        9,
        "each assessment keeps the division and tier its unit had in the cycle",
        # Reports of a cycle read the unit's placement from its assessment, so a later move or tier change
        # never rewrites a closed cycle. Existing rows take the placement their scores were computed with
        # (unit_scores keeps it), else the unit's current one.
        [
            "ALTER TABLE assessments ADD COLUMN division_id VARCHAR",
            "ALTER TABLE assessments ADD COLUMN tier INTEGER",
            """UPDATE assessments SET division_id = u.division_id, tier = u.tier
               FROM business_units u WHERE u.unit_id = assessments.unit_id""",
            """UPDATE assessments SET division_id = s.division_id, tier = s.tier
               FROM unit_scores s WHERE s.campaign_id = assessments.campaign_id AND s.unit_id = assessments.unit_id""",
        ],
    ),
    (
        10,
        "answers carried over from a unit's last submitted assessment, and their confirmation",
        # A carried answer is an ordinary answer event (source 'carried') plus this row: the event it
        # started as, where it came from and the date it was first given. It counts as confirmed when
        # confirmed_at is set, and as changed when the unit's current event for the question is another one.
        [
            """CREATE TABLE carried_answers (
                campaign_id VARCHAR NOT NULL, unit_id VARCHAR NOT NULL, question_id VARCHAR NOT NULL,
                event_id BIGINT NOT NULL, from_campaign_id VARCHAR NOT NULL, first_given_on DATE NOT NULL,
                confirmed_by VARCHAR, confirmed_at TIMESTAMP,
                PRIMARY KEY (campaign_id, unit_id, question_id))""",
        ],
    ),
    (
        11,
        "improvement actions with an append-only status history",
        # `actions` holds each action's current state (its revision is the stale-write check, like
        # services); `action_events` is the append-only history of every status change (the storage layer
        # never updates or deletes it). An action concerns one unit and zero or more questions
        # (action_questions), so "is there an open action for this gap" is one join. Ids are numbered from
        # the highest stored one, like exercises.
        [
            """CREATE TABLE actions (
                action_id VARCHAR PRIMARY KEY, revision INTEGER NOT NULL, source VARCHAR NOT NULL,
                source_ref VARCHAR, campaign_id VARCHAR, unit_id VARCHAR NOT NULL, service_id VARCHAR,
                title VARCHAR NOT NULL, description TEXT, owner VARCHAR NOT NULL, due_on DATE NOT NULL,
                priority DOUBLE PRECISION, status VARCHAR NOT NULL,
                risk_reason TEXT, risk_approver VARCHAR, risk_expires_on DATE,
                evidence_text TEXT, evidence_url TEXT, evidence_date DATE,
                verified_by VARCHAR, verified_on DATE, closed_on DATE,
                created_at TIMESTAMP NOT NULL, created_by VARCHAR NOT NULL,
                updated_at TIMESTAMP NOT NULL, updated_by VARCHAR NOT NULL)""",
            "CREATE INDEX actions_unit ON actions (unit_id)",
            "CREATE INDEX actions_owner ON actions (owner)",
            """CREATE TABLE action_questions (
                action_id VARCHAR NOT NULL, question_id VARCHAR NOT NULL, PRIMARY KEY (action_id, question_id))""",
            """CREATE TABLE action_events (
                action_id VARCHAR NOT NULL, revision INTEGER NOT NULL, status VARCHAR NOT NULL,
                changed_at TIMESTAMP NOT NULL, changed_by VARCHAR NOT NULL, note TEXT,
                PRIMARY KEY (action_id, revision))""",
        ],
    ),
    (
        12,
        "reminder digests sent: at most one per person per day",
        # A row is written only after the mail server accepted the message, so a failed run leaves nothing
        # marked sent and the next run retries; the key makes a second digest on the same day impossible.
        ["""CREATE TABLE reminder_digests (
                username VARCHAR NOT NULL, sent_on DATE NOT NULL, sent_at TIMESTAMP NOT NULL,
                email VARCHAR NOT NULL, items INTEGER NOT NULL, message_id VARCHAR NOT NULL,
                PRIMARY KEY (username, sent_on))"""],
    ),
    (
        13,
        "the current answer of each unit and question, kept beside the append-only history",
        # answer_events stays the source of truth; this table holds a copy of each key's newest event so a
        # save reads the few answers it replaces by key instead of grouping the history, and reports read a
        # campaign's current answers with a filter instead of a GROUP BY over every event. The storage
        # layer updates it in the transaction that appends the events (storage/answers.append_events), and
        # a test checks after every kind of write that it equals the newest event per key.
        [
            """CREATE TABLE current_answers (
                event_id BIGINT NOT NULL, campaign_id VARCHAR NOT NULL, unit_id VARCHAR NOT NULL,
                question_id VARCHAR NOT NULL, level INTEGER, is_na BOOLEAN NOT NULL, na_reason TEXT, evidence TEXT,
                evidence_url TEXT, evidence_date DATE, comment TEXT, answered_by VARCHAR NOT NULL,
                answered_at TIMESTAMP NOT NULL, source VARCHAR NOT NULL,
                PRIMARY KEY (campaign_id, unit_id, question_id))""",
            """INSERT INTO current_answers
               SELECT e.event_id, e.campaign_id, e.unit_id, e.question_id, e.level, e.is_na, e.na_reason, e.evidence,
                      e.evidence_url, e.evidence_date, e.comment, e.answered_by, e.answered_at, e.source
               FROM answer_events e JOIN (SELECT max(event_id) AS event_id FROM answer_events
                                          GROUP BY campaign_id, unit_id, question_id) m ON m.event_id = e.event_id
               ORDER BY e.campaign_id, e.unit_id, e.question_id""",
        ],
    ),
]

LATEST = MIGRATIONS[-1][0]


def tables_at(version: int) -> set[str]:
    """The tables a database of this product has at a schema version (read from the migrations themselves)."""
    have = {"schema_migrations"}
    for v, _, statements in MIGRATIONS:
        if v > version:
            break
        for sql in statements:
            if m := re.match(r"\s*CREATE TABLE (?:IF NOT EXISTS )?(\w+)", sql, re.I):
                have.add(m.group(1))
            elif m := re.match(r"\s*DROP TABLE (?:IF EXISTS )?(\w+)", sql, re.I):
                have.discard(m.group(1))
            elif m := re.match(r"\s*ALTER TABLE (\w+) RENAME TO (\w+)", sql, re.I):
                have.discard(m.group(1))
                have.add(m.group(2))
    return have


def current_version(db: Store) -> int:
    with db.read() as cur:
        exists = one(
            cur, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations' "
            "AND table_schema = current_schema()"
        )[0]
        if not exists:
            return 0
        return one(cur, "SELECT coalesce(max(version), 0) FROM schema_migrations")[0]


def migrate(db: Store) -> list[int]:
    """Apply pending migrations; refuse a database written by a newer version of the app."""
    lock = getattr(db, "migration_lock", None)
    with lock() if lock else nullcontext():
        return _migrate(db)


def _migrate(db: Store) -> list[int]:
    with db.read() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
    have = current_version(db)
    if have > LATEST:
        raise DatabaseError(
            f"the database has schema version {have}, newer than this app understands ({LATEST}); "
            "upgrade the app or restore a backup made by this version"
        )
    applied = []
    for version, name, statements in MIGRATIONS:
        if version <= have:
            continue
        db.transaction(functools.partial(_apply, version=version, name=name, statements=statements))
        applied.append(version)
    return applied


def _apply(cur, version: int, name: str, statements: list[str]) -> None:
    for sql in statements:
        cur.execute(sql)
    cur.execute(
        "INSERT INTO schema_migrations VALUES (?, ?, ?)",
        [version, name, now()],
    )
