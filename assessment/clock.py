"""The one clock of the product: naive UTC timestamps and the UTC calendar date; tests freeze it here.

Convention: every timestamp the product stores or compares is a naive `datetime` in UTC, and "today" is
the UTC date. Nothing else calls `datetime.now()` or `date.today()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone

_frozen: datetime | None = None


def now() -> datetime:
    """The current time as a naive UTC datetime (microsecond precision)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(timezone.utc).replace(tzinfo=None)


def utc(at: datetime) -> datetime:
    """A datetime in this module's convention: aware values are converted to UTC, naive ones kept."""
    return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo is not None else at


def today() -> date:
    """The current UTC date."""
    return now().date()


@contextmanager
def frozen(at: datetime | date) -> Iterator[datetime]:
    """Stop the clock at `at` (a date means its midnight) until the block ends; used by tests."""
    global _frozen
    if not isinstance(at, datetime):
        at = datetime(at.year, at.month, at.day)
    at = utc(at)
    previous, _frozen = _frozen, at
    try:
        yield at
    finally:
        _frozen = previous
