"""What the engine needs of a database and of a cursor: the protocols both backends (DuckDB, PostgreSQL) satisfy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Cursor(Protocol):
    """The DuckDB cursor methods the storage layer calls; storage/pg.py's PgCursor wears the same ones."""

    def execute(self, sql: str, params: Sequence[Any] | None = ...) -> Any: ...

    def fetchall(self) -> list[tuple]: ...

    @property
    def description(self) -> Any: ...


class Store(Protocol):
    """A database: reads in a context, writes as one retried transaction of `work(cursor)`."""

    dialect: str

    def read(self) -> AbstractContextManager[Any]: ...

    def transaction(self, work: Callable[[Any], T]) -> T: ...

    def close(self) -> None: ...
