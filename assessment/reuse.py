"""Reads reused within one build of a composite document (the auditor pack).

A pack reads the same thing more than once: the management-review figures and the record sheets both ask for
the recovery view, the RTO inversions, the action register and the review deadlines, with the same scope and
date. Inside `with reuse.one_build():` a function marked @reused runs once per distinct set of arguments and
the later calls get the same (immutable, polars) result; outside such a block it is an ordinary call. Nothing
is kept after the block, so no result outlives the build that read it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_cache: ContextVar[dict | None] = ContextVar("reuse_cache", default=None)


@contextmanager
def one_build() -> Iterator[None]:
    token = _cache.set({})
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
        if key not in cache:
            cache[key] = fn(*args, **kwargs)
        return cache[key]

    return wrapper  # type: ignore[return-value]
