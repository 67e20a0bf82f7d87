"""The dependency direction, checked on the source: questionnaires (data) -> assessment (engine) -> UI. The
engine never imports Streamlit or the UI, and its module-level imports form no cycle (late imports inside a
function are the deliberate way to break one)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "assessment"


def _modules() -> dict[str, Path]:
    out = {}
    for f in ENGINE.rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _imports(name: str, f: Path, known: set[str]) -> set[str]:
    pkg = name if f.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.parse(f.read_text(encoding="utf-8")).body:      # module level only
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(head + ([base] if base else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(m, f, set(mods)) for m, f in mods.items()}


def test_the_engine_imports_no_ui():
    bad = {m: sorted(t for t in targets if t.split(".")[0] in {"streamlit", "ui", "views", "app"})
           for m, targets in _graph().items()}
    assert not {m: t for m, t in bad.items() if t}


def test_the_engine_has_no_import_cycle():
    graph = {m: {t for t in targets if t in _modules() and t != m} for m, targets in _graph().items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m: str, path: list[str]) -> bool:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycle.extend([*path[path.index(t):], t] if t in path else [m, t])
                return True
            if t not in state and visit(t, [*path, t]):
                return True
        state[m] = 2
        return False

    for m in sorted(graph):
        if m not in state and visit(m, [m]):
            break
    assert not cycle, " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    """The check itself: two modules importing each other are reported."""
    pkg = tmp_path / "assessment"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("from .a import x\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "ENGINE", pkg)
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "ROOT", tmp_path)
    try:
        test_the_engine_has_no_import_cycle()
    except AssertionError as exc:
        assert "assessment.a" in str(exc) and "assessment.b" in str(exc)
    else:
        raise AssertionError("the cycle between assessment.a and assessment.b was not found")
