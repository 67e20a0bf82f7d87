"""The README matches the code: every CLI command and its options, every ITSCM_* setting, one reader of settings."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

from assessment.cli import _base
from assessment.settings import VARIABLES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# The product's own code: what runs in the app and the CLI (benchmarks and tests set variables, they may).
SOURCES = sorted([*ROOT.glob("assessment/**/*.py"), *ROOT.glob("ui/*.py"), *ROOT.glob("views/*.py"), ROOT / "app.py"])


def table(heading: str) -> list[list[str]]:
    """The rows (cells, header and rule left out) of the first table under a README heading."""
    section = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = section[section.index("\n|") + 1:].split("\n\n", 1)[0].splitlines()
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def code(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected one `code` span, got {cell!r}"
    return match.group(1)


def command_rows() -> dict[str, list[str]]:
    return {code(row[0]): row for row in table("Command line")}


def test_every_command_is_in_the_readme_table_and_nothing_else():
    assert set(command_rows()) == set(_base.COMMANDS)


@pytest.mark.parametrize("name", list(_base.COMMANDS))
def test_every_command_has_help_and_its_options_in_the_readme(name):
    cmd = _base.COMMANDS[name]
    assert cmd.help.strip()
    words = name.split()
    for i in range(1, len(words)):
        assert _base.GROUPS[" ".join(words[:i])].strip()  # `itscm audit --help` says what the group holds
    shown = [a for a in cmd.args if a.options.get("help") != argparse.SUPPRESS]
    documented = command_rows()[name][1]
    for a in shown:
        names = [f for f in a.flags if f.startswith("-")] or [a.flags[0].upper()]
        assert any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", documented) for n in names), (name, a.flags)
    listed = re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", documented)
    declared = {f for a in shown for f in a.flags}
    assert set(listed) <= declared, f"{name}: README lists options the command does not have"


def test_every_setting_is_in_the_configuration_table_and_nothing_else():
    documented = [code(row[0]) for row in table("Configuration")]
    assert len(documented) == len(set(documented))
    assert set(documented) == {v.name for v in VARIABLES}
    assert all(name.startswith("ITSCM_") for name in documented)


def _env_reads(tree: ast.AST) -> list[tuple[int, str | None]]:
    """Every read of the environment: (line, the variable's name when written as a literal, else None)."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def literal(node: ast.AST | None) -> str | None:
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

    reads = []
    for node in ast.walk(tree):
        is_environ = (isinstance(node, ast.Attribute) and node.attr == "environ") or (
            isinstance(node, ast.Name) and node.id == "environ")
        is_getenv = (isinstance(node, ast.Attribute) and node.attr == "getenv") or (
            isinstance(node, ast.Name) and node.id == "getenv")
        parent = parents.get(node)
        if is_getenv and isinstance(parent, ast.Call) and parent.func is node:
            reads.append((node.lineno, literal(parent.args[0] if parent.args else None)))
        elif is_environ and isinstance(parent, ast.Subscript):
            reads.append((node.lineno, literal(parent.slice)))
        elif is_environ and isinstance(parent, ast.Attribute) and isinstance(parents.get(parent), ast.Call):
            call = parents[parent]
            reads.append((node.lineno, literal(call.args[0] if call.args else None)))
        elif is_environ and isinstance(parent, ast.Compare):  # "ITSCM_X" in os.environ
            reads.append((node.lineno, literal(parent.left)))
        elif is_environ:
            reads.append((node.lineno, None))
    return sorted(reads, key=lambda r: r[0])


def test_only_settings_reads_itscm_variables():
    offenders = []
    for path in SOURCES:
        if path == ROOT / "assessment" / "settings.py":
            continue
        text = path.read_text(encoding="utf-8")
        for line, name in _env_reads(ast.parse(text)):
            # A literal name that is not ours is fine; an ITSCM_ name, or a name the code computes, is not.
            if name is None or name.startswith("ITSCM_"):
                offenders.append(f"{path.relative_to(ROOT)}:{line} reads {name or 'the environment'}")
    assert offenders == [], "read ITSCM_* variables through assessment.settings (read/load) instead"


def test_the_environment_check_sees_each_way_of_reading_it():
    reads = _env_reads(ast.parse(
        "import os\nfrom os import environ, getenv\n"
        "a = os.environ['ITSCM_A']\nb = os.environ.get('ITSCM_B')\nc = os.getenv('HOME')\n"
        "d = getenv(name)\ne = 'ITSCM_E' in environ\nf = dict(os.environ)\n"))
    assert reads == [(3, "ITSCM_A"), (4, "ITSCM_B"), (5, "HOME"), (6, None), (7, "ITSCM_E"), (8, None)]
