"""The event bus interfaces, and the in-process bus of the embedded default.

Publishers (the controller's journal listener, the API's upload handler, workers)
call ``publish`` from any thread; each WebSocket subscribes and awaits events.
The Redis-backed bus (``redisbackend.bus``) implements the same interface, and
``EventStream`` too: the controller forwards its journal to it (``controller.forwarding``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Protocol

from auteur.events import Event


class EventBus(Protocol):
    def publish(self, event: Event) -> object: ...

    def subscribe(self) -> Subscription: ...


class EventStream(Protocol):
    """A stream shared by every process that can be away: ``publish`` says whether the event got there."""

    def publish(self, event: Event) -> bool: ...


class Subscription:
    """Events for one subscriber, in order; a slow subscriber is cut off (it reconnects with ``since``)."""

    def __init__(self, bus: LocalBus, loop: asyncio.AbstractEventLoop, limit: int = 10_000) -> None:
        self.bus, self.loop = bus, loop
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(limit)
        self.overflowed = False

    def _offer(self, event: Event | None) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def close(self) -> None:
        self.bus._drop(self)

    async def get(self) -> Event | None:
        return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Event]:
        while True:
            event = await self.queue.get()
            if event is None:
                return
            yield event


class LocalBus:
    """Fan-out to subscribers in this process; ``publish`` is thread-safe."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()

    def subscribe(self) -> Subscription:
        sub = Subscription(self, asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
        return sub

    def _drop(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def publish(self, event: Event) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub._offer, event)
            except RuntimeError:
                self._drop(sub)  # its loop is closed
