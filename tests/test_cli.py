"""The CLI package: tables cannot be forged by user text, the registry builds every command, no import cycle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import polars as pl
import pytest

from assessment import auth, users
from assessment.cli import _base, build_parser, main
from assessment.cli._base import arg, command, escape_frame, group
from assessment.storage.db import open_database

CLI = Path(__file__).resolve().parent.parent / "assessment" / "cli"
# A display name and a typed user name that would recolour the terminal and draw a row of their own.
FORGED = "Mallory\x1b[31m\n| forged | row |"


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def _assert_table_intact(out: str) -> None:
    assert "\x1b" not in out and "\r" not in out
    lines = [line for line in out.splitlines() if line.startswith("|")]
    assert lines, out
    assert not any(line.startswith("| forged") for line in lines), out
    assert {_unescaped_pipes(line) for line in lines} == {_unescaped_pipes(lines[0])}, out  # no extra columns


@pytest.fixture
def forged_db(tmp_path) -> str:
    path = tmp_path / "forged.duckdb"
    db = open_database(path)
    users.create_first_admin(db, "alice", "a long enough passphrase", FORGED)
    with pytest.raises(auth.LoginFailed):
        auth.login(db, FORGED, "wrong password", source="cli")
    db.close()
    return str(path)


def test_audit_log_shows_control_characters_as_escapes(forged_db, capsys):
    assert main(["--db", forged_db, "audit", "log"]) == 0
    out = capsys.readouterr().out
    _assert_table_intact(out)
    assert r"mallory\x1b[31m\n\| forged \| row \|" in out  # the typed name, lower-cased by login, readable


def test_users_table_shows_control_characters_as_escapes(forged_db, capsys):
    assert main(["--db", forged_db, "users"]) == 0
    out = capsys.readouterr().out
    _assert_table_intact(out)
    assert r"Mallory\x1b[31m\n\| forged \| row \|" in out


def test_escape_frame_shows_every_kind_of_control_character():
    df = pl.DataFrame({
        "text": ["tab\there", "del\x7f c1\x9b", "bidi\u202eevil\u2066", "line\u2028sep", "a|b", "plain é", None],
        "tags": [["x\ny"], [], None, ["ok"], ["\x00"], ["|"], ["é"]],
        "kind": pl.Series(["a\rb", "b", "c", "d", "e", "f", "g"], dtype=pl.Categorical),
        "n": [1, 2, 3, 4, 5, 6, 7],
    })
    out = escape_frame(df)
    assert out["text"].to_list() == ["tab\\there", "del\\x7f c1\\x9b", "bidi\\u202eevil\\u2066", "line\\u2028sep",
                                     "a\\|b", "plain é", None]
    assert out["tags"].to_list() == [["x\\ny"], [], None, ["ok"], ["\\x00"], ["\\|"], ["é"]]
    assert out["kind"].to_list()[0] == "a\\rb" and out["n"].to_list() == df["n"].to_list()


def test_a_bad_today_is_a_usage_error_not_a_traceback(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["status", "--today", "2026-13-01"])
    assert exc.value.code == 2
    assert "expected a date as YYYY-MM-DD, got '2026-13-01'" in capsys.readouterr().err


def _cli_imports(path: Path) -> set[str]:
    """The modules of the assessment.cli package that `path` (inside it) imports: 'assessment.cli' is __init__."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(["assessment", "cli"][: 3 - node.level]) if node.level else ""
            module = ".".join(filter(None, [base, node.module or ""]))
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    # `from ._base import actor` yields assessment.cli._base and assessment.cli._base.actor: keep the modules.
    return {n for n in names if n == "assessment.cli" or (n.startswith("assessment.cli.") and n.count(".") == 2)}


def test_command_modules_import_only_the_registry():
    modules = {p.stem: _cli_imports(p) for p in CLI.glob("*.py")}
    assert modules["_base"] == set()  # the registry imports no other part of the CLI
    commands = {name: imported for name, imported in modules.items() if name not in ("__init__", "_base")}
    assert {"core", "admin", "excel", "ops"} <= set(commands)
    assert all(imported == {"assessment.cli._base"} for imported in commands.values()), commands
    assert {f"assessment.cli.{name}" for name in commands} <= modules["__init__"]  # only the entry point imports them


@pytest.fixture
def scratch_registry():
    """Commands registered in a test are gone afterwards."""
    saved = dict(_base.COMMANDS), dict(_base.GROUPS)
    yield
    for registry, before in zip((_base.COMMANDS, _base.GROUPS), saved):
        registry.clear()
        registry.update(before)


def test_a_nested_command_is_declared_in_one_place(scratch_registry, capsys):
    group("org", help="the organisation")
    group("org unit", help="business units")

    @command("org unit rename", help="rename a business unit", args=[arg("unit"), arg("--to", required=True)])
    def rename(args) -> int:
        print(f"{args.unit} -> {args.to}")
        return 5

    assert main(["org", "unit", "rename", "U1", "--to", "U2"]) == 5
    assert capsys.readouterr().out == "U1 -> U2\n"
    with pytest.raises(SystemExit):
        main(["org", "unit", "--help"])
    shown = capsys.readouterr().out
    assert "usage: itscm org unit [-h] SUBCOMMAND" in shown and "business units" in shown
    assert "rename    rename a business unit" in shown
    with pytest.raises(SystemExit) as missing:
        main(["org", "unit", "rename", "U1"])
    assert missing.value.code == 2 and "--to" in capsys.readouterr().err


def test_the_registry_refuses_what_would_build_a_broken_parser(scratch_registry):
    with pytest.raises(RuntimeError, match=r"declare group\('nowhere'"):
        command("nowhere cmd", help="orphan")(lambda args: 0)
    with pytest.raises(RuntimeError, match="registered twice"):
        command("users", help="again")(lambda args: 0)
    with pytest.raises(RuntimeError, match="needs a help text"):
        command("silent", help=" ")(lambda args: 0)


def test_every_command_parses_to_its_own_handler():
    parser = build_parser()
    for name in _base.COMMANDS:
        words = name.split()
        needed = [a.flags[0] for a in _base.COMMANDS[name].args
                  if not a.flags[0].startswith("-") and a.options.get("nargs") != "?"]
        required = [f for a in _base.COMMANDS[name].args if a.options.get("required") for f in a.flags[-1:]]
        # "1" reads as text and as a number (actions create-from-gaps --min-priority is a float).
        argv = [*words, *(f"value-{i}" for i in range(len(needed))), *(x for f in required for x in (f, "1"))]
        assert parser.parse_args(argv).cmd == name
