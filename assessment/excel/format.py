"""The workbook format shared by export, template and importer: sheet names, id columns, meta rows, digest.

A file this application issues (an auditor pack or a unit template) carries its kind, format version and
issue facts on the hidden _meta sheet (meta_rows), the ids of every answer row on the hidden _ids sheet and in
hidden columns of the Answers sheet, and a digest of those ids (manifest_digest) that the importer recomputes.
Change FORMAT_VERSION when any of this changes: the importer refuses other versions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

import polars as pl

from .. import clock

FORMAT_VERSION = "1"
PACK_KIND = "auditor-pack"
TEMPLATE_KIND = "unit-template"
ACTIONS_KIND = "action-register"
KIND_NAMES = {PACK_KIND: "an auditor pack", TEMPLATE_KIND: "a unit template", ACTIONS_KIND: "an action register"}

ANSWERS_SHEET = "Answers"
META_SHEET = "_meta"
IDS_SHEET = "_ids"
LIST_SHEET = "Lists"  # the template's hidden level choices
# Every sheet each kind of file is issued with, in order; an import refuses any other sheet.
TEMPLATE_SHEETS = ("Instructions", ANSWERS_SHEET, LIST_SHEET, META_SHEET, IDS_SHEET)
# The continuity-record sheets of the pack (records_sheets), read by nobody on import.
RECORD_SHEETS = ("Service register", "Recovery", "Untested top tier", "RTO inversions", "Exercises",
                 "Incidents over RTO")
# The management-review sheets (review_sheets), in a pack whose reader may see the review.
REVIEW_SHEETS = ("Review summary", "Review divisions", "Review recovery", "Review incidents")
ACTIONS_SHEET = "Actions"
PACK_SHEETS = ("About", "Scores", ANSWERS_SHEET, "Gaps", "Deadlines", "Trends", "Questionnaire", *RECORD_SHEETS,
               "Standards", ACTIONS_SHEET, "Audit log", *REVIEW_SHEETS, META_SHEET, IDS_SHEET)
SHEETS = {TEMPLATE_KIND: TEMPLATE_SHEETS, PACK_KIND: PACK_SHEETS, ACTIONS_KIND: (ACTIONS_SHEET, META_SHEET)}
READ_SHEETS = (ANSWERS_SHEET, META_SHEET, IDS_SHEET)
# Sheets the answer import never opens (it reads READ_SHEETS): they are listed, not scanned cell by cell.
UNREAD_SHEETS = frozenset(s for sheets in SHEETS.values() for s in sheets) - set(READ_SHEETS)

# Hidden per-row ids: rows are matched by these, never by visible text.
ID_CAMPAIGN, ID_UNIT, ID_QUESTION, ID_EVENT, ID_FORMAT = (
    "id:campaign", "id:unit", "id:question", "id:base_event", "id:format")
ID_COLUMNS = (ID_CAMPAIGN, ID_UNIT, ID_QUESTION, ID_EVENT, ID_FORMAT)
IDS_HEADER = ("campaign_id", "unit_id", "question_id", "base_event_id")
# Answer columns the import reads (same header text in the template and the pack).
COL_QUESTION, COL_UNIT, COL_LEVEL, COL_REASON, COL_EVIDENCE, COL_URL, COL_DATE, COL_COMMENT = (
    "Question ID", "Unit ID", "Level", "N/A reason", "Evidence", "Evidence URL", "Evidence date", "Comment")
NA = "N/A"
NA_WORDS = frozenset({"n/a", "na", "n.a.", "n.a", "not applicable"})  # level cells read as N/A (any case)

# The _meta sheet: key -> value, in this order.
META_KEYS = ("kind", "format_version", "template_id", "campaign_id", "unit_id", "questionnaire", "generated_at",
             "generated_by", "digest")


def manifest_digest(kind: str, campaign_id: str, ref: str, rows: Iterable[tuple] | pl.DataFrame) -> str:
    """SHA-256 over the ids a workbook was issued with: (unit, question, base event) per row, order-free.

    `rows` may be a frame (an import's hidden ids, read as text): its rows are then the text tuples already, with
    no str() per id (the digest took a second of a 215,000-row import)."""
    if isinstance(rows, pl.DataFrame) and all(t == pl.String for t in rows.dtypes):
        body = sorted(rows.fill_null("").rows())
    else:
        tuples = rows.iter_rows() if isinstance(rows, pl.DataFrame) else rows
        body = sorted(tuple("" if v is None else str(v) for v in r) for r in tuples)
    canonical = json.dumps([kind, FORMAT_VERSION, campaign_id, ref, body], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def manifest_digest_frame(kind: str, campaign_id: str, ref: str, ids: pl.DataFrame) -> str:
    """manifest_digest of the rows of `ids` (its columns in order), sorted in polars and hashed slice by slice
    instead of as one list of Python tuples and one JSON text (the auditor pack of a large campaign)."""
    text = ids.select(pl.col(c).cast(pl.String).fill_null("") for c in ids.columns)
    text = text.sort(text.columns)  # code-point order of the strings, as Python sorts the tuples
    head = json.dumps([kind, FORMAT_VERSION, campaign_id, ref], separators=(",", ":"))[:-1] + ",["
    h = hashlib.sha256(head.encode())
    first = True
    for part in text.iter_slices(50_000):
        body = ",".join(json.dumps(r, separators=(",", ":")) for r in part.iter_rows())
        h.update((body if first else "," + body).encode())
        first = False
    h.update(b"]]")
    return h.hexdigest()


def meta_rows(kind: str, *, campaign_id: str, questionnaire: str, generated_at: datetime, generated_by: str,
              digest: str, template_id: str = "", unit_id: str = "") -> list[tuple[str, str]]:
    """The _meta sheet of a file of this kind, as (key, text) rows in META_KEYS order."""
    values = {"kind": kind, "format_version": FORMAT_VERSION, "template_id": template_id,
              "campaign_id": campaign_id, "unit_id": unit_id, "questionnaire": questionnaire,
              "generated_at": generated_at.isoformat(), "generated_by": generated_by, "digest": digest}
    return [(k, values[k]) for k in META_KEYS]


def generated_now() -> datetime:
    """Generation time shown in workbooks: whole seconds (a cell shows no more)."""
    return clock.now().replace(microsecond=0)
