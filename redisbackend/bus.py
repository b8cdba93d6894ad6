"""The Redis-backed event bus: a capped Redis stream shared by every process.

Implements ``auteur.bus.EventBus`` and ``EventStream``; built by
``redisbackend.backends_for`` when ``REDIS_URL`` is set. Publishers (the
controller's journal forwarder, API replicas, workers) ``XADD`` to one stream; each
process runs one reader thread that ``XREAD``s it and fans events out to its local
subscribers (the WebSockets). While Redis is away, ``publish`` reports failure (the
controller keeps its journal and catches up later) and the reader retries with
backoff, resuming after the last id it saw.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import msgspec
import redis

from auteur.bus import LocalBus, Subscription
from auteur.events import Event
from redisbackend.connection import connect

log = logging.getLogger("auteur.redisbackend.bus")

STREAM = "auteur:events"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


class RedisBus:
    def __init__(self, url: str, *, maxlen: int = 10_000) -> None:
        self.url = url
        self.redis = connect(url)
        self.maxlen = maxlen
        self.local = LocalBus()
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        # Set once the reader knows where it starts: what is published after that reaches subscribers.
        self.reading = threading.Event()
        self.connected = False

    def publish(self, event: Event) -> bool:
        """Add the event to the stream; False (and logged) while Redis is unreachable."""
        try:
            self.redis.xadd(STREAM, {"e": _encoder.encode(event)}, maxlen=self.maxlen, approximate=True)
            return True
        except redis.RedisError as exc:
            log.warning("event %s not published: %s", event.id, exc)
            return False

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    def subscribe(self) -> Subscription:
        self._ensure_reader()
        return self.local.subscribe()

    def _ensure_reader(self) -> None:
        with self._lock:
            if self._reader is None:
                self._reader = threading.Thread(target=self._read_loop, name="redis-events", daemon=True)
                self._reader.start()

    def _read_loop(self) -> None:
        reader = connect(self.url)
        last: Any = "$"
        delay = 0.2
        while not self._closed.is_set():
            try:
                if last == "$":  # pin "now" to a concrete id, so a reconnect resumes from it
                    info = reader.xinfo_stream(STREAM) if reader.exists(STREAM) else None
                    last = info["last-generated-id"] if info else "0-0"
                    self.reading.set()
                replies: Any = reader.xread({STREAM: last}, block=1000, count=500)
                self.connected, delay = True, 0.2
                for _stream, entries in replies or ():
                    for entry_id, fields in entries:
                        last = entry_id
                        try:
                            self.local.publish(_decoder.decode(fields[b"e"]))
                        except (KeyError, msgspec.DecodeError, msgspec.ValidationError):
                            continue
            except redis.RedisError as exc:
                if self.connected:
                    log.warning("lost the Redis event stream (%s); retrying", exc)
                self.connected = False
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def close(self) -> None:
        self._closed.set()
