"""auteur.jobs.InProcessJobs: jobs by name, deduplicated by id, retried on a timer (never a sleeping pool thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from auteur.jobs import InProcessJobs

DEADLINE = 10.0


def call(fn: Callable[[], object]) -> None:
    """The job these tests enqueue by name: it runs what it is given."""
    fn()


JOB = f"{__name__}.call"


def wait_until(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Flaky:
    """Fails ``failures`` times, then succeeds; counts its runs."""

    def __init__(self, failures: int) -> None:
        self.failures, self.runs, self.done = failures, 0, threading.Event()

    def __call__(self) -> None:
        self.runs += 1
        if self.runs <= self.failures:
            raise OSError(f"failure {self.runs}")
        self.done.set()


class ManualSchedule:
    """An injected timer: records each retry; the test fires it when it chooses."""

    def __init__(self) -> None:
        self.waiting: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, delay: float, run: Callable[[], None]) -> None:
        self.waiting.append((delay, run))

    def fire(self) -> float:
        delay, run = self.waiting.pop(0)
        run()
        return delay


@pytest.fixture
def schedule():
    return ManualSchedule()


@pytest.fixture
def jobs(schedule):
    runner = InProcessJobs(workers=1, retry_intervals=(1.0, 5.0, 15.0), schedule=schedule)
    yield runner
    runner.shutdown()


def test_the_pool_thread_is_free_while_a_retry_waits(jobs, schedule):
    flaky = Flaky(failures=1)
    jobs.enqueue(JOB, job_id="flaky", kwargs={"fn": flaky})
    wait_until(lambda: schedule.waiting, "the retry to be scheduled")
    assert jobs.failed["flaky"] == "OSError: failure 1" and jobs.depth() == 1

    # One worker thread, and the retry is waiting: another job still runs at once.
    other = threading.Event()
    jobs.enqueue(JOB, job_id="other", kwargs={"fn": other.set})
    assert other.wait(DEADLINE), "the only pool thread was held by the waiting retry"
    # The same id while its retry waits is the same job: not run again now.
    jobs.enqueue(JOB, job_id="flaky", kwargs={"fn": flaky})
    wait_until(lambda: jobs.depth() == 1, "the other job to finish")
    assert flaky.runs == 1

    assert schedule.fire() == 1.0
    assert flaky.done.wait(DEADLINE)
    wait_until(lambda: jobs.depth() == 0, "the job to be done")
    assert flaky.runs == 2 and "flaky" not in jobs.failed and schedule.waiting == []


def test_retries_follow_the_intervals_then_give_up(jobs, schedule):
    hopeless = Flaky(failures=99)
    jobs.enqueue(JOB, job_id="hopeless", kwargs={"fn": hopeless})
    delays = []
    for attempt in range(1, 4):
        wait_until(lambda: schedule.waiting, f"retry {attempt} to be scheduled")
        delays.append(schedule.fire())
    wait_until(lambda: jobs.depth() == 0, "the job to fail for good")
    assert delays == [1.0, 5.0, 15.0] and hopeless.runs == 4
    assert jobs.failed["hopeless"] == "OSError: failure 4" and schedule.waiting == []


def test_the_default_timer_runs_the_retry():
    jobs = InProcessJobs(workers=1, retry_intervals=(0.01,))
    try:
        flaky = Flaky(failures=1)
        jobs.enqueue(JOB, job_id="soon", kwargs={"fn": flaky})
        assert flaky.done.wait(DEADLINE)
        wait_until(lambda: jobs.depth() == 0, "the job to be done")
        assert flaky.runs == 2
    finally:
        jobs.shutdown()


def retry_timers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "job-retry"]


def test_shutdown_drops_a_waiting_retry_at_once():
    jobs = InProcessJobs(workers=1, retry_intervals=(3600.0,))
    flaky = Flaky(failures=1)
    jobs.enqueue(JOB, job_id="later", kwargs={"fn": flaky})
    wait_until(lambda: jobs.failed, "the first attempt to fail")
    wait_until(lambda: retry_timers(), "the retry's timer")
    [timer] = retry_timers()
    started = time.monotonic()
    jobs.shutdown()
    assert time.monotonic() - started < DEADLINE  # not an hour
    timer.join(DEADLINE)  # a cancelled timer ends without running its job
    assert not timer.is_alive() and flaky.runs == 1 and jobs.depth() == 0
