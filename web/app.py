"""``create_app(api_url_internal, api_url_public)``: the gallery's ASGI app, every route here.

Called by the embedded launcher, ``web.asgi`` (``uvicorn web.asgi:app``) and the tests.
``api_url_internal`` is where this server reads the API; ``api_url_public`` is where
browsers reach it (``AUTEUR_API_URL``). Either may be a callable, resolved per request.
``trusted_proxies`` (``AUTEUR_TRUSTED_PROXIES``) are the addresses whose
``X-Forwarded-User`` this server passes on to the API (``AUTEUR_AUTH=proxy``).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Iterable

import falcon
import falcon.asgi
import httpx

from web.client import ApiClient, UrlSource, resolve_url
from web.pages import GalleryResource, HealthResource, Pages, PictureResource, ProjectResource, SignInResource, TrashResource
from web.rendering import STATIC, Renderer
from web.visitors import networks_of

App = falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response]


def create_app(api_url_internal: UrlSource, api_url_public: UrlSource | None = None, *, trusted_proxies: Iterable[str] = (),
               transport: httpx.AsyncBaseTransport | None = None) -> App:  # fmt: skip
    """The gallery app; ``transport`` lets tests answer for the API in-process."""
    public = api_url_public if api_url_public is not None else api_url_internal
    client = ApiClient(api_url_internal, transport=transport)
    pages = (client, Renderer(), public, networks_of(trusted_proxies))
    app: App = falcon.asgi.App(media_type=falcon.MEDIA_HTML)
    app.add_middleware(_Headers(public))
    app.add_middleware(_Lifespan(client))
    project = ProjectResource(*pages)
    app.add_route("/", GalleryResource(*pages))
    app.add_route("/project/{project_id}", project)
    app.add_route("/project/{project_id}/assets", project, suffix="assets")
    app.add_route("/picture/{project_id}", PictureResource(*pages))
    trash = TrashResource(*pages)
    app.add_route("/trash", trash)
    app.add_route("/trash/entries", trash, suffix="entries")
    app.add_route("/login", SignInResource(*pages))
    app.add_route("/health", HealthResource())
    app.add_static_route("/static", STATIC)
    app.add_error_handler(falcon.HTTPRouteNotFound, _not_found_page(Pages(*pages)))
    return app


def _not_found_page(pages: Pages) -> Callable[..., Awaitable[None]]:
    """An HTML 404 for a person who followed a stale link (falcon's default is JSON)."""

    async def handle(req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: Exception, params: dict[str, str]) -> None:
        visitor = await pages.visitor_or_nobody(pages.credentials(req))
        await pages.respond(resp, "error.html", 404, visitor=visitor, title="Page not found", message=f"There is nothing at {req.path}.")

    return handle


def origin_of(url: str) -> str:
    """``http://host:port`` of a URL."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(api_url: str) -> str:
    """Scripts and styles from this server only; pictures, requests and the event
    socket may also go to the API."""
    api = origin_of(api_url)
    socket = api.replace("http", "ws", 1)
    return "; ".join((
        "default-src 'self'",
        f"img-src 'self' {api} data:",
        f"media-src 'self' {api}",
        f"connect-src 'self' {api} {socket}",
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ))  # fmt: skip


class _Headers:
    """Security headers on every answer; versioned static files cached for good.

    The policy goes on every answer, not only on pages: falcon's own error answers
    (JSON, or XML for a browser's ``Accept``) are documents a browser may show too."""

    def __init__(self, api_url_public: UrlSource) -> None:
        self.api_url_public = api_url_public

    async def process_response(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: object, ok: bool) -> None:
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.set_header("Referrer-Policy", "same-origin")
        resp.set_header("Content-Security-Policy", content_security_policy(resolve_url(self.api_url_public)))
        if req.path.startswith("/static/"):
            resp.cache_control = ["public", "max-age=31536000", "immutable"] if req.get_param("v") else ["no-cache"]


class _Lifespan:
    """Closes the API client's connections when the server stops."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    async def process_startup(self, scope: object, event: object) -> None:
        pass

    async def process_shutdown(self, scope: object, event: object) -> None:
        await self.client.close()
