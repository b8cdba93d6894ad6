"""The RQ-backed job queue (queue ``default``), used when ``REDIS_URL`` is set.

Called by the API (uploads) and the controller (re-enqueueing staged work). Jobs go
by name, with deterministic ids: enqueueing work that is queued or running already
does nothing, so enqueueing is idempotent; failures retry as declared.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from rq import Queue, Retry, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from auteur.redisbus import connect

RETRY = Retry(max=3, interval=[2, 10, 30])
WORKER_FRESH_SECONDS = 60.0
_ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


class RQJobs:
    def __init__(self, url: str, queue: str = "default") -> None:
        self.redis = connect(url)
        self.queue = Queue(queue, connection=self.redis)

    def enqueue(self, name: str, *, job_id: str, kwargs: dict[str, Any]) -> str:
        try:
            job = Job.fetch(job_id, connection=self.redis)
            if job.get_status(refresh=False) in _ACTIVE:
                return job_id
            job.delete()  # finished or failed: the caller wants it run again
        except NoSuchJobError:
            pass
        self.queue.enqueue(name, kwargs=kwargs, job_id=job_id, retry=RETRY, job_timeout=3600, result_ttl=3600, failure_ttl=7 * 86400)
        return job_id

    def worker_alive(self) -> bool:
        try:
            workers = Worker.all(connection=self.redis)
        except redis.RedisError:
            return False
        now = time.time()
        for worker in workers:
            beat = worker.last_heartbeat
            if beat is not None and now - beat.timestamp() < WORKER_FRESH_SECONDS:
                return True
        return False

    def depth(self) -> int:
        try:
            return len(self.queue)
        except redis.RedisError:
            return 0
