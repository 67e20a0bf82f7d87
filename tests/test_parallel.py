"""Reads side by side (parallel.run) and reads shared within one build while in flight (reuse)."""

from __future__ import annotations

import threading
import time

import pytest

from assessment import parallel, reuse


def test_results_come_back_in_the_order_given_and_the_jobs_overlap():
    started = threading.Barrier(2, timeout=5)  # each job waits for the other: they must run at once

    def job(value: int) -> int:
        started.wait()
        return value

    assert parallel.run(lambda: job(1), lambda: job(2)) == [1, 2]


def test_the_first_failure_in_order_is_raised_after_every_job_has_stopped():
    finished: list[str] = []

    def slow() -> None:
        time.sleep(0.2)
        finished.append("slow")

    def fails(name: str) -> None:
        raise ValueError(name)

    with pytest.raises(ValueError, match="first"):
        parallel.run(lambda: fails("first"), slow, lambda: fails("second"))
    assert finished == ["slow"]  # no read outlives the call


def test_a_read_in_flight_is_waited_for_not_run_again():
    calls: list[int] = []
    asked = threading.Barrier(2, timeout=5)

    @reuse.reused
    def read(x: int) -> int:
        calls.append(x)
        time.sleep(0.2)  # still in flight when the other job asks
        return x * 10

    def job() -> int:
        asked.wait()
        return read(4)

    with reuse.one_build():
        assert parallel.run(job, job) == [40, 40]
    assert calls == [4]
    assert parallel.run(lambda: read(4), lambda: read(4)) == [40, 40]  # outside a build: ordinary calls
    assert calls == [4, 4, 4]


def test_a_failed_read_is_not_kept():
    attempts: list[int] = []

    @reuse.reused
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database busy")
        return "ok"

    with reuse.one_build():
        with pytest.raises(RuntimeError):
            flaky()
        assert flaky() == "ok" and flaky() == "ok"
    assert len(attempts) == 2


def test_a_run_inside_a_job_runs_its_jobs_in_turn():
    """One build holds at most WORKERS connections: a nested run does its jobs in the thread of the job."""
    def inner() -> tuple[int, list[int]]:
        return threading.get_ident(), parallel.run(threading.get_ident, threading.get_ident)

    for job_thread, inner_threads in parallel.run(inner, inner):
        assert inner_threads == [job_thread, job_thread]
