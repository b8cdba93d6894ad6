"""The Redis and RQ implementations of the shared model's interfaces, and the one place the mode is chosen.

``backends_for(settings)`` is called by each service's entry point (``auteur run`` in
``controller.cli``, ``python -m api`` through ``api.config``, ``python -m worker``):
with ``REDIS_URL`` it returns the Redis stream bus (``redisbackend.bus``), the RQ job
queue (``redisbackend.jobs``), the Redis view of uploads (``redisbackend.uploadviews``),
the RQ worker service (``redisbackend.worker``) and the controller's lease
(``redisbackend.lease``); without it, the embedded parts
(``auteur.backends.Backends.embedded``). Nothing outside this package imports ``redis``
or ``rq``; import-linter's contracts in ``pyproject.toml`` keep it that way.
"""

from __future__ import annotations

import functools

from auteur.backends import Backends
from auteur.settings import Settings
from redisbackend.bus import RedisBus
from redisbackend.jobs import RQJobs
from redisbackend.lease import RedisLease
from redisbackend.uploadviews import RedisUploadView
from redisbackend.worker import RQWorkerService


def backends_for(settings: Settings) -> Backends:
    """Redis mode when ``settings.redis_url`` is set, else the embedded default."""
    url = settings.redis_url
    if not url:
        return Backends.embedded()
    bus = RedisBus(url)
    jobs = RQJobs(url, heartbeat_seconds=settings.worker_heartbeat_seconds)
    return Backends(
        bus=bus,
        jobs=jobs,
        uploads=RedisUploadView(bus.redis),
        ping=bus.ping,
        stream=bus,
        requeue=jobs,
        worker=RQWorkerService(url, heartbeat_seconds=settings.worker_heartbeat_seconds),
        lease=functools.partial(
            RedisLease,
            url,
            duration=settings.lease_seconds,
            renew_deadline=settings.lease_renew_deadline_seconds,
            retry=settings.lease_retry_seconds,
        ),
    )
