"""The ``worker`` service: an RQ worker on queue ``default``, and its health check.

Run by ``python -m worker`` (``worker.__main__``). rq's forking worker, tuned so
its liveness can be judged quickly: it renews its registration every
``AUTEUR_WORKER_HEARTBEAT_SECONDS`` whether idle or busy, and registers again when
Redis lost the registration (a restarted server without persistence), so
``/health`` and the controller's abandoned-job check see the truth within a few
beats after a crash, an outage or a restart.
"""

from __future__ import annotations

import os
import socket
import sys
import time

from rq import Worker, worker_registration
from rq.utils import now

from auteur.redisbus import connect
from auteur.rqjobs import beat_age, fresh_seconds
from auteur.settings import Settings

QUEUE = "default"
# Waiting for Redis to come back: retry at least this often (rq's default grows to 60 s).
MAX_RECONNECT_SECONDS = 5.0


class AuteurWorker(Worker):
    """rq's ``Worker`` that keeps itself registered and its scheduler alive.

    With ``AUTEUR_WORKER_BEAT_FILE`` set (the compose file sets it), each heartbeat that
    reached Redis also touches that file, so the container's health check is a file's age
    (``scripts/healthcheck.sh worker``), not a Python start-up and a Redis round trip."""

    max_connection_wait_time = MAX_RECONNECT_SECONDS
    beat_file = os.environ.get("AUTEUR_WORKER_BEAT_FILE")

    def register_birth(self) -> None:
        super().register_birth()  # type: ignore[no-untyped-call]
        self._touch_beat_file()

    def _touch_beat_file(self) -> None:
        if self.beat_file:
            with open(self.beat_file, "ab"):
                os.utime(self.beat_file)

    def heartbeat(self, timeout: int | None = None, pipeline: object = None) -> None:
        super().heartbeat(timeout, pipeline)  # type: ignore[arg-type]
        if pipeline is not None or self.is_horse:
            return
        self._revive_scheduler()
        if not self.connection.hexists(self.key, "birth"):
            # Redis forgot us (restarted empty): a heartbeat alone would leave an
            # anonymous hash that no registry lists.
            self.last_heartbeat = now()
            with self.connection.pipeline() as pipe:
                pipe.hset(self.key, mapping=self.serialize())
                pipe.expire(self.key, self.worker_ttl + 60)
                worker_registration.register(self, pipe)
                pipe.execute()
            self.log.info("Worker %s: registered again (Redis had lost the registration)", self.name)
        self._touch_beat_file()

    def _revive_scheduler(self) -> None:
        """rq's scheduler process exits when Redis goes away, and rq starts it again only
        at its next maintenance, up to 10 minutes later; retries waiting on it (``Retry``
        intervals) would wait as long. Start it again at the next heartbeat instead."""
        scheduler = self.scheduler
        if scheduler is not None and scheduler._process is not None and not scheduler._process.is_alive():
            self.log.info("Worker %s: the scheduler stopped (Redis went away?); starting it again", self.name)
            scheduler.acquire_locks(auto_start=True)


def make_worker(settings: Settings) -> AuteurWorker:
    assert settings.redis_url
    beat = settings.worker_heartbeat_seconds
    # rq heartbeats after each blocking dequeue of ``worker_ttl - 15`` seconds while
    # idle, and every ``job_monitoring_interval`` while a job runs.
    return AuteurWorker([QUEUE], connection=connect(settings.redis_url), worker_ttl=beat + 15, job_monitoring_interval=beat)


def health(settings: Settings) -> int:
    """0 while a worker on this host is registered with a fresh heartbeat."""
    assert settings.redis_url
    host = socket.gethostname()
    try:
        workers = Worker.all(connection=connect(settings.redis_url))
    except Exception as exc:
        print(f"worker: Redis unreachable: {exc}", file=sys.stderr)
        return 1
    fresh, current = fresh_seconds(settings.worker_heartbeat_seconds), time.time()
    for worker in workers:
        age = beat_age(worker, current)
        if worker.hostname == host and age is not None and age < fresh:
            print(f"worker: {worker.name} running (heartbeat {age:.1f}s ago)")
            return 0
    print("worker: no live worker on this host", file=sys.stderr)
    return 1
