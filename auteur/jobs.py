"""The job queue interface, and the in-process runner of the embedded default.

The API enqueues jobs **by name** (``"worker.jobs.ingest"``) so it never imports
``worker``; the runner resolves the name when the job runs. Job ids are
deterministic, so enqueueing the same work twice runs it once. The RQ-backed
queue (``redisbackend.jobs``) implements the same interface, and its worker
service (``redisbackend.worker``, run by ``python -m worker``) is a ``JobWorker``.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

log = logging.getLogger("auteur.jobs")


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


class InProcessJobs:
    """Runs jobs on a small thread pool, retrying failures after the given intervals."""

    def __init__(self, workers: int = 2, retry_intervals: Sequence[float] = (1.0, 5.0, 15.0)) -> None:
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="job")
        self.retry_intervals = tuple(retry_intervals)
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self.failed: dict[str, str] = {}

    def enqueue(self, name: str, *, job_id: str, kwargs: dict[str, Any]) -> str:
        with self._lock:
            if job_id in self._pending:
                return job_id
            self._pending.add(job_id)
        self.pool.submit(self._run, name, job_id, kwargs)
        return job_id

    def _run(self, name: str, job_id: str, kwargs: dict[str, Any]) -> None:
        try:
            for attempt in range(len(self.retry_intervals) + 1):
                try:
                    resolve(name)(**kwargs)
                    self.failed.pop(job_id, None)
                    return
                except Exception as exc:
                    self.failed[job_id] = f"{type(exc).__name__}: {exc}"
                    if attempt == len(self.retry_intervals):
                        log.exception("job %s (%s) failed for good", job_id, name)
                        return
                    log.warning("job %s failed (%s); retrying in %.0fs", job_id, exc, self.retry_intervals[attempt])
                    time.sleep(self.retry_intervals[attempt])
        finally:
            with self._lock:
                self._pending.discard(job_id)

    def worker_alive(self) -> bool:
        return True

    def depth(self) -> int:
        return len(self._pending)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)
