"""The live event WebSocket ``/api/v1/events``: replay from the journal, then push.

Routed by ``api.app.create_app``; browsers (the gallery) and tools connect. The
API only forwards what the controller journaled and the bus carries; it never
computes a status. With ``?since=<id>`` the client gets every journaled event
after that id and then live ones, with no gap and no duplicate: the responder
subscribes to the bus *first*, then reads the journal, then drops live events
already replayed (and status changes up to ``since``). An id older than the journal keeps (or malformed) gets a
``resync`` event first, meaning "reload your list", and the stream goes on live.
A client too slow for its subscription gets a ``resync`` and a new subscription.

Every frame is a JSON :class:`auteur.events.Event`. ``keepalive`` frames (every
``ApiConfig.events_keepalive`` seconds) carry an empty id; ``resync`` carries the
journal's last id. A client resumes with the last non-empty id it saw.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import falcon
import falcon.asgi
import msgspec

from api.config import ApiConfig
from api.metrics import ApiMetrics
from auteur.bus import Subscription
from auteur.events import Event, Journal, id_key

if TYPE_CHECKING:  # only its type: the index module is not needed at run time
    from api.index import ProjectIndex

log = logging.getLogger("auteur.api.events")

RESYNC = "resync"
KEEPALIVE = "keepalive"

_encode = msgspec.json.Encoder().encode


class _Disconnected(Exception):
    """The client went away (or stopped listening)."""


@dataclass
class _Covered:
    """Live events the client already has: the ones just replayed, and status changes up to a cursor.

    Only ``project.*`` events are compared with the cursor: they are what the journal
    (replay) and the project list (resync) hold. Other events (upload progress, from
    other id makers) can never be duplicates of a replay and always go through.
    """

    upto: tuple[int, int] = (0, 0)
    ids: set[str] = field(default_factory=set)

    def __contains__(self, event: Event) -> bool:
        if event.id in self.ids:
            return True
        if not event.type.startswith("project."):
            return False
        try:
            return id_key(event.id) <= self.upto
        except ValueError:
            return False


class EventsResource:
    """One WebSocket per client; the journal is opened lazily and only read (``since``)."""

    def __init__(self, config: ApiConfig, index: ProjectIndex, metrics: ApiMetrics) -> None:
        self.config, self.index, self.metrics = config, index, metrics
        self._journal: Journal | None = None

    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        since = req.get_param("since")
        await ws.accept()
        self.metrics.client_connected(1)
        # Reading from the client is how a disconnect is noticed while we wait for events.
        listener = asyncio.ensure_future(_drain_incoming(ws))
        sub = self.config.bus.subscribe()
        try:
            last = await self._replay(ws, since)
            await self._stream(ws, sub, last, listener)
        except (falcon.WebSocketDisconnected, _Disconnected):
            pass
        finally:
            sub.close()
            listener.cancel()
            self.metrics.client_connected(-1)

    # -- replay ---------------------------------------------------------------

    async def _replay(self, ws: falcon.asgi.WebSocket, since: str | None) -> _Covered:
        """Send what the journal holds after ``since``; returns what live events need not repeat."""
        if since is None:
            return _Covered()
        try:
            covered = _Covered(upto=id_key(since))
        except ValueError:
            return await self._resync(ws, "malformed since")
        complete, events = await anyio.to_thread.run_sync(self._since, since)
        if not complete:
            return await self._resync(ws, "since is older than the journal keeps")
        for event in events:
            await self._send(ws, event)
            covered.ids.add(event.id)
        return covered

    def _since(self, since: str) -> tuple[bool, list[Event]]:
        if self._journal is None:
            self._journal = Journal(self.config.settings.state, clock=self.config.clock)
        return self._journal.since(since)

    def _last_id(self) -> str | None:
        if self._journal is None:
            self._journal = Journal(self.config.settings.state, clock=self.config.clock)
        return self._journal.last_id()

    async def _resync(self, ws: falcon.asgi.WebSocket, reason: str) -> _Covered:
        """Tell the client to reload its list; status changes journaled before now are in it."""
        try:
            last = await anyio.to_thread.run_sync(self._last_id)
        except OSError:
            last = None
        event = Event(id=last or "0-0", type=RESYNC, at=self.config.clock(), data={"reason": reason})
        self.metrics.resyncs.labels(reason=reason).inc()
        log.info("events: resync for a client (%s)", reason)
        await self._send(ws, event)
        return _Covered(upto=id_key(event.id))

    # -- live -----------------------------------------------------------------

    async def _stream(self, ws: falcon.asgi.WebSocket, sub: Subscription, covered: _Covered, listener: asyncio.Future[None]) -> None:
        keepalive = self.config.events_keepalive
        getter: asyncio.Future[Event | None] | None = None
        try:
            while True:
                if sub.overflowed:
                    # The bus cut this subscription off: its backlog has a hole after it.
                    if getter is not None:
                        getter.cancel()
                        getter = None
                    sub = self.config.bus.subscribe()
                    covered = await self._resync(ws, "slow consumer")
                    continue
                if getter is None:
                    getter = asyncio.ensure_future(sub.get())
                waiting: set[asyncio.Future[Any]] = {getter, listener}
                done, _ = await asyncio.wait(waiting, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED)
                if listener in done:
                    raise _Disconnected
                if getter not in done:
                    await self._send(ws, Event(id="", type=KEEPALIVE, at=self.config.clock()))
                    continue
                event, getter = getter.result(), None
                if event is None:
                    return  # the bus is shutting down
                if sub.overflowed or event in covered:
                    continue
                await self._send(ws, event)
        finally:
            if getter is not None:
                getter.cancel()
            sub.close()

    async def _send(self, ws: falcon.asgi.WebSocket, event: Event) -> None:
        await ws.send_text(_encode(event).decode())
        if event.type != KEEPALIVE:
            self.metrics.events_sent.labels(type=event.type).inc()


async def _drain_incoming(ws: falcon.asgi.WebSocket) -> None:
    """Read (and ignore) what the client sends, returning when it disconnects."""
    while True:
        try:
            await ws.receive_text()
        except falcon.errors.PayloadTypeError:
            continue  # a binary frame: ignored like any other client message
        except falcon.WebSocketDisconnected:
            return
