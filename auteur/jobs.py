"""The job queue interface, and the in-process runner of the embedded default.

The API enqueues jobs **by name** (``"worker.jobs.ingest"``) so it never imports
``worker``; the runner resolves the name when the job runs. Job ids are
deterministic, so enqueueing the same work twice runs it once. The RQ-backed
queue (``redisbackend.jobs``) implements the same interface, and its worker
service (``redisbackend.worker``, run by ``python -m worker``) is a ``JobWorker``.
A failed job is retried later by a timer, never by a pool thread sleeping.
"""

from __future__ import annotations

import contextvars
import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

log = logging.getLogger("auteur.jobs")

# The ingest job, by name: enqueued by the API for every stored upload and by the
# controller for uploads stored but not ingested yet; ``worker.jobs.ingest`` runs it.
INGEST_JOB = "worker.jobs.ingest"
# Restoring an old version of an asset, by name: enqueued by the API (``api.versions``);
# ``worker.jobs.restore`` copies the old bytes back and ingests them like an upload.
RESTORE_JOB = "worker.jobs.restore"


class JobQueue(Protocol):
    def enqueue(self, name: str, *, job_id: str, kwargs: dict[str, Any]) -> str: ...

    def worker_alive(self) -> bool: ...

    def depth(self) -> int: ...


class JobWorker(Protocol):
    """A process of its own that runs the queue's jobs (Redis mode: ``python -m worker``)."""

    def work(self) -> None: ...

    def health(self) -> tuple[bool, str]:
        """Whether a worker on this host is alive, and a line saying so (the compose health check)."""
        ...


def resolve(name: str) -> Callable[..., Any]:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


Schedule = Callable[[float, Callable[[], None]], None]


class InProcessJobs:
    """Runs jobs on a small thread pool, retrying failures after the given intervals.

    A retry waits on a timer, not in the pool: the pool's threads stay free for other
    jobs meanwhile. ``schedule(delay, run)`` is how a retry is put off; tests inject
    their own to fire it when they choose. The RQ queue declares the same policy with
    ``Retry(max=..., interval=[...])``.
    """

    def __init__(self, workers: int = 2, retry_intervals: Sequence[float] = (1.0, 5.0, 15.0), *,
                 schedule: Schedule | None = None) -> None:  # fmt: skip
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="job")
        self.retry_intervals = tuple(retry_intervals)
        self.schedule = schedule or self._start_timer
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._timers: set[threading.Timer] = set()
        self._closed = False
        self.failed: dict[str, str] = {}

    def enqueue(self, name: str, *, job_id: str, kwargs: dict[str, Any]) -> str:
        with self._lock:
            if job_id in self._pending:
                return job_id
            self._pending.add(job_id)
        # The job runs in the context it was enqueued from (and its retries too): the context
        # variables of the stack that asked (``worker.jobs``'s), even with two stacks in one process.
        self._submit(name, job_id, kwargs, 0, contextvars.copy_context())
        return job_id

    def _submit(self, name: str, job_id: str, kwargs: dict[str, Any], attempt: int, ctx: contextvars.Context) -> None:
        try:
            self.pool.submit(ctx.run, self._run, name, job_id, kwargs, attempt, ctx)
        except RuntimeError:  # shut down: the job is dropped, as a stopped RQ worker would leave it
            self._finish(job_id)
            if attempt == 0:
                raise

    def _run(self, name: str, job_id: str, kwargs: dict[str, Any], attempt: int, ctx: contextvars.Context) -> None:
        retrying = False
        try:
            resolve(name)(**kwargs)
            self.failed.pop(job_id, None)
        except Exception as exc:
            self.failed[job_id] = f"{type(exc).__name__}: {exc}"
            if attempt == len(self.retry_intervals):
                log.exception("job %s (%s) failed for good", job_id, name)
                return
            delay = self.retry_intervals[attempt]
            log.warning("job %s failed (%s); retrying in %.0fs", job_id, exc, delay)
            self.schedule(delay, lambda: self._submit(name, job_id, kwargs, attempt + 1, ctx))
            retrying = True
        finally:
            if not retrying:
                self._finish(job_id)

    def _finish(self, job_id: str) -> None:
        with self._lock:
            self._pending.discard(job_id)

    def _start_timer(self, delay: float, run: Callable[[], None]) -> None:
        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            run()

        timer = threading.Timer(delay, fire)
        timer.name, timer.daemon = "job-retry", True
        with self._lock:
            if self._closed:
                return
            self._timers.add(timer)
        timer.start()

    def worker_alive(self) -> bool:
        return True

    def depth(self) -> int:
        """Jobs queued, running or waiting to be retried."""
        return len(self._pending)

    def shutdown(self) -> None:
        """Let running jobs finish; retries still waiting are dropped (the jobs are
        idempotent, and what a stopped stack left is recovered when it starts again)."""
        with self._lock:
            self._closed = True
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
        self.pool.shutdown(wait=True)
        with self._lock:
            self._pending.clear()  # nothing runs any more: what is left was waiting for a retry
