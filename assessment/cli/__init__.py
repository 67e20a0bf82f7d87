"""Command line interface: `itscm COMMAND` or `python -m assessment COMMAND` (see --help and README).

Commands live in the modules imported below and register themselves in `_base` with `@command`; this module only
turns the registry into a parser and runs the chosen handler.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import ItscmError
from ..questionnaire import QuestionnaireError

# isort: off
# Importing a command module registers its commands; this order is the order `itscm --help` lists them.
from . import core, cycles, admin, ops, excel, records, standards, org, actions, remind, report  # noqa: F401
# isort: on
from ._base import COMMANDS, GROUPS

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="itscm", description="ITSCM maturity assessment engine")
    p.add_argument("--version", action="version", version=f"itscm {__version__}")
    p.add_argument("--db", help="DuckDB file or postgresql:// URL (default: ITSCM_DATABASE_URL or data/itscm.duckdb)")
    subparsers = {"": p.add_subparsers(dest="command", required=True, metavar="COMMAND")}

    def under(path: str):
        """The subparsers of group `path` ("" for the top level), created when its first subcommand is added."""
        if path not in subparsers:
            parent, _, word = path.rpartition(" ")
            gp = under(parent).add_parser(word, help=GROUPS[path], description=GROUPS[path])
            subparsers[path] = gp.add_subparsers(dest=f"{path.replace(' ', '_')}_command", required=True,
                                                 metavar="SUBCOMMAND")
        return subparsers[path]

    for cmd in COMMANDS.values():
        parent, _, word = cmd.name.rpartition(" ")
        sp = under(parent).add_parser(word, help=cmd.help, description=cmd.help)
        for a in cmd.args:
            sp.add_argument(*a.flags, **a.options)
        sp.set_defaults(cmd=cmd.name)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.cmd].handler(args)
    except QuestionnaireError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ItscmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
