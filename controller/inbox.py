"""The bridge from watcher threads to the event loop: keys in, batched onto the work queue.

Called by ``controller.running``: the watcher's inotify thread calls ``put`` for
every event's key; the first key of a batch schedules one ``_drain`` on the loop,
and every key that arrives before it runs joins that batch, so a burst of a
thousand events costs the loop one call, not a thousand.
"""

from __future__ import annotations

import threading

import anyio.from_thread
import anyio.lowlevel
from anyio.lowlevel import EventLoopToken

from controller.queueing import HIGH, WorkQueue


class Inbox:
    def __init__(self, queue: WorkQueue) -> None:
        self.queue = queue
        self._token: EventLoopToken | None = None
        self._keys: set[str] = set()
        self._lock = threading.Lock()
        self._drain_scheduled = False

    def open(self) -> None:
        """Called on the event loop before any watcher starts: the loop ``put`` hands keys to."""
        self._token = anyio.lowlevel.current_token()

    def put(self, key: str) -> None:
        """From any thread: the key goes on the queue (fresh events first) soon, on the loop."""
        with self._lock:
            self._keys.add(key)
            if self._drain_scheduled:
                return
            self._drain_scheduled = True
        try:
            anyio.from_thread.run_sync(self._drain, token=self._token)
        except RuntimeError:
            pass  # loop gone: shutting down

    def _drain(self) -> None:
        with self._lock:
            keys, self._keys = self._keys, set()
            self._drain_scheduled = False
        for key in keys:
            self.queue.add(key, HIGH)
