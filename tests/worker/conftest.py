"""Fixtures for the worker's tests: a converged project, and the jobs configured with a queue that records."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_spec

from controller.reconciling import Reconciler
from worker import jobs


class Queue:
    def __init__(self) -> None:
        self.jobs: list[tuple[str, str, dict]] = []

    def enqueue(self, name: str, *, job_id: str, kwargs: dict) -> str:
        self.jobs.append((name, job_id, kwargs))
        return job_id


@pytest.fixture
def root(settings) -> Path:
    write_spec(settings, "film.yaml", "name: film\n")
    assert Reconciler(settings).reconcile("film").kind == "done"
    return settings.workspace / "film"


@pytest.fixture
def configured(settings):
    """``worker.jobs`` configured like the embedded launcher does, with a queue that only records."""
    queue = Queue()
    jobs.configure(settings, queue=queue)
    yield queue
    jobs.reset()
