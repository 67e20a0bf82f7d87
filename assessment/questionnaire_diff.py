"""What changed between two questionnaire versions: questions, domains, scale and scoring policy."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any

import polars as pl

from .model import Policy, Question, Questionnaire

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
SCHEMA = {"section": pl.String, "item": pl.String, "change": pl.String, "field": pl.String, "old": pl.String,
          "new": pl.String}
# The fields of a question a diff shows, in this order (descriptors and references are compared apart).
QUESTION_FIELDS = ("text", "domain_id", "weight", "na_allowed", "guidance", "evidence", "respondent", "checklist",
                   "objectives", "practices", "building_blocks")


@dataclass(frozen=True)
class Row:
    """One difference: section (questions, domains, scale, bands, policy), item, change, field, old, new."""

    section: str
    item: str
    change: str
    field: str = ""
    old: str | None = None
    new: str | None = None


def _text(value: Any) -> str:
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, tuple | list):
        value = [asdict(v) if is_dataclass(v) and not isinstance(v, type) else v for v in value]
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _changed(section: str, item: str, field: str, old: Any, new: Any) -> list[Row]:
    return [Row(section, item, CHANGED, field, _text(old), _text(new))] if old != new else []


def _question(old: Question, new: Question) -> list[Row]:
    rows = [r for f in QUESTION_FIELDS for r in _changed("questions", new.id, f, getattr(old, f), getattr(new, f))]
    for level in range(max(len(old.levels), len(new.levels))):
        a = old.levels[level] if level < len(old.levels) else None
        b = new.levels[level] if level < len(new.levels) else None
        rows += _changed("questions", new.id, f"descriptor {level}", a, b)
    refs = lambda q: sorted(f"{r.standard} {r.clause}" for r in q.references)  # noqa: E731
    if refs(old) != refs(new):
        gone, came = sorted(set(refs(old)) - set(refs(new))), sorted(set(refs(new)) - set(refs(old)))
        rows.append(Row("questions", new.id, CHANGED, "references", ", ".join(gone) or None,
                        ", ".join(came) or None))
    return rows


def _keyed(section: str, old: dict[str, Any], new: dict[str, Any], compare) -> list[Row]:
    rows = [Row(section, k, REMOVED, old=_text(getattr(old[k], "text", old[k])))
            for k in old if k not in new]
    rows += [Row(section, k, ADDED, new=_text(getattr(new[k], "text", new[k]))) for k in new if k not in old]
    return rows + [r for k in new if k in old for r in compare(old[k], new[k])]


def _policy(old: Policy, new: Policy) -> list[Row]:
    rows = []
    for f in fields(Policy):
        if f.name == "tiers":
            a, b = {str(t.tier): t for t in old.tiers}, {str(t.tier): t for t in new.tiers}
            rows += _keyed("policy", {f"tier {k}": v for k, v in a.items()}, {f"tier {k}": v for k, v in b.items()},
                           lambda x, y: _changed("policy", f"tier {y.tier}", "tier", x, y))
        else:
            rows += _changed("policy", f.name, f.name, getattr(old, f.name), getattr(new, f.name))
    return rows


def diff(old: Questionnaire, new: Questionnaire) -> pl.DataFrame:
    """Every difference from `old` to `new` (SCHEMA columns), questions matched by id in `new`'s order."""
    qa, qb = {x.id: x for x in old.questions}, {x.id: x for x in new.questions}
    da, dbm = {d.id: d for d in old.domains}, {d.id: d for d in new.domains}
    rows = _keyed("questions", qa, qb, _question)
    rows += _keyed("domains", {k: v.name for k, v in da.items()}, {k: v.name for k, v in dbm.items()},
                   lambda a, b: [])
    rows += [r for k in dbm if k in da for f in ("name", "weight", "description")
             for r in _changed("domains", k, f, getattr(da[k], f), getattr(dbm[k], f))]
    sa, sb = {str(x.level): x for x in old.scale}, {str(x.level): x for x in new.scale}
    names = lambda levels: {f"level {k}": v.name for k, v in levels.items()}  # noqa: E731
    rows += _keyed("scale", names(sa), names(sb), lambda a, b: [])
    rows += [r for k in sb if k in sa for f in ("name", "description")
             for r in _changed("scale", f"level {k}", f, getattr(sa[k], f), getattr(sb[k], f))]
    rows += _changed("bands", "bands", "bands", old.bands, new.bands)
    rows += _policy(old.policy, new.policy)
    return pl.DataFrame([r.__dict__ for r in rows], schema=SCHEMA)


def summary(df: pl.DataFrame) -> dict[str, int]:
    """Counts for a heading: questions added, removed and changed; policy and other changes."""
    questions = df.filter(pl.col("section") == "questions")
    return {"questions added": questions.filter(pl.col("change") == ADDED).height,
            "questions removed": questions.filter(pl.col("change") == REMOVED).height,
            "questions changed": questions.filter(pl.col("change") == CHANGED)["item"].n_unique(),
            "policy changes": df.filter(pl.col("section") == "policy").height,
            "other changes": df.filter(pl.col("section").is_in(["domains", "scale", "bands"])).height}
