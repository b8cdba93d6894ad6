"""Fixtures for the stack tests: a real redis-server per test, and stacks started on it."""

from __future__ import annotations

import pytest
from redisserver import running_redis

from tests.stack.stackrun import StackRun


@pytest.fixture
def redis_server(tmp_path):
    yield from running_redis(tmp_path / "redis")


@pytest.fixture
def make_stack(tmp_path, redis_server):
    """Start stacks on this test's Redis; each is stopped (and must stop cleanly) at the end."""
    started: list[StackRun] = []

    def make(**env: str) -> StackRun:
        run = StackRun(tmp_path, redis_server.url, **env)
        started.append(run)
        return run.start()

    yield make
    for run in started:
        if run.proc is not None and run.proc.poll() is None:
            assert run.stop() == 0, run.text()[-5000:]
