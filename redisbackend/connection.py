"""One way to open a Redis client, for every part of ``redisbackend``.

Short timeouts: a Redis that is away must make a publish, an enqueue or a health
probe fail within seconds (and be retried by its caller), never hang a request.
"""

from __future__ import annotations

import redis


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=10)
