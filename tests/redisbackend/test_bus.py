"""The Redis stream bus (``redisbackend.bus``) and the journal forwarder on it, against a real redis-server."""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import wait_for

from auteur.events import Event, IdMaker, Journal
from controller.forwarding import Forwarder
from redisbackend.bus import STREAM, RedisBus


def event(make: IdMaker, n: int) -> Event:
    return Event(id=make(), type="project.updated", project={"id": f"p{n}"}, at=time.time())


@pytest.mark.anyio
async def test_events_published_by_one_process_reach_subscribers_of_another(redis_server):
    sender, receiver = RedisBus(redis_server.url), RedisBus(redis_server.url)
    sub = receiver.subscribe()
    assert await asyncio.to_thread(receiver.reading.wait, 10), "the reader pinned its starting point"
    make = IdMaker()
    sent = [event(make, n) for n in range(5)]
    for e in sent:
        assert sender.publish(e)
    got = [await asyncio.wait_for(sub.get(), 10) for _ in sent]
    assert [e.id for e in got] == [e.id for e in sent]
    receiver.close()


class Recording:
    """The bus, with every answer its ``publish`` gave."""

    def __init__(self, bus: RedisBus) -> None:
        self.bus = bus
        self.answers: list[tuple[str, bool]] = []

    def publish(self, event: Event) -> bool:
        ok = self.bus.publish(event)
        self.answers.append((event.id, ok))
        return ok


def test_publish_reports_failure_while_redis_is_down_and_the_forwarder_catches_up(redis_server, tmp_path):
    journal = Journal(tmp_path / "state")
    bus = RedisBus(redis_server.url)
    publisher = Recording(bus)
    forwarder = Forwarder(journal, publisher, retry_seconds=0.1)
    forwarder.start()
    first = journal.append("project.created", {"id": "a"})
    wait_for(lambda: forwarder.cursor() == first.id, 10, what="published")
    redis_server.stop()
    during = [journal.append("project.updated", {"id": "a", "n": n}) for n in range(3)]
    # Two refusals of the first event: the forwarder tried, failed, and tried again.
    wait_for(lambda: publisher.answers.count((during[0].id, False)) >= 2, 20, 0.02, what="publishing refused while Redis is down")
    assert forwarder.cursor() == first.id, "nothing is marked published while Redis is down"
    redis_server.start()  # same port, empty: a restarted server without persistence
    wait_for(lambda: forwarder.cursor() == during[-1].id, 20, what="backlog published")
    published = [fields[b"e"] for _id, fields in bus.redis.xrange(STREAM)]
    assert len(published) == 3 and all(e.id.encode() in raw for e, raw in zip(during, published, strict=True))
    forwarder.stop()
