"""The CLI package: the registry builds every command, bad dates are usage errors, no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from assessment.cli import _base, build_parser, main
from assessment.cli._base import arg, command, group

CLI = Path(__file__).resolve().parent.parent / "assessment" / "cli"


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
        argv = [*words, *(f"value-{i}" for i in range(len(needed))), *(x for f in required for x in (f, "v"))]
        assert parser.parse_args(argv).cmd == name
