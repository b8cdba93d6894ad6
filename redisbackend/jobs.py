"""The RQ-backed job queue (queue ``default``), used when ``REDIS_URL`` is set.

Implements ``auteur.jobs.JobQueue``; built by ``redisbackend.backends_for``.
Called by the API (uploads), workers (posters) and the controller (re-enqueueing
staged work). Jobs go
by name, with deterministic ids: enqueueing work that is queued or running already
does nothing, so enqueueing is idempotent; failures retry as declared.

A job left ``started`` by a worker that died (``kill -9``, a lost machine) would
block its id until rq's own maintenance notices, minutes later. ``enqueue`` treats
such a job as abandoned as soon as its worker's heartbeat is stale, so the
controller's periodic re-enqueue of unfinished uploads brings it back quickly; the
job itself is idempotent, so a slow worker that was not dead after all does no harm.

A network partition loses jobs another way: a worker whose blocking pop took the job
off the queue just as its connection broke never runs it, and the job stays ``queued``
(in no queue) or ``started`` by a worker that is alive and busy with something else.
``enqueue`` counts such a job as lost too, after looking twice a moment apart (the pop
and the status change are two steps), and runs it again.
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

from auteur.heartbeat import Heartbeat, worker_max_age
from redisbackend.connection import connect

log = logging.getLogger("auteur.redisbackend.jobs")

QUEUE = "default"
RETRY = Retry(max=3, interval=[2, 10, 30])
DEFAULT_HEARTBEAT_SECONDS = 10
_ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


def heartbeat_of(worker: BaseWorker) -> Heartbeat | None:
    """The worker's last beat as rq registered it; None before its first."""
    beat = worker.last_heartbeat
    return None if beat is None else Heartbeat(at=beat.timestamp(), pid=worker.pid)


class RQJobs:
    def __init__(self, url: str, queue: str = QUEUE, *, heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS) -> None:
        self.redis = connect(url)
        self.queue = Queue(queue, connection=self.redis)
        self.max_age = worker_max_age(heartbeat_seconds)

    def enqueue(self, name: str, *, job_id: str, kwargs: dict[str, Any]) -> str:
        try:
            job = Job.fetch(job_id, connection=self.redis)
            status = job.get_status(refresh=False)
            if status in _ACTIVE and not self._lost(job):
                return job_id
            job.delete()  # finished, failed or abandoned: the caller wants it run again
        except NoSuchJobError:
            pass
        self.queue.enqueue(name, kwargs=kwargs, job_id=job_id, retry=RETRY, job_timeout=3600, result_ttl=3600, failure_ttl=7 * 86400)
        return job_id

    def _lost(self, job: Job) -> bool:
        """The job will never run where it stands: looked at twice, 0.5 s apart."""
        if self._why_lost(job) is None:
            return False
        time.sleep(0.5)
        job.refresh()  # type: ignore[no-untyped-call]
        why = self._why_lost(job)
        if why is not None:
            log.warning("job %s %s: enqueueing it again", job.id, why)
        return why is not None

    def _why_lost(self, job: Job) -> str | None:
        status = job.get_status(refresh=False)
        if status == JobStatus.QUEUED:
            return None if self.redis.lpos(self.queue.key, job.id) is not None else "is queued but in no queue"
        if status != JobStatus.STARTED or not job.worker_name:
            return None
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + job.worker_name, connection=self.redis)
        beat = heartbeat_of(worker) if worker is not None else None
        if worker is None or (beat is not None and not beat.is_fresh(time.time(), self.max_age)):
            return f"was started by worker {job.worker_name}, which is gone"
        if worker.get_current_job_id() != job.id:
            return f"was started by worker {job.worker_name}, which is busy with something else"
        return None

    def worker_alive(self) -> bool:
        try:
            workers = Worker.all(connection=self.redis)
        except redis.RedisError:
            return False
        now = time.time()
        return any((beat := heartbeat_of(worker)) is not None and beat.is_fresh(now, self.max_age) for worker in workers)

    def depth(self) -> int:
        try:
            return len(self.queue)
        except redis.RedisError:
            return 0
