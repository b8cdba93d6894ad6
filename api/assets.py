"""Asset listing, uploads and downloads (placeholder until the uploads work lands)."""

from __future__ import annotations

import falcon

from api.config import ApiConfig
from api.index import ProjectIndex


class AssetsResource:
    def __init__(self, config: ApiConfig, index: ProjectIndex) -> None:
        self.config, self.index = config, index

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        raise falcon.HTTPNotImplemented()


class AssetFileResource(AssetsResource):
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str, path: str) -> None:  # type: ignore[override]
        raise falcon.HTTPNotImplemented()
