"""Forwards the controller's event journal to the Redis stream, nothing lost.

Started by ``controller.running`` when it is given a stream (Redis mode:
``redisbackend.bus.RedisBus``). The journal on the volume is the record; a cursor
file remembers the last event published. New events wake the forwarder; while Redis
is down they wait in the journal and are published, in order, as soon as it returns
(level-triggered: the cursor, not the wake-up, says what is left).
"""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path

from auteur.atomic import write_atomic
from auteur.bus import EventStream
from auteur.events import Event, Journal, id_key

log = logging.getLogger("auteur.forwarding")

CURSOR = "published"


class Forwarder:
    def __init__(self, journal: Journal, publisher: EventStream, retry_seconds: float = 1.0) -> None:
        self.journal, self.publisher = journal, publisher
        self.retry_seconds = retry_seconds
        self.cursor_path: Path = journal.root / CURSOR
        self._fresh: collections.deque[Event] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="event-forwarder", daemon=True)
        self._cursor: str | None = None
        self._catch_up = True  # at start, publish what an earlier run could not
        self.published = 0
        self.backlog = 0

    def start(self) -> None:
        self.journal.listeners.append(self._on_event)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)

    def _on_event(self, event: Event) -> None:
        self._fresh.append(event)
        self._wake.set()

    def cursor(self) -> str:
        if self._cursor is None:
            try:
                self._cursor = self.cursor_path.read_text().strip() or "0-0"
            except FileNotFoundError:
                self._cursor = "0-0"
        return self._cursor

    def _publish(self, events: list[Event], cursor: str) -> bool:
        key = id_key(cursor)
        sent = None
        try:
            for event in events:
                if id_key(event.id) <= key:
                    continue
                if not self.publisher.publish(event):
                    return False
                sent = event.id
                self.published += 1
        finally:
            if sent is not None:
                self._cursor = sent
                write_atomic(self.cursor_path, sent.encode(), durable=False)
        return True

    def flush(self) -> bool:
        """Publish everything after the cursor; False if Redis refused (try again later)."""
        if self._catch_up:
            fresh_before = len(self._fresh)
            _complete, events = self.journal.since(self.cursor())
            self.backlog = len(events)
            if not self._publish(events, self.cursor()):
                return False
            for _ in range(fresh_before):
                self._fresh.popleft()  # they were in the journal already
            self._catch_up = False
        while self._fresh:
            event = self._fresh[0]
            if not self._publish([event], self.cursor()):
                self._catch_up = True  # from now on the journal is the source again
                self._fresh.clear()
                return False
            self._fresh.popleft()
        self.backlog = 0
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            ok = self.flush()
            if not ok:
                log.info("Redis unavailable: event(s) kept in the journal for later")
            self._wake.wait(self.retry_seconds if not ok else 5.0)
        self.flush()
