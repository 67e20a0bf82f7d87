"""Questionnaire versions: read a new version's file safely, compare it with a stored one, register it."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import polars as pl
import yaml

from . import access, catalog
from .errors import NotFound
from .excel.safety import UnsafeWorkbook, read_capped
from .model import Actor, Questionnaire
from .questionnaire import QUESTIONNAIRE_DIR, QuestionnaireError, loads
from .questionnaire_diff import diff
from .storage import Database

# The shipped versions are about 100 KB; a questionnaire ten times that is not a questionnaire.
MAX_BYTES = 1024 * 1024


def read(source: str | Path | BinaryIO | bytes, name: str) -> Questionnaire:
    """A questionnaire from an uploaded or given file, validated with every problem listed (QuestionnaireError).

    The size is capped before parsing, YAML aliases (which can expand a small file enormously) are refused,
    and the standards catalogue is always the product's own (a file cannot point the loader elsewhere)."""
    try:
        data = read_capped(source, MAX_BYTES, name)
    except UnsafeWorkbook as exc:
        too_big = exc.reason.startswith("the file is")
        raise QuestionnaireError(name, [f"the file is larger than {MAX_BYTES // 1024} KB, the limit for a "
                                        "questionnaire file" if too_big else exc.reason]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise QuestionnaireError(name, [f"not UTF-8 text: {exc.reason} at byte {exc.start}"]) from None
    problems = _unsafe(text)
    if problems:
        raise QuestionnaireError(name, problems)
    return loads(text, name=name, base_dir=QUESTIONNAIRE_DIR)


def _unsafe(text: str) -> list[str]:
    try:
        if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.SafeLoader)):
            return ["YAML aliases (*name) are not accepted: write each value out"]
        root = yaml.safe_load(text)
    except yaml.YAMLError:
        return []  # loads reports the syntax error with its line and column
    ref = root.get("standards_catalogue") if isinstance(root, dict) else None
    if ref is not None and (not isinstance(ref, str) or Path(ref).name != ref or ref.startswith(".")):
        return [f"standards_catalogue: {ref!r} must be the name of a catalogue shipped with the product "
                "(e.g. standards.yaml)"]
    return []


def stored(db: Database, actor: Actor) -> pl.DataFrame:
    """The registered versions, newest first."""
    return catalog.questionnaires(db, actor)


def latest_stored(db: Database, actor: Actor, questionnaire_id: str) -> Questionnaire | None:
    """The most recently registered version of this questionnaire id, if any."""
    df = stored(db, actor).filter(pl.col("questionnaire_id") == questionnaire_id)
    return catalog.questionnaire(db, questionnaire_id, df["version"][0]) if df.height else None


def compare(db: Database, actor: Actor, q: Questionnaire, base: str | None = None) -> tuple[str | None, pl.DataFrame]:
    """(the stored version compared with, the diff to `q`): `base` ("id@version"), else the latest stored
    version of the same questionnaire id; (None, empty diff) when none is stored."""
    access.require(actor, "read")
    old = resolve(db, base) if base else latest_stored(db, actor, q.id)
    if old is None:
        return None, diff(q, q)
    return f"{old.id}@{old.version}", diff(old, q)


def resolve(db: Database, ref: str) -> Questionnaire:
    """A stored version named "id@version"."""
    qid, sep, version = ref.partition("@")
    if not sep or not qid or not version:
        raise NotFound(f"{ref!r} is not a file, nor a stored version written as id@version")
    return catalog.questionnaire(db, qid, version)


def register(db: Database, actor: Actor, q: Questionnaire) -> bool:
    """Store the version (audited); False when exactly this version is already stored."""
    return catalog.register_questionnaire(db, actor, q)
