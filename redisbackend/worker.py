"""The ``worker`` service: an RQ worker on queue ``default``, and its health check.

``RQWorkerService`` is ``auteur.jobs.JobWorker`` for Redis mode: built by
``redisbackend.backends_for``, run by ``python -m worker`` (``worker.__main__``).
rq's forking worker, tuned so
its liveness can be judged quickly: it renews its registration every
``AUTEUR_WORKER_HEARTBEAT_SECONDS`` whether idle or busy, and registers again when
Redis lost the registration (a restarted server without persistence), so
``/health`` and the controller's abandoned-job check see the truth within a few
beats after a crash, an outage or a restart.
"""

from __future__ import annotations

import logging
import os
import socket
import time

import redis
from rq import Worker, worker_registration
from rq.utils import now

from auteur.heartbeat import touch, worker_max_age
from redisbackend.connection import connect
from redisbackend.jobs import QUEUE, heartbeat_of

# Waiting for Redis to come back: retry at least this often (rq's default grows to 60 s).
log = logging.getLogger("auteur.worker")

MAX_RECONNECT_SECONDS = 5.0
# How long a starting worker waits for Redis to answer before it exits.
REDIS_WAIT_SECONDS = 60.0


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
            touch(self.beat_file)

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


class RQWorkerService:
    """The worker process of Redis mode, and the health check of the one on this host."""

    def __init__(self, url: str, *, heartbeat_seconds: int) -> None:
        self.url, self.heartbeat_seconds = url, heartbeat_seconds

    def work(self) -> None:
        """Run jobs until SIGTERM; rq's scheduler (in the same process group) runs the retries.
        A worker started before Redis answers waits for it (up to ``REDIS_WAIT_SECONDS``),
        so the services of a stack may start in any order; then it exits 1 for its
        restart policy."""
        if not self.wait_for_redis():
            raise SystemExit(f"Redis did not answer within {REDIS_WAIT_SECONDS:.0f} s; exiting (the stack restarts the worker)")
        self.make_worker().work(with_scheduler=True)

    def wait_for_redis(self, timeout: float = REDIS_WAIT_SECONDS) -> bool:
        """True once Redis answers a PING; False if it did not within ``timeout`` seconds."""
        deadline, said, client = time.monotonic() + timeout, False, connect(self.url)
        while True:
            try:
                client.ping()
                return True
            except redis.exceptions.ConnectionError as exc:
                if not said:
                    log.info("waiting for Redis to answer (%s)", exc)
                    said = True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.2)

    def make_worker(self) -> AuteurWorker:
        beat = self.heartbeat_seconds
        # rq heartbeats after each blocking dequeue of ``worker_ttl - 15`` seconds while
        # idle, and every ``job_monitoring_interval`` while a job runs.
        return AuteurWorker([QUEUE], connection=connect(self.url), worker_ttl=beat + 15, job_monitoring_interval=beat)

    def health(self) -> tuple[bool, str]:
        """Whether a worker on this host is registered with a fresh heartbeat."""
        host = socket.gethostname()
        try:
            workers = Worker.all(connection=connect(self.url))
        except Exception as exc:
            return False, f"worker: Redis unreachable: {exc}"
        max_age, current = worker_max_age(self.heartbeat_seconds), time.time()
        for worker in workers:
            beat = heartbeat_of(worker)
            if worker.hostname == host and beat is not None and beat.is_fresh(current, max_age):
                return True, f"worker: {worker.name} running (heartbeat {beat.age(current):.1f}s ago)"
        return False, "worker: no live worker on this host"
