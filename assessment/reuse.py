"""Reads reused within one build of a composite document (the auditor pack).

A pack reads the same thing more than once: the management-review figures and the record sheets both ask for
the recovery view, the RTO inversions, the action register and the review deadlines, with the same scope and
date. Inside `with reuse.one_build():` a function marked @reused runs once per distinct set of arguments and
the later calls get the same (immutable, polars) result; outside such a block it is an ordinary call. Nothing
is kept after the block, so no result outlives the build that read it.

A build may run its reads side by side (parallel.run, which passes the context on): a read asked for while the
same read is in flight waits for it instead of running again.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _Build:
    """The reads of one build: each key's result (or the future of a read in flight)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reads: dict[tuple, Future] = {}


_cache: ContextVar[_Build | None] = ContextVar("reuse_cache", default=None)


@contextmanager
def one_build() -> Iterator[None]:
    token = _cache.set(_Build())
    try:
        yield
    finally:
        _cache.reset(token)


def reused(fn: F) -> F:
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cache = _cache.get()
        if cache is None:
            return fn(*args, **kwargs)
        # By parameter, defaults applied: f(db, x, today=d) and f(db, x, d) are the same read.
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        key = (fn.__module__, fn.__qualname__, tuple(bound.arguments.items()))
        try:
            hash(key)
        except TypeError:  # an unhashable argument: no reuse
            return fn(*args, **kwargs)
        with cache.lock:
            read = cache.reads.get(key)
            mine = read is None
            if read is None:
                read = cache.reads[key] = Future()
        if mine:
            try:
                read.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                with cache.lock:  # a failed read is not kept: asked again, it runs again
                    del cache.reads[key]
                read.set_exception(exc)
                raise
        return read.result()

    return wrapper  # type: ignore[return-value]
