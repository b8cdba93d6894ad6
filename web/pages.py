"""The pages: gallery, project, the project's assets fragment and card pictures.

Routed by ``web.app.create_app``. Each resource reads the API over HTTP
(``web.client``) and renders a template (``web.rendering``); nothing here knows
where the workspace lives. The browser then talks to the API directly: the pages
carry its public address for ``static/*.js``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import falcon
import falcon.asgi

from auteur.layout import TYPE_FOLDERS
from web.client import ApiClient, ApiUnavailable, NotFound, UrlSource, resolve_url
from web.pictures import VIDEO_BADGE_SVG, asset_url, choose_picture, poster_url
from web.rendering import Renderer

# Events journaled up to this long before a page was rendered are replayed to it
# (``?since=``), so nothing that happened between the render and the WebSocket's
# opening is missed; replaying a little more is harmless (events carry full state).
REPLAY_MARGIN_SECONDS = 5.0


def group_assets(assets: Iterable[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(asset type, its files sorted by name) in the layout's order; types with files only,
    then anything the API could not type (files directly under ``assets/``)."""
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in (*TYPE_FOLDERS, "other")}
    for asset in assets:
        kind = asset.get("asset_type")
        groups[kind if kind in groups else "other"].append(asset)
    return [(kind, sorted(files, key=lambda a: str(a.get("path")).lower())) for kind, files in groups.items() if files]


class Pages:
    """What every page needs: the API client, the renderer and the API's public address."""

    def __init__(self, client: ApiClient, renderer: Renderer, api_url_public: UrlSource) -> None:
        self.client, self.renderer, self.api_url_public = client, renderer, api_url_public

    def context(self, **extra: Any) -> dict[str, Any]:
        return {"api_url": resolve_url(self.api_url_public), "now": time.time(), **extra}

    async def respond(self, resp: falcon.asgi.Response, template: str, status: int = 200, **context: Any) -> None:
        resp.status = status
        resp.content_type = falcon.MEDIA_HTML
        resp.text = await self.renderer.render(template, **self.context(**context))

    async def unavailable(self, resp: falcon.asgi.Response, exc: ApiUnavailable) -> None:
        await self.respond(resp, "error.html", 502, title="The API is not answering", retry=True,
                           message=f"The gallery could not read the API ({exc}). It may be restarting.")  # fmt: skip


def replay_from(now: float) -> str:
    """An event id just before the page was rendered (ids are ``<ms>-<seq>``)."""
    return f"{int((now - REPLAY_MARGIN_SECONDS) * 1000)}-0"


class GalleryResource(Pages):
    """``/``: a card per project, newest first."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        now = time.time()
        try:
            projects = await self.client.projects()
        except ApiUnavailable as exc:
            return await self.unavailable(resp, exc)
        # Rendered whole, not streamed: measured here, streaming painted sooner but made the
        # page usable later (DOMContentLoaded p50 737 vs 509 ms with 1,000 cards).
        await self.respond(resp, "gallery.html", projects=projects, since=replay_from(now), deleted=req.get_param("deleted"))


class ProjectResource(Pages):
    """``/project/{id}``: manifest, status, git, assets and uploads; ``…/assets``: the assets part alone."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        now = time.time()
        try:
            project, git, assets = await asyncio.gather(
                self.client.project(project_id), self.client.git_status(project_id), self.client.assets(project_id)
            )
        except NotFound:
            return await self.respond(resp, "error.html", 404, title="No such project",
                                      message=f"There is no project {project_id!r}. It may have been deleted.")  # fmt: skip
        except ApiUnavailable as exc:
            return await self.unavailable(resp, exc)
        await self.respond(resp, "project.html", project=project, git=git, groups=group_assets(assets),
                           asset_types=tuple(TYPE_FOLDERS), since=replay_from(now))  # fmt: skip

    async def on_get_assets(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        try:
            assets = await self.client.assets(project_id)
        except NotFound:
            assets = []
        except ApiUnavailable as exc:
            raise falcon.HTTPBadGateway(description=str(exc)) from exc
        await self.respond(resp, "_assets.html", project={"id": project_id}, groups=group_assets(assets))
        resp.cache_control = ["no-store"]


class PictureResource(Pages):
    """``/picture/{id}``: a redirect to the card's picture on the API; 404 keeps the placeholder.

    Only cards scrolled into view ask (``loading="lazy"``), so 1,000 cards do not
    mean 1,000 listings. Never cached: the next request may find a newer image.
    """

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        resp.cache_control = ["no-cache"]
        try:
            choice = choose_picture(await self.client.assets(project_id))
            if choice is not None and choice.kind == "video" and not await self.client.exists(poster_url(project_id, choice.path)):
                resp.content_type = "image/svg+xml"
                resp.data = VIDEO_BADGE_SVG
                return
        except NotFound:
            choice = None
        except ApiUnavailable as exc:
            raise falcon.HTTPBadGateway(description=str(exc)) from exc
        if choice is None:
            resp.status = 404  # no picture yet: the card's placeholder stays
            return
        path = asset_url(project_id, choice.path) if choice.kind == "image" else poster_url(project_id, choice.path)
        resp.status = 302
        resp.location = resolve_url(self.api_url_public) + path


class HealthResource:
    """``/health``: 200 while the gallery serves (it stays up when the API is not)."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = b'{"status": "ok"}'
