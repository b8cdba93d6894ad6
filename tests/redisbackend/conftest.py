"""A real redis-server on a free port for each test (``redisserver.RedisServer``)."""

from __future__ import annotations

import pytest
from redisserver import running_redis


@pytest.fixture
def redis_server(tmp_path):
    yield from running_redis(tmp_path)
