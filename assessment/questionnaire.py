"""Load and validate questionnaire YAML files, reporting every problem with its field path."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import ItscmError
from .model import (
    DEFAULT_COMPLIANCE_LEVEL,
    DEFAULT_RESPONDENT,
    EXERCISE_TYPES,
    RECOVERY_TIERS,
    RESPONDENTS,
    RULE_CHECKS,
    RULE_SERVICES,
    TAG_KINDS,
    Band,
    ChecklistItem,
    Domain,
    EvidenceRule,
    Level,
    Policy,
    Question,
    Questionnaire,
    RecordRule,
    RecoveryTest,
    Reference,
    Rollup,
    Tier,
)

# The shipped questionnaires: the repository's questionnaires/ folder, reached through the package's
# assessment/questionnaires link in a checkout and carried as package data in the wheel (pyproject.toml).
QUESTIONNAIRE_DIR = Path(str(resources.files("assessment") / "questionnaires")).resolve()
DEFAULT_QUESTIONNAIRE = QUESTIONNAIRE_DIR / "itscm-core.yaml"
# Every version the product ships, oldest first: a new database stores them all, so a first cycle can use the
# newest (1.1.0, with the corrected references) and closed cycles on 1.0.0 stay readable.
SHIPPED_QUESTIONNAIRES = (DEFAULT_QUESTIONNAIRE, QUESTIONNAIRE_DIR / "itscm-core-1.1.yaml")
ROLLUPS = {"mean", "tier_weighted_mean"}
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DOMAIN_RE = re.compile(r"^[A-Z]{2,6}$")
QUESTION_RE = re.compile(r"^([A-Z]{2,6})-\d{2}$")
VERSION_RE = re.compile(r"^\d+\.\d+(\.\d+)?$")
# How a problem names one id of each tag list ("unknown checklist item 'CL-99'").
TAG_NOUNS = {"checklist": "checklist item", "objectives": "objective", "practices": "practice",
             "building_blocks": "building block"}


class QuestionnaireError(ItscmError):
    """Raised with every problem found in a questionnaire file."""

    def __init__(self, file: str, problems: list[str]):
        self.file = file
        self.problems = problems
        lines = "\n".join(f"  {file}: {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in {file}:\n{lines}")


@dataclass
class _Checker:
    problems: list[str]

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def mapping(self, node: Any, path: str) -> dict:
        if not isinstance(node, dict):
            self.add(path, f"expected a mapping, got {type(node).__name__}")
            return {}
        return node

    def seq(self, node: Any, path: str) -> list:
        if node is None:
            self.add(path, "missing")
            return []
        if not isinstance(node, list):
            self.add(path, f"expected a list, got {type(node).__name__}")
            return []
        return node

    def text(self, node: dict, key: str, path: str, required: bool = True) -> str:
        value = node.get(key)
        if value is None:
            if required:
                self.add(_join(path, key), "missing")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.add(_join(path, key), "expected non-empty text")
            return str(value)
        return value.strip()

    def number(self, node: dict, key: str, path: str, positive: bool = False) -> float:
        value = node.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.add(_join(path, key), f"expected a number, got {value!r}")
            return 1.0
        if positive and value <= 0:
            self.add(_join(path, key), f"must be positive, got {value}")
        return float(value)

    def integer(self, node: dict, key: str, path: str, lo: int, hi: int) -> int:
        value = node.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(_join(path, key), f"expected a whole number, got {value!r}")
            return lo
        if not lo <= value <= hi:
            self.add(_join(path, key), f"must be between {lo} and {hi}, got {value}")
        return value

    def boolean(self, node: dict, key: str, path: str, default: bool) -> bool:
        value = node.get(key, default)
        if not isinstance(value, bool):
            self.add(_join(path, key), f"expected true or false, got {value!r}")
            return default
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def content_hash(raw: dict) -> str:
    """SHA-256 of the canonical JSON of the parsed file: formatting changes do not change it."""
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_standards(path: Path) -> dict[str, dict]:
    """Return {standard: {"title", "clauses": {id: topic}, "out_of_scope": {id: reason}}} from a catalogue.

    Raises QuestionnaireError listing every problem of the catalogue file.
    """
    stat = path.stat()
    out, problems = _parsed_catalogue(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if problems:
        raise QuestionnaireError(str(path), list(problems))
    return out


@lru_cache(maxsize=8)
def _parsed_catalogue(path: str, mtime_ns: int, size: int) -> tuple[dict[str, dict], tuple[str, ...]]:
    # PyYAML is pure Python (about 150 ms for the catalogue): parse each version of the file once per process.
    # Keyed by modification time and size so an edited catalogue is read again. Callers must not mutate it.
    chk = _Checker([])
    out = _standards(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}, chk)
    return out, tuple(chk.problems)


def _standards(raw: Any, chk: _Checker) -> dict[str, dict]:
    root = chk.mapping(raw, "(root)")
    out: dict[str, dict] = {}
    for key, std in chk.mapping(root.get("standards", {}), "standards").items():
        p = f"standards.{key}"
        m = chk.mapping(std, p)
        clauses: dict[str, str] = {}
        for i, c in enumerate(chk.seq(m.get("clauses", []), f"{p}.clauses")):
            cm = chk.mapping(c, f"{p}.clauses[{i}]")
            cid = str(cm.get("id", "")).strip()
            if not cid:
                chk.add(f"{p}.clauses[{i}].id", "missing")
            elif cid in clauses:
                chk.add(f"{p}.clauses[{i}].id", f"duplicate clause id {cid!r}")
            clauses[cid] = str(cm.get("topic", ""))
        out[str(key)] = {"title": str(m.get("title", key)), "clauses": clauses,
                         "out_of_scope": _out_of_scope(m.get("out_of_scope", []), p, str(key), clauses, chk)}
    return out


def _out_of_scope(node: Any, p: str, std: str, clauses: dict[str, str], chk: _Checker) -> dict[str, str]:
    """Clauses deliberately not assessed, each with its reason: listed by the standards view as such."""
    out: dict[str, str] = {}
    for i, item in enumerate(chk.seq(node, f"{p}.out_of_scope")):
        q = f"{p}.out_of_scope[{i}]"
        m = chk.mapping(item, q)
        cid = str(m.get("clause", "")).strip()
        reason = chk.text(m, "reason", q)
        if not cid:
            chk.add(f"{q}.clause", "missing")
        elif cid not in clauses:
            chk.add(f"{q}.clause", f"unknown clause {cid!r} for {std}")
        elif cid in out:
            chk.add(f"{q}.clause", f"clause {cid!r} is listed twice")
        elif reason:
            out[cid] = reason
    return out


def load_file(path: str | Path) -> Questionnaire:
    """Read, validate and build a questionnaire; raise QuestionnaireError listing every problem."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise QuestionnaireError(name, [f"cannot read file: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise QuestionnaireError(name, [f"not UTF-8 text: {exc.reason} at byte {exc.start}"]) from exc
    return loads(text, name=name, base_dir=path.parent)


def loads(text: str, name: str = "<questionnaire>", base_dir: Path | None = None,
          check_references: bool = True) -> Questionnaire:
    """Parse and validate YAML text; stored versions skip the catalogue check (it may have moved on)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise QuestionnaireError(name, [f"{where}invalid YAML: {getattr(exc, 'problem', exc)}"]) from exc
    chk = _Checker([])
    root = chk.mapping(raw, "(root)")
    standards = _load_catalogue(root, base_dir or QUESTIONNAIRE_DIR, chk) if check_references else None
    q = _build(root, standards, chk)
    if chk.problems:
        raise QuestionnaireError(name, chk.problems)
    assert q is not None
    return q


def _load_catalogue(root: dict, base_dir: Path, chk: _Checker) -> dict[str, dict]:
    ref = root.get("standards_catalogue", "standards.yaml")
    path = (base_dir / str(ref)).resolve()
    if not path.is_file():
        chk.add("standards_catalogue", f"catalogue file {ref!r} not found beside the questionnaire")
        return {}
    sub = _Checker([])
    try:
        standards = _standards(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, sub)
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        chk.add("standards_catalogue", f"catalogue {ref!r} is invalid: {exc}")
        return {}
    for problem in sub.problems:
        chk.add("standards_catalogue", f"{ref}: {problem}")
    return standards


def _build(root: dict, standards: dict[str, dict] | None, chk: _Checker) -> Questionnaire | None:
    qid = chk.text(root, "id", "")
    if qid and not ID_RE.match(qid):
        chk.add("id", f"must be lower-case letters, digits and dashes, got {qid!r}")
    version = str(root.get("version", ""))
    if not VERSION_RE.match(version):
        chk.add("version", f"expected a version like \"1.0.0\", got {root.get('version')!r}")
    scale = _scale(root.get("scale"), chk)
    bands = _bands(root.get("bands"), chk)
    policy = _policy(root.get("policy"), chk)
    # The checklist is required; the other tag lists are optional (1.0.0 has none).
    tags = {kind: _tag_list(root.get(kind, None if kind == "checklist" else []), kind, chk) for kind in TAG_KINDS}
    domains = _domains(root.get("domains"), {k: {t.id for t in v} for k, v in tags.items()}, standards, chk)
    for kind, items in tags.items():
        _check_coverage(kind, items, domains, chk)
    _check_rule_questions(policy.record_rules, domains, chk)
    if chk.problems:
        return None
    return Questionnaire(
        id=qid,
        version=version,
        title=str(root.get("title", qid)),
        description=str(root.get("description", "")),
        scale=scale,
        bands=bands,
        policy=policy,
        checklist=tags["checklist"],
        domains=domains,
        content_hash=content_hash(root),
        source=yaml.safe_dump(root, sort_keys=False, allow_unicode=True),
        standards=standards or {},
        objectives=tags["objectives"],
        practices=tags["practices"],
        building_blocks=tags["building_blocks"],
    )


def _scale(node: Any, chk: _Checker) -> tuple[Level, ...]:
    levels = []
    items = chk.seq(node, "scale")
    if items and len(items) != 6:
        chk.add("scale", f"expected 6 levels (0-5), got {len(items)}")
    for i, item in enumerate(items):
        p = f"scale[{i}]"
        m = chk.mapping(item, p)
        lv = chk.integer(m, "level", p, 0, 5)
        if lv != i:
            chk.add(f"{p}.level", f"expected level {i} in this position, got {lv}")
        levels.append(Level(lv, chk.text(m, "name", p), chk.text(m, "description", p, required=False)))
    return tuple(levels)


def _bands(node: Any, chk: _Checker) -> tuple[Band, ...]:
    bands = []
    for i, item in enumerate(chk.seq(node, "bands")):
        p = f"bands[{i}]"
        m = chk.mapping(item, p)
        bands.append(Band(chk.text(m, "name", p), chk.number(m, "min", p), chk.number(m, "max", p)))
    if bands:
        if bands[0].min != 0 or bands[-1].max != 5:
            chk.add("bands", "bands must start at 0 and end at 5")
        for i, (a, b) in enumerate(zip(bands, bands[1:]), start=1):
            if a.max != b.min:
                chk.add(f"bands[{i}].min", f"expected {a.max} (previous band's max), got {b.min}")
    return tuple(bands)


def _policy(node: Any, chk: _Checker) -> Policy:
    m = chk.mapping(node, "policy")
    na = chk.mapping(m.get("na", {}), "policy.na")
    if na.get("counts", "excluded") != "excluded":
        chk.add("policy.na.counts", f"only 'excluded' is supported, got {na.get('counts')!r}")
    ev = chk.mapping(m.get("evidence_rule"), "policy.evidence_rule")
    rule = EvidenceRule(
        chk.integer(ev, "min_level", "policy.evidence_rule", 0, 5),
        chk.integer(ev, "max_age_months", "policy.evidence_rule", 1, 120),
        chk.integer(ev, "cap_level", "policy.evidence_rule", 0, 5),
    )
    tiers = []
    for i, item in enumerate(chk.seq(m.get("tiers"), "policy.tiers")):
        p = f"policy.tiers[{i}]"
        t = chk.mapping(item, p)
        tiers.append(
            Tier(
                chk.integer(t, "tier", p, 1, 9),
                chk.text(t, "name", p),
                chk.number(t, "target", p),
                chk.number(t, "factor", p, positive=True),
            )
        )
        if not 0 <= tiers[-1].target <= 5:
            chk.add(f"{p}.target", f"must be within the 0-5 scale, got {tiers[-1].target}")
    if len({t.tier for t in tiers}) != len(tiers):
        chk.add("policy.tiers", "duplicate tier numbers")
    r = chk.mapping(m.get("rollup", {}), "policy.rollup")
    rollup = Rollup(**{k: str(r.get(k, getattr(Rollup, k))) for k in Rollup.__dataclass_fields__})
    for key in ("unit_to_division", "unit_to_organisation"):
        if getattr(rollup, key) not in ROLLUPS:
            chk.add(f"policy.rollup.{key}", f"expected one of {sorted(ROLLUPS)}, got {getattr(rollup, key)!r}")
    if rollup.unit_to_division != rollup.unit_to_organisation:
        chk.add("policy.rollup.unit_to_division", "must equal unit_to_organisation (one unit weighting)")
    for key in ("question_to_domain", "domain_to_unit"):
        if getattr(rollup, key) != "weighted_mean":
            chk.add(f"policy.rollup.{key}", f"only 'weighted_mean' is supported, got {getattr(rollup, key)!r}")
    cumulative = chk.boolean(m, "cumulative", "policy", False)
    if cumulative and rule.cap_level >= rule.min_level:
        # A score capped at the guarded level or above would claim the criteria the missing evidence denies.
        chk.add("policy.evidence_rule.cap_level",
                f"must be below min_level ({rule.min_level}) when policy.cumulative is true, got {rule.cap_level}")
    compliance = (chk.integer(m, "compliance_level", "policy", 0, 5) if "compliance_level" in m
                  else DEFAULT_COMPLIANCE_LEVEL)
    return Policy(chk.boolean(na, "reason_required", "policy.na", True), rule, tuple(tiers), rollup,
                  cumulative=cumulative, compliance_level=compliance,
                  record_rules=_record_rules(m.get("record_rules", []), chk),
                  recovery_testing=_recovery_testing(m.get("recovery_testing", []), chk))


def _exercise_types(node: Any, p: str, chk: _Checker) -> tuple[str, ...]:
    types = chk.seq(node, p)
    if node is not None and not types:
        chk.add(p, "name at least one exercise type")
    for k, t in enumerate(types):
        if t not in EXERCISE_TYPES:
            chk.add(f"{p}[{k}]", f"expected one of {', '.join(EXERCISE_TYPES)}, got {t!r}")
    if len(set(map(str, types))) < len(types):
        chk.add(p, "an exercise type is listed twice")
    return tuple(str(t) for t in types)


def _rule_services(node: Any, p: str, chk: _Checker) -> str | tuple[int, ...]:
    if isinstance(node, str) and node in RULE_SERVICES:
        return node
    if isinstance(node, list) and node and all(isinstance(t, int) and not isinstance(t, bool) for t in node):
        unknown = [t for t in node if t not in RECOVERY_TIERS]
        if unknown:
            chk.add(p, f"unknown recovery tier(s) {unknown} (recovery tiers are {', '.join(map(str, RECOVERY_TIERS))})")
        return tuple(sorted(set(node)))
    chk.add(p, f"expected {' or '.join(RULE_SERVICES)}, or a list of recovery tiers such as [1, 2], got {node!r}")
    return "all"


def _record_rules(node: Any, chk: _Checker) -> tuple[RecordRule, ...]:
    """Scoring policy checked against the continuity records (FORMAT.md, "Record rules")."""
    rules, seen = [], set()
    for i, item in enumerate(chk.seq(node, "policy.record_rules")):
        p = f"policy.record_rules[{i}]"
        m = chk.mapping(item, p)
        qid = chk.text(m, "question", p)
        check = m.get("check")
        if check not in RULE_CHECKS:
            chk.add(f"{p}.check", f"expected one of {', '.join(RULE_CHECKS)}, got {check!r}")
        min_level = chk.integer(m, "min_level", p, 1, 5)
        cap_level = chk.integer(m, "cap_level", p, 0, 4)
        if cap_level >= min_level:
            # A cap at or above the guarded level would claim what the records deny.
            chk.add(f"{p}.cap_level", f"must be below min_level ({min_level}), got {cap_level}")
        window = chk.integer(m, "window_months", p, 1, 120) if "window_months" in m else None
        if window is None and check in ("exercise_passed", "postmortem_done"):
            chk.add(f"{p}.window_months", f"missing: the {check} check needs a window (1-120 months)")
        types: tuple[str, ...] = ()
        if check == "exercise_passed":
            types = _exercise_types(m.get("exercise_types"), f"{p}.exercise_types", chk)
        elif "exercise_types" in m:
            chk.add(f"{p}.exercise_types", "only an exercise_passed rule names exercise types")
        unknown = set(m) - {"question", "check", "services", "min_level", "cap_level", "window_months",
                            "exercise_types"}
        for key in sorted(unknown):
            chk.add(f"{p}.{key}", "unknown field")
        if (qid, check) in seen:
            chk.add(p, f"a second {check} rule for {qid}: combine them into one")
        seen.add((qid, check))
        rules.append(RecordRule(qid, str(check), _rule_services(m.get("services", "all"), f"{p}.services", chk),
                                min_level, cap_level, window, types))
    return tuple(rules)


def _recovery_testing(node: Any, chk: _Checker) -> tuple[RecoveryTest, ...]:
    """How often the services of each recovery tier are exercised (the deadlines view uses it)."""
    out: list[RecoveryTest] = []
    for i, item in enumerate(chk.seq(node, "policy.recovery_testing")):
        p = f"policy.recovery_testing[{i}]"
        m = chk.mapping(item, p)
        tier = chk.integer(m, "tier", p, min(RECOVERY_TIERS), max(RECOVERY_TIERS))
        if tier in {t.tier for t in out}:
            chk.add(f"{p}.tier", f"recovery tier {tier} is listed twice")
        types = (_exercise_types(m.get("exercise_types"), f"{p}.exercise_types", chk) if "exercise_types" in m
                 else tuple(EXERCISE_TYPES))
        out.append(RecoveryTest(tier, chk.integer(m, "every_months", p, 1, 120), types))
    return tuple(out)


def _check_rule_questions(rules: tuple[RecordRule, ...], domains: tuple[Domain, ...], chk: _Checker) -> None:
    known = {q.id for d in domains for q in d.questions}
    for i, r in enumerate(rules):
        if r.question_id and r.question_id not in known:
            chk.add(f"policy.record_rules[{i}].question", f"unknown question {r.question_id!r}")


def _tag_list(node: Any, kind: str, chk: _Checker) -> tuple[ChecklistItem, ...]:
    items, seen = [], set()
    noun = "checklist" if kind == "checklist" else TAG_NOUNS[kind]
    for i, item in enumerate(chk.seq(node, kind)):
        p = f"{kind}[{i}]"
        m = chk.mapping(item, p)
        cid = chk.text(m, "id", p)
        if cid in seen:
            chk.add(f"{p}.id", f"duplicate {noun} id {cid!r}")
        seen.add(cid)
        items.append(ChecklistItem(cid, chk.text(m, "text", p)))
    return tuple(items)


def _domains(node: Any, tags: dict[str, set[str]], standards: dict | None, chk: _Checker) -> tuple[Domain, ...]:
    domains, seen_d, seen_q = [], set(), set()
    items = chk.seq(node, "domains")
    if node is not None and not items:
        chk.add("domains", "at least one domain is required")
    for i, item in enumerate(items):
        p = f"domains[{i}]"
        m = chk.mapping(item, p)
        did = chk.text(m, "id", p)
        if did and not DOMAIN_RE.match(did):
            chk.add(f"{p}.id", f"expected 2-6 capital letters, got {did!r}")
        if did in seen_d:
            chk.add(f"{p}.id", f"duplicate domain id {did!r}")
        seen_d.add(did)
        questions = []
        qitems = chk.seq(m.get("questions"), f"{p}.questions")
        if not qitems:
            chk.add(f"{p}.questions", "a domain needs at least one question")
        for j, qnode in enumerate(qitems):
            q = _question(qnode, f"{p}.questions[{j}]", did, tags, standards, chk)
            if q.id in seen_q:
                chk.add(f"{p}.questions[{j}].id", f"duplicate question id {q.id!r}")
            seen_q.add(q.id)
            questions.append(q)
        name = chk.text(m, "name", p)
        weight = chk.number(m, "weight", p, positive=True)
        domains.append(Domain(did, name, weight, chk.text(m, "description", p, False), tuple(questions)))
    return tuple(domains)


def _question(node: Any, p: str, domain_id: str, tags: dict[str, set[str]], standards: dict | None,
              chk: _Checker) -> Question:
    m = chk.mapping(node, p)
    qid = chk.text(m, "id", p)
    match = QUESTION_RE.match(qid)
    if qid and not match:
        chk.add(f"{p}.id", f"expected an id like {domain_id}-01, got {qid!r}")
    elif match and match.group(1) != domain_id:
        chk.add(f"{p}.id", f"question id {qid!r} must start with its domain id {domain_id!r}")
    levels = chk.seq(m.get("levels"), f"{p}.levels")
    if m.get("levels") is not None and len(levels) != 6:
        chk.add(f"{p}.levels", f"expected 6 descriptors, got {len(levels)}")
    for k, lv in enumerate(levels):
        if not isinstance(lv, str) or not lv.strip():
            chk.add(f"{p}.levels[{k}]", "expected non-empty text")
    if len({str(lv).strip().lower() for lv in levels}) < len(levels):
        chk.add(f"{p}.levels", "descriptors must differ from one another")
    cl = chk.seq(m.get("checklist"), f"{p}.checklist")
    if m.get("checklist") is not None and not cl:
        chk.add(f"{p}.checklist", "at least one checklist item is required")
    for k, c in enumerate(cl):
        if c not in tags["checklist"]:
            chk.add(f"{p}.checklist[{k}]", f"unknown checklist item {c!r}")
    extra = {kind: _question_tags(m, p, kind, tags[kind], chk) for kind in TAG_KINDS if kind != "checklist"}
    respondent = m.get("respondent", DEFAULT_RESPONDENT)
    if respondent not in RESPONDENTS:
        chk.add(f"{p}.respondent", f"expected one of {', '.join(sorted(RESPONDENTS))}, got {respondent!r}")
    refs = []
    rnodes = chk.seq(m.get("references"), f"{p}.references")
    if m.get("references") is not None and not rnodes:
        chk.add(f"{p}.references", "at least one standard reference is required")
    for k, r in enumerate(rnodes):
        refs.append(_reference(r, f"{p}.references[{k}]", standards, chk))
    return Question(
        id=qid,
        domain_id=domain_id,
        text=chk.text(m, "text", p),
        guidance=chk.text(m, "guidance", p),
        checklist=tuple(str(c) for c in cl),
        weight=chk.number(m, "weight", p, positive=True),
        evidence=chk.text(m, "evidence", p),
        na_allowed=chk.boolean(m, "na_allowed", p, False),
        levels=tuple(str(lv).strip() for lv in levels),
        references=tuple(refs),
        respondent=str(respondent),
        **extra,
    )


def _question_tags(m: dict, p: str, kind: str, known: set[str], chk: _Checker) -> tuple[str, ...]:
    ids = chk.seq(m.get(kind, []), f"{p}.{kind}")
    for k, tag in enumerate(ids):
        if tag not in known:
            chk.add(f"{p}.{kind}[{k}]", f"unknown {TAG_NOUNS[kind]} {tag!r}")
    return tuple(str(t) for t in ids)


def _reference(node: Any, p: str, standards: dict | None, chk: _Checker) -> Reference:
    m = chk.mapping(node, p)
    std = str(m.get("standard", ""))
    clause = str(m.get("clause", ""))
    if standards is None:
        pass
    elif std not in standards:
        chk.add(f"{p}.standard", f"unknown standard {std!r} (known: {', '.join(sorted(standards))})")
    elif clause not in standards[std]["clauses"]:
        chk.add(f"{p}.clause", f"unknown clause {clause!r} for {std}")
    elif clause in standards[std].get("out_of_scope", {}):
        chk.add(f"{p}.clause", f"clause {clause!r} of {std} is listed as out of scope in the catalogue")
    return Reference(std, clause)


def _check_coverage(kind: str, items: tuple[ChecklistItem, ...], domains: tuple[Domain, ...],
                    chk: _Checker) -> None:
    covered = {c for d in domains for q in d.questions for c in q.tags(kind)}
    for i, item in enumerate(items):
        if item.id and item.id not in covered:
            chk.add(f"{kind}[{i}]", f"item {item.id!r} is not covered by any question")


def load_default() -> Questionnaire:
    return load_file(DEFAULT_QUESTIONNAIRE)
