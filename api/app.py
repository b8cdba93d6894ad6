"""``create_app(config)``: the Falcon ASGI application with every route declared here.

Called by ``api.asgi`` (uvicorn), the embedded launcher and the tests.
"""

from __future__ import annotations

import falcon
import falcon.asgi
from prometheus_client import CollectorRegistry

from api.assets import AssetFileResource, AssetsResource
from api.config import ApiConfig
from api.errors import install_error_handlers
from api.events import EventsResource
from api.health import HealthResource, LiveResource, MetricsResource
from api.index import ProjectIndex
from api.metrics import ApiMetrics, ProjectCounts, RequestMetrics
from api.openapi import OpenApiResource
from api.posters import PosterResource
from api.projects import GitStatusResource, ProjectsResource
from api.trash import TrashResource
from api.uploads import UploadMetrics


def create_app(config: ApiConfig | None = None, *,
               registry: CollectorRegistry | None = None) -> falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response]:  # fmt: skip
    """The app; its metrics go on ``registry`` (the launcher's, holding the controller's
    too), else on a registry of its own."""
    config = config or ApiConfig.from_environment()
    app = falcon.asgi.App(cors_enable=False, middleware=[_Cors(config.origins())])
    install_error_handlers(app)
    index = ProjectIndex(config)
    registry = registry if registry is not None else CollectorRegistry()
    metrics = ApiMetrics(registry)
    uploads = UploadMetrics(registry)
    registry.register(ProjectCounts(index))
    app.add_route("/api/v1/projects", ProjectsResource(config, index))
    app.add_route("/api/v1/projects/{project_id}", ProjectsResource(config, index), suffix="item")
    app.add_route("/api/v1/projects/{project_id}/git/status", GitStatusResource(config, index))
    app.add_route("/api/v1/projects/{project_id}/assets", AssetsResource(config, index, uploads))
    app.add_route("/api/v1/projects/{project_id}/assets/{path:path}", AssetFileResource(config, index))
    app.add_route("/api/v1/projects/{project_id}/posters/{path:path}", PosterResource(config, index))
    app.add_route("/api/v1/trash", TrashResource(config, index))
    app.add_route("/api/v1/trash/{entry}", TrashResource(config, index), suffix="item")
    app.add_route("/api/v1/trash/{entry}/restore", TrashResource(config, index), suffix="restore")
    app.add_route("/api/v1/events", EventsResource(config, index, metrics))
    app.add_route("/health", HealthResource(config, index))
    app.add_route("/health/live", LiveResource())
    app.add_route("/metrics", MetricsResource(registry))
    app.add_route("/openapi.json", OpenApiResource(config))
    app.add_middleware(_Startup(index))
    app.add_middleware(RequestMetrics(metrics))
    return app


class _Cors:
    """CORS for the gallery's origin only (never ``*``)."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        self.origins = frozenset(origins)

    async def process_response(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: object, ok: bool) -> None:
        origin = req.get_header("Origin")
        if origin is None or origin not in self.origins:
            return
        resp.set_header("Access-Control-Allow-Origin", origin)
        resp.set_header("Vary", "Origin")
        if req.method == "OPTIONS" and req.get_header("Access-Control-Request-Method"):
            resp.set_header("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
            resp.set_header("Access-Control-Allow-Headers", req.get_header("Access-Control-Request-Headers") or "Content-Type")
            resp.set_header("Access-Control-Max-Age", "600")


class _Startup:
    """Loads the project index when the server starts, and stops its refresher on shutdown."""

    def __init__(self, index: ProjectIndex) -> None:
        self.index = index

    async def process_startup(self, scope: object, event: object) -> None:
        await self.index.start()

    async def process_shutdown(self, scope: object, event: object) -> None:
        await self.index.stop()
