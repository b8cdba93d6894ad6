"""``create_app(config)``: the Falcon ASGI application, its routes from the table in ``api.routes``.

Called by ``api.asgi`` (uvicorn), the embedded launcher and the tests. Each resource
is built once and added to every route of its class (``suffix=``, as falcon's asgilook
does); ``/openapi.json`` is generated from the same table. Every answer leaves with the
headers of ``api.safety`` (``nosniff`` and a policy under which nothing runs).
"""

from __future__ import annotations

import re
import uuid

import falcon
import falcon.asgi
from prometheus_client import CollectorRegistry

from api.accounts import SessionResource, TokensResource
from api.assets import AssetFileResource, AssetsResource
from api.audit import AuditResource
from api.auth import Guard
from api.config import ApiConfig
from api.errors import install_error_handlers
from api.events import EventsResource
from api.health import HealthResource, LiveResource, MetricsResource
from api.history import CommitCache, HistoryResource
from api.index import ProjectIndex
from api.metrics import ApiMetrics, Components, ProjectCounts, RequestMetrics
from api.openapi import OpenApiResource
from api.posters import PosterResource
from api.projects import GitStatusResource, ProjectsResource
from api.routes import ROUTES
from api.safety import ANSWER_HEADERS
from api.thumbnails import ThumbnailResource
from api.trash import TrashResource
from api.uploads import UploadMetrics
from api.versions import VersionsResource
from auteur import logs


def create_app(config: ApiConfig | None = None, *,
               registry: CollectorRegistry | None = None) -> falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response]:  # fmt: skip
    """The app; its metrics go on ``registry`` (the launcher's, holding the controller's
    too), else on a registry of its own."""
    config = config or ApiConfig.from_environment()
    guard = Guard(config, ROUTES)
    app = falcon.asgi.App(cors_enable=False, middleware=[_RequestIds()])
    app.add_middleware(_Cors(config.origins()))
    app.add_middleware(_AnswerHeaders())
    app.add_middleware(guard)
    install_error_handlers(app)
    index = ProjectIndex(config)
    registry = registry if registry is not None else CollectorRegistry()
    metrics = ApiMetrics(registry)
    uploads = UploadMetrics(registry)
    registry.register(ProjectCounts(index))
    registry.register(Components(config))
    commits = CommitCache()  # one per process: the history and the versions of an asset walk the same entries
    built: tuple[object, ...] = (
        ProjectsResource(config, index),
        GitStatusResource(config, index),
        HistoryResource(config, index, commits),
        VersionsResource(config, index, commits),
        AssetsResource(config, index, uploads),
        AssetFileResource(config, index),
        PosterResource(config, index),
        ThumbnailResource(config, index),
        TrashResource(config, index),
        AuditResource(config),
        EventsResource(config, index, metrics),
        HealthResource(config, index),
        LiveResource(),
        MetricsResource(registry),
        OpenApiResource(config, ROUTES),
        SessionResource(config, guard),
        TokensResource(config, guard),
    )
    resources = {type(resource): resource for resource in built}
    for route in ROUTES:
        route.check()  # a responder without its documentation (or the reverse) never serves
        app.add_route(route.template, resources[route.resource], suffix=route.suffix)
    app.add_middleware(_Startup(index))
    app.add_middleware(RequestMetrics(metrics))
    return app


class _RequestIds:
    """Every request gets an id: the client's ``X-Request-Id`` when it is a sane token, else a
    new one. It is bound for the request's log lines (``auteur.logs``), named in its error
    body (``api.errors``) and answered in ``X-Request-Id``."""

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        given = req.get_header("X-Request-Id")
        request_id = given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        req.context.request_id = request_id
        logs.bind(request_id=request_id)

    async def process_request_ws(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        logs.bind(request_id=uuid.uuid4().hex)

    async def process_response(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: object, ok: bool) -> None:
        request_id = getattr(req.context, "request_id", None)
        if request_id:
            resp.set_header("X-Request-Id", request_id)


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class _AnswerHeaders:
    """``api.safety.ANSWER_HEADERS`` on every answer: errors, 404s, downloads and preflights
    too. A download has set its own policy already (``api.safety.served_as``): it stays."""

    async def process_response(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: object, ok: bool) -> None:
        for name, value in ANSWER_HEADERS.items():
            if resp.get_header(name) is None:
                resp.set_header(name, value)


class _Cors:
    """CORS for the gallery's origin only (never ``*``)."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        self.origins = frozenset(origins)

    async def process_response(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: object, ok: bool) -> None:
        origin = req.get_header("Origin")
        if origin is None or origin not in self.origins:
            return
        resp.set_header("Access-Control-Allow-Origin", origin)
        resp.set_header("Access-Control-Allow-Credentials", "true")  # the gallery's scripts send the session cookie
        resp.set_header("Vary", "Origin")
        resp.set_header("Access-Control-Expose-Headers", "X-Total-Count, X-Status-Counts")  # the gallery pages with them
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
