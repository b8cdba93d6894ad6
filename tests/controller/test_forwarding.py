"""The journal forwarder: every event reaches the stream once, in order, across outages."""

from __future__ import annotations

from auteur.events import Event, Journal
from controller.forwarding import Forwarder


class FlakyPublisher:
    def __init__(self) -> None:
        self.up = True
        self.seen: list[str] = []

    def publish(self, event: Event) -> bool:
        if not self.up:
            return False
        self.seen.append(event.id)
        return True


def test_events_kept_while_redis_is_down_are_published_in_order_when_it_returns(tmp_path):
    journal = Journal(tmp_path)
    publisher = FlakyPublisher()
    forwarder = Forwarder(journal, publisher)
    journal.listeners.append(forwarder._on_event)
    ids = [journal.append("project.created", {"id": f"p{i}"}).id for i in range(3)]
    assert forwarder.flush() and publisher.seen == ids
    publisher.up = False
    ids += [journal.append("project.updated", {"id": f"p{i}"}).id for i in range(3)]
    assert not forwarder.flush()
    publisher.up = True
    ids += [journal.append("project.deleted", {"id": "p0"}).id]
    assert forwarder.flush()
    assert publisher.seen == ids, "nothing lost, nothing twice, in order"


def test_a_restarted_forwarder_resumes_from_its_cursor(tmp_path):
    journal = Journal(tmp_path)
    publisher = FlakyPublisher()
    first = Forwarder(journal, publisher)
    journal.listeners.append(first._on_event)
    early = [journal.append("project.created", {"id": "a"}).id]
    assert first.flush()
    journal.listeners.clear()
    missed = [journal.append("project.updated", {"id": "a"}).id for _ in range(2)]  # while no forwarder ran
    second = Forwarder(journal, publisher)
    assert second.flush()
    assert publisher.seen == early + missed
