"""The RQ job queue (``redisbackend.jobs``) against a real redis-server: idempotent by id, and lost jobs found again."""

from __future__ import annotations

from rq import Queue
from rq.job import Job, JobStatus

from redisbackend.connection import connect
from redisbackend.jobs import RQJobs


def test_jobs_enqueue_idempotently_by_name(redis_server):
    jobs = RQJobs(redis_server.url)
    assert jobs.enqueue("worker.jobs.ingest", job_id="ingest-x", kwargs={"upload_id": "x"}) == "ingest-x"
    jobs.enqueue("worker.jobs.ingest", job_id="ingest-x", kwargs={"upload_id": "x"})
    assert jobs.depth() == 1
    assert not jobs.worker_alive(), "no worker registered yet"


def test_a_job_lost_in_a_partition_is_enqueued_again(redis_server):
    """A worker's pop took the job off the queue as its connection broke: the job says
    ``queued`` but sits in no queue. Enqueueing it again must put it back, once."""
    jobs = RQJobs(redis_server.url)
    jobs.enqueue("worker.jobs.ingest", job_id="ingest-lost", kwargs={"upload_id": "lost"})
    assert jobs.redis.lpop(jobs.queue.key) == b"ingest-lost"  # what the worker's BLPOP did
    assert jobs.depth() == 0
    jobs.enqueue("worker.jobs.ingest", job_id="ingest-lost", kwargs={"upload_id": "lost"})
    assert jobs.queue.job_ids == ["ingest-lost"]
    jobs.enqueue("worker.jobs.ingest", job_id="ingest-lost", kwargs={"upload_id": "lost"})
    assert jobs.queue.job_ids == ["ingest-lost"], "a job still queued is left alone"


def test_a_job_started_by_a_dead_worker_is_enqueued_again(redis_server):
    jobs = RQJobs(redis_server.url, heartbeat_seconds=1)
    jobs.enqueue("worker.jobs.ingest", job_id="ingest-y", kwargs={"upload_id": "y"})
    queue = Queue("default", connection=connect(redis_server.url))
    job = Job.fetch(queue.pop_job_id(), connection=queue.connection)  # a worker took it...
    job.worker_name = "gone-for-good"
    job.set_status(JobStatus.STARTED)
    job.save()
    assert jobs.depth() == 0
    jobs.enqueue("worker.jobs.ingest", job_id="ingest-y", kwargs={"upload_id": "y"})  # ...and died
    assert jobs.depth() == 1 and Job.fetch("ingest-y", connection=queue.connection).get_status() == JobStatus.QUEUED
