"""The live event WebSocket (placeholder until the events work lands)."""

from __future__ import annotations

import falcon

from api.config import ApiConfig
from api.index import ProjectIndex


class EventsResource:
    def __init__(self, config: ApiConfig, index: ProjectIndex) -> None:
        self.config, self.index = config, index

    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        await ws.close(1011)
