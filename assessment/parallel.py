"""Independent engine reads run side by side: DuckDB and psycopg release the GIL while a query runs."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# Reads in flight at once per call. A composite document's reads are 3-20 ms of mostly fixed per-query cost
# each: on 2 cores a one-unit pack's reads went from 176 to 114 ms at S with 4; 2 to 8 were measured, 3 and 4
# were best.
WORKERS = 4
# Set in the worker threads: a run() inside a job runs its jobs one after another, so one build never holds
# more than WORKERS connections (PostgreSQL's pool is shared with every other user of the app).
_in_job: contextvars.ContextVar[bool] = contextvars.ContextVar("parallel_in_job", default=False)


def run(*jobs: Callable[[], Any]) -> list[Any]:
    """Each job's result, in the order given. Jobs see the caller's context variables (reuse.one_build), must
    not hold a cursor while waiting for one another, and must not touch the UI. When jobs fail, the first
    failure in the order given is raised, after every job has stopped (no read outlives the call)."""
    if len(jobs) < 2 or _in_job.get():
        return [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(jobs)), thread_name_prefix="itscm-read") as pool:
        futures = [pool.submit(_job_context().run, job) for job in jobs]
        for f in futures:
            f.exception()  # wait for all: a failure must not leave other reads running behind the caller
        return [f.result() for f in futures]


def _job_context() -> contextvars.Context:
    context = contextvars.copy_context()
    context.run(_in_job.set, True)
    return context
