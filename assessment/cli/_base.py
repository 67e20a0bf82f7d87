"""The CLI's command registry and the helpers every command uses: database, actor, dates, campaign, tables.

Command modules import this module and the engine, never the package's `__init__` (the entry point), so
registering a command cannot create an import cycle.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from .. import access, clock, reports
from ..campaigns import list_campaigns
from ..errors import EngineError
from ..model import Actor
from ..settings import load as load_settings
from ..storage import Database
from ..storage.backends import open_url

Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Arg:
    """One argument of a command: what `ArgumentParser.add_argument` takes."""

    flags: tuple[str, ...]
    options: Mapping[str, Any]


def arg(*flags: str, **options: Any) -> Arg:
    """`arg("--campaign", required=True)` declares `parser.add_argument("--campaign", required=True)`."""
    return Arg(flags, options)


@dataclass(frozen=True)
class Command:
    """A registered command: its words (`"audit verify"`), help, arguments and handler (returns the exit code)."""

    name: str
    help: str
    args: tuple[Arg, ...]
    handler: Handler


COMMANDS: dict[str, Command] = {}  # in registration order, which is the order `itscm --help` lists them
GROUPS: dict[str, str] = {}  # a word that only holds subcommands ("audit") -> its help


def group(name: str, *, help: str) -> None:
    """Declare `itscm NAME SUBCOMMAND`; register its subcommands as `@command("NAME SUBCOMMAND", ...)`."""
    if name in COMMANDS:
        raise RuntimeError(f"{name!r} is already a command; it cannot also hold subcommands")
    GROUPS[name] = help


def command(name: str, *, help: str, args: Iterable[Arg] = ()) -> Callable[[Handler], Handler]:
    """Register the decorated function as `itscm NAME` with these arguments; words in NAME nest under groups."""

    def register(handler: Handler) -> Handler:
        parent = name.rpartition(" ")[0]
        if name in COMMANDS or name in GROUPS:
            raise RuntimeError(f"command {name!r} is registered twice")
        if parent and parent not in GROUPS:
            raise RuntimeError(f"declare group({parent!r}, help=...) before registering {name!r}")
        if not help.strip():
            raise RuntimeError(f"command {name!r} needs a help text")
        COMMANDS[name] = Command(name, help, tuple(args), handler)
        return handler

    return register


def iso_date(text: str) -> date:
    """argparse type for --today: a clear usage error instead of a traceback for a bad date."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def today_arg(help: str) -> Arg:
    return arg("--today", type=iso_date, help=help)


def today(args: argparse.Namespace) -> date:
    """The --today date when given, else the clock's today."""
    return getattr(args, "today", None) or clock.today()


def refused(file: str, problems: Sequence[object]) -> bool:
    """Print every problem of an import to stderr and say nothing was saved; False when there are none (the
    import commands' one way of refusing a file, exit code 1)."""
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if problems:
        print(f"{file}: {len(problems)} problem(s); nothing was saved", file=sys.stderr)
    return bool(problems)


def open_db(args: argparse.Namespace) -> Database:
    return open_url(args.db or load_settings().database_url)


def actor(args: argparse.Namespace) -> Actor:
    # Whoever can open the database file locally already has every right over it.
    return access.SYSTEM


def filters(db: Database, args: argparse.Namespace) -> reports.Filters | None:
    """The command's --division, --unit and --tier options as report filters (None without any), refused when
    they name a division or unit that does not exist."""
    def given(name: str) -> tuple | None:
        values = getattr(args, name, None)
        return tuple(values) if values else None

    f = reports.Filters(division_ids=given("division"), tiers=given("tier"), unit_ids=given("unit"))
    if f == reports.Filters():
        return None
    reports.check_filters(db, actor(args), f)
    return f


def campaign_id(db: Database, args: argparse.Namespace) -> str:
    """--campaign when given, else the latest campaign with submissions, else the latest campaign."""
    if getattr(args, "campaign", None):
        return args.campaign
    df = list_campaigns(db, actor(args))
    if df.height == 0:
        raise EngineError("no campaigns yet: create one, or load the demo with `python -m assessment demo`")
    scored = df.filter(pl.col("submitted") > 0)
    return (scored if scored.height else df)["campaign_id"][-1]


# Characters that move the cursor, recolour the terminal, start a new line or reverse the text direction are
# shown as escapes, so text from users (names, comments, imported cells) cannot forge or hide table rows.
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_CODES = (*range(0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F),
          *range(0x2066, 0x206A))  # C0, DEL, C1; the line and paragraph separators; bidirectional controls
ESCAPES: dict[str, str] = {
    chr(c): _NAMED.get(chr(c)) or (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _CODES
} | {"|": "\\|"}  # a pipe inside a cell would otherwise draw a column of its own
_TEXT = (pl.String, pl.Categorical, pl.Enum)


def _escape(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).str.replace_many(list(ESCAPES), list(ESCAPES.values()))


def escape_frame(df: pl.DataFrame) -> pl.DataFrame:
    """Every text cell, also inside lists, with control characters and pipes shown as escapes."""
    exprs = [_escape(pl.col(name)) if isinstance(dtype, _TEXT) else pl.col(name).list.eval(_escape(pl.element()))
             for name, dtype in df.schema.items()
             if isinstance(dtype, _TEXT) or (isinstance(dtype, pl.List) and isinstance(dtype.inner, _TEXT))]
    return df.with_columns(exprs)


def print_table(df: pl.DataFrame, floats: int = 2) -> None:
    """The one table printer of the CLI: markdown-style rows, floats rounded, text cells escaped."""
    if df.height == 0:
        print("(nothing to show)")
        return
    df = escape_frame(df.with_columns(pl.col(pl.Float64).round(floats)))
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                   tbl_formatting="ASCII_MARKDOWN", tbl_width_chars=250, fmt_str_lengths=60):
        print(df)
