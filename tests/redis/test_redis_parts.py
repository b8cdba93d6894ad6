"""The Redis-backed bus, job queue and journal forwarder against a real redis-server."""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import wait_for

from auteur.events import Event, IdMaker, Journal
from auteur.redisbus import RedisBus
from auteur.rqjobs import RQJobs
from controller.forwarding import Forwarder


def event(make: IdMaker, n: int) -> Event:
    return Event(id=make(), type="project.updated", project={"id": f"p{n}"}, at=time.time())


@pytest.mark.anyio
async def test_events_published_by_one_process_reach_subscribers_of_another(redis_server):
    sender, receiver = RedisBus(redis_server.url), RedisBus(redis_server.url)
    sub = receiver.subscribe()
    await asyncio.sleep(0.3)  # the reader pins its starting point
    make = IdMaker()
    sent = [event(make, n) for n in range(5)]
    for e in sent:
        assert sender.publish(e)
    got = [await asyncio.wait_for(sub.get(), 10) for _ in sent]
    assert [e.id for e in got] == [e.id for e in sent]
    receiver.close()


def test_publish_reports_failure_while_redis_is_down_and_the_forwarder_catches_up(redis_server, tmp_path):
    journal = Journal(tmp_path / "state")
    bus = RedisBus(redis_server.url)
    forwarder = Forwarder(journal, bus, retry_seconds=0.1)
    forwarder.start()
    first = journal.append("project.created", {"id": "a"})
    wait_for(lambda: forwarder.cursor() == first.id, 10, what="published")
    redis_server.stop()
    during = [journal.append("project.updated", {"id": "a", "n": n}) for n in range(3)]
    time.sleep(0.5)
    assert forwarder.cursor() == first.id, "nothing is marked published while Redis is down"
    redis_server.start()  # same port, empty: a restarted server without persistence
    wait_for(lambda: forwarder.cursor() == during[-1].id, 20, what="backlog published")
    entries = bus.redis.xrange("auteur:events")
    published = [e[1][b"e"] for e in entries]
    assert len(published) == 3 and all(e.id.encode() in raw for e, raw in zip(during, published, strict=True))
    forwarder.stop()


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
