"""The RQ-backed job queue (queue ``default``), used when ``REDIS_URL`` is set.

Called by the API (uploads) and the controller (re-enqueueing staged work). Jobs go
by name, with deterministic ids: enqueueing work that is queued or running already
does nothing, so enqueueing is idempotent; failures retry as declared.

A job left ``started`` by a worker that died (``kill -9``, a lost machine) would
block its id until rq's own maintenance notices, minutes later. ``enqueue`` treats
such a job as abandoned as soon as its worker's heartbeat is stale, so the
controller's periodic re-enqueue of unfinished uploads brings it back quickly; the
job itself is idempotent, so a slow worker that was not dead after all does no harm.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from rq import Queue, Retry, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.worker import BaseWorker

from auteur.redisbus import connect

log = logging.getLogger("auteur.rqjobs")

RETRY = Retry(max=3, interval=[2, 10, 30])
DEFAULT_HEARTBEAT_SECONDS = 10
_ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


def fresh_seconds(heartbeat_seconds: float) -> float:
    """How old a worker's last heartbeat may be while it still counts as alive:
    three missed beats, and a few seconds for a busy machine."""
    return 3 * heartbeat_seconds + 5


def beat_age(worker: BaseWorker, now: float) -> float | None:
    beat = worker.last_heartbeat
    return None if beat is None else now - beat.timestamp()


class RQJobs:
    def __init__(self, url: str, queue: str = "default", *, heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS) -> None:
        self.redis = connect(url)
        self.queue = Queue(queue, connection=self.redis)
        self.fresh = fresh_seconds(heartbeat_seconds)

    def enqueue(self, name: str, *, job_id: str, kwargs: dict[str, Any]) -> str:
        try:
            job = Job.fetch(job_id, connection=self.redis)
            status = job.get_status(refresh=False)
            if status in _ACTIVE and not (status == JobStatus.STARTED and self._abandoned(job)):
                return job_id
            job.delete()  # finished, failed or abandoned: the caller wants it run again
        except NoSuchJobError:
            pass
        self.queue.enqueue(name, kwargs=kwargs, job_id=job_id, retry=RETRY, job_timeout=3600, result_ttl=3600, failure_ttl=7 * 86400)
        return job_id

    def _abandoned(self, job: Job) -> bool:
        """The job's worker is gone, or has not sent a heartbeat for too long."""
        if not job.worker_name:
            return False
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + job.worker_name, connection=self.redis)
        age = beat_age(worker, time.time()) if worker is not None else None
        if worker is not None and (age is None or age < self.fresh):
            return False
        log.warning("job %s was started by worker %s, which is gone: enqueueing it again", job.id, job.worker_name)
        return True

    def worker_alive(self) -> bool:
        try:
            workers = Worker.all(connection=self.redis)
        except redis.RedisError:
            return False
        now = time.time()
        return any((age := beat_age(worker, now)) is not None and age < self.fresh for worker in workers)

    def depth(self) -> int:
        try:
            return len(self.queue)
        except redis.RedisError:
            return 0
