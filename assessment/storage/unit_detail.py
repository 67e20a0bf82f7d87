"""SQL behind the business-unit drill-down: every question with its current answer and persisted score,
domain scores against target, and the unit's assessments across cycles."""

from __future__ import annotations

import polars as pl

from ._sql import latest_answers
from .db import frame


def question_detail(cur, campaign_id: str, unit_id: str) -> pl.DataFrame:
    """One row per question of the campaign's questionnaire (in questionnaire order) with the unit's
    current answer (null when unanswered) and its persisted score (null until submitted)."""
    return frame(cur, f"""
        WITH c AS (SELECT campaign_id, questionnaire_id, questionnaire_version FROM campaigns
                   WHERE campaign_id = ?),
        latest AS ({latest_answers("campaign_id = ? AND unit_id = ?")})
        SELECT qq.question_id, qq.domain_id, qd.name AS domain, qd.position AS domain_pos,
               qq.position AS question_pos, qq.text, qq.weight, qq.na_allowed,
               a.event_id, a.level AS answered_level, coalesce(a.is_na, FALSE) AS answered_na, a.na_reason,
               a.evidence, a.evidence_url, a.evidence_date, a.comment, a.answered_by, a.answered_at,
               qs.level, qs.score, qs.status, qs.explanation, qs.target, qs.gap, qs.priority, qs.policy,
               qs.scored_at
        FROM c
        JOIN q_questions qq ON qq.questionnaire_id = c.questionnaire_id AND qq.version = c.questionnaire_version
        JOIN q_domains qd ON qd.questionnaire_id = qq.questionnaire_id AND qd.version = qq.version
             AND qd.domain_id = qq.domain_id
        LEFT JOIN latest a ON a.question_id = qq.question_id
        LEFT JOIN question_scores qs ON qs.campaign_id = c.campaign_id AND qs.unit_id = ?
             AND qs.question_id = qq.question_id
        ORDER BY qd.position, qq.position""", [campaign_id, campaign_id, unit_id, unit_id])


def domain_detail(cur, campaign_id: str, unit_id: str) -> pl.DataFrame:
    """One row per domain of the campaign's questionnaire with the unit's persisted domain score."""
    return frame(cur, """
        WITH c AS (SELECT campaign_id, questionnaire_id, questionnaire_version FROM campaigns
                   WHERE campaign_id = ?)
        SELECT qd.domain_id, qd.name AS domain, qd.position AS domain_pos, qd.weight AS domain_weight,
               ds.score, ds.target, ds.gap, ds.priority, ds.answered, ds.na, ds.capped, ds.scored_at
        FROM c
        JOIN q_domains qd ON qd.questionnaire_id = c.questionnaire_id AND qd.version = c.questionnaire_version
        LEFT JOIN domain_scores ds ON ds.campaign_id = c.campaign_id AND ds.unit_id = ?
             AND ds.domain_id = qd.domain_id
        ORDER BY qd.position""", [campaign_id, unit_id])


def unit_cycles(cur, unit_id: str) -> pl.DataFrame:
    """The unit's assessment in every campaign it took part in, with its persisted score, oldest first."""
    return frame(cur, """
        SELECT c.campaign_id, c.name AS campaign, c.opens_on, c.due_on, c.status AS campaign_status,
               a.status, a.submitted_by, a.submitted_at, a.approved_by, a.approved_at, a.returned_by,
               a.returned_at, a.return_comment, s.score, s.target, s.gap, s.band, s.weakest_domain,
               s.answered, s.na, s.capped
        FROM assessments a JOIN campaigns c ON c.campaign_id = a.campaign_id
        LEFT JOIN unit_scores s ON s.campaign_id = a.campaign_id AND s.unit_id = a.unit_id
        WHERE a.unit_id = ?
        ORDER BY c.opens_on, c.campaign_id""", [unit_id])
