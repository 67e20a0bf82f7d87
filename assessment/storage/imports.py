"""SQL behind the Excel import: campaign units and their states, template issue records, events by id."""

from __future__ import annotations

import json

import polars as pl

from .db import frame

TEMPLATE_ACTION = "excel.template"


def campaign_units(cur, campaign_id: str) -> pl.DataFrame:
    """Every unit in a campaign with its assessment status (what an import may address)."""
    return frame(cur, "SELECT unit_id, status FROM assessments WHERE campaign_id = ? ORDER BY unit_id", [campaign_id])


def template_issue(cur, template_id: str) -> dict | None:
    """The audit record written when a template was generated (None when this database never issued it)."""
    rows = cur.execute(
        "SELECT seq, logged_at, actor, after_json FROM audit_log WHERE action = ? AND object_type = 'template' "
        "AND object_id = ? ORDER BY seq", [TEMPLATE_ACTION, template_id]).fetchall()
    if not rows:
        return None
    seq, at, actor, after = rows[0]
    return {"seq": seq, "logged_at": at, "actor": actor, **(json.loads(after) if after else {})}


def events(cur, event_ids: list[int]) -> pl.DataFrame:
    """Answer events by id (the answers a file was generated from), set-based through a registered frame."""
    ids = pl.DataFrame({"event_id": sorted(set(event_ids))}, schema={"event_id": pl.Int64})
    name = f"_import_events_{id(ids)}"
    cur.register(name, ids)
    try:
        return frame(cur, f"SELECT e.* FROM answer_events e JOIN {name} i ON i.event_id = e.event_id")
    finally:
        cur.unregister(name)
