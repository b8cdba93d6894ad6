"""The pages: gallery, project, the project's assets fragment, card pictures, trash and sign-in.

Routed by ``web.app.create_app``. Each resource reads the API over HTTP
(``web.client``) as the person asking (``web.visitors``) and renders a template
(``web.rendering``); nothing here knows where the workspace lives. The browser then
talks to the API directly: the pages carry its public address for ``static/*.js``.
When the API wants a sign-in (auth on, 401), a page sends the browser to ``/login``.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any

import falcon
import falcon.asgi

from auteur.layout import TYPE_FOLDERS
from auteur.status import Phase
from web.client import ApiClient, ApiUnavailable, Credentials, NotFound, Unauthorized, UrlSource, View, resolve_url
from web.pictures import VIDEO_BADGE_SVG, asset_url, choose_picture, poster_url
from web.rendering import Renderer
from web.visitors import NOBODY, SIGNED_OUT, Network, Visitor, credentials_of, local_path

# Events journaled up to this long before a page was rendered are replayed to it
# (``?since=``), so nothing that happened between the render and the WebSocket's
# opening is missed; replaying a little more is harmless (events carry full state).
REPLAY_MARGIN_SECONDS = 5.0

# The gallery's orders (the API's sort=) and how the page names them; one page holds PAGE_SIZE cards.
SORTS = {"newest": "Newest first", "name": "Name", "changed": "Last changed"}
PAGE_SIZE = 60
MAX_QUERY = 100  # the API's limit on q: no name is longer
MAX_PAGE = 1_000_000


def group_assets(assets: Iterable[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(asset type, its files sorted by name) in the layout's order; types with files only,
    then anything the API could not type (files directly under ``assets/``)."""
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in (*TYPE_FOLDERS, "other")}
    for asset in assets:
        kind = asset.get("asset_type")
        groups[kind if kind in groups else "other"].append(asset)
    return [(kind, sorted(files, key=lambda a: str(a.get("path")).lower())) for kind, files in groups.items() if files]


class Pages:
    """What every page needs: the API client, the renderer, the API's public address, and
    the proxies whose identity headers are passed on (``AUTEUR_TRUSTED_PROXIES``)."""

    def __init__(self, client: ApiClient, renderer: Renderer, api_url_public: UrlSource, trusted: tuple[Network, ...] = ()) -> None:
        self.client, self.renderer, self.api_url_public, self.trusted = client, renderer, api_url_public, trusted

    def credentials(self, req: falcon.asgi.Request) -> Credentials:
        return credentials_of(req, self.trusted)

    async def visitor(self, credentials: Credentials) -> Visitor:
        """Who the page is for. Without credentials nobody is asked: with auth off there is
        nobody to be, and with auth on the page's own read answers 401."""
        if not credentials:
            return NOBODY
        return Visitor.from_whoami(await self.client.whoami(credentials))

    async def visitor_or_nobody(self, credentials: Credentials) -> Visitor:
        """For error pages: who it is if the API says so, else nobody."""
        try:
            return await self.visitor(credentials)
        except (ApiUnavailable, NotFound, Unauthorized):
            return NOBODY

    def context(self, **extra: Any) -> dict[str, Any]:
        return {"api_url": resolve_url(self.api_url_public), "now": time.time(), "visitor": NOBODY, **extra}

    async def respond(self, resp: falcon.asgi.Response, template: str, status: int = 200, **context: Any) -> None:
        resp.status = status
        resp.content_type = falcon.MEDIA_HTML
        resp.text = await self.renderer.render(template, **self.context(**context))

    async def unavailable(self, resp: falcon.asgi.Response, exc: ApiUnavailable) -> None:
        await self.respond(resp, "error.html", 502, title="The API is not answering", retry=True,
                           message=f"The gallery could not read the API ({exc}). It may be restarting.")  # fmt: skip

    @staticmethod
    def sign_in_first(req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """To the sign-in page, which comes back here once signed in."""
        resp.status = 303
        resp.location = "/login?" + urllib.parse.urlencode({"next": req.relative_uri})
        resp.cache_control = ["no-store"]


def replay_from(now: float) -> str:
    """An event id just before the page was rendered (ids are ``<ms>-<seq>``)."""
    return f"{int((now - REPLAY_MARGIN_SECONDS) * 1000)}-0"


class BadView(ValueError):
    """A gallery URL whose query asks for a view there cannot be (its message says why)."""


def view_of(req: falcon.asgi.Request) -> View:
    """The view a gallery URL asks for: ``?q=&status=&sort=&page=`` (all optional)."""
    q = req.get_param("q") or ""
    status = req.get_param("status") or ""
    sort = req.get_param("sort") or "newest"
    page = req.get_param("page") or "1"
    if len(q) > MAX_QUERY:
        raise BadView(f"A search is at most {MAX_QUERY} characters.")
    if status and status not in {p.value for p in Phase}:
        raise BadView(f"There is no status {status!r}.")
    if sort not in SORTS:
        raise BadView(f"There is no order {sort!r}; the gallery sorts by {', '.join(SORTS)}.")
    if not page.isascii() or not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
        raise BadView(f"The page is a number from 1 to {MAX_PAGE} (got {page!r}).")
    return View(q=q, status=status, sort=sort, page=int(page), size=PAGE_SIZE)


def view_url(view: View, page: int) -> str:
    """The gallery's URL for ``page`` of ``view`` (defaults left out, so ``/`` is the first page)."""
    query = {"q": view.q, "status": view.status, "sort": "" if view.sort == "newest" else view.sort,
             "page": "" if page == 1 else str(page)}  # fmt: skip
    encoded = urllib.parse.urlencode({k: v for k, v in query.items() if v})
    return f"/?{encoded}" if encoded else "/"


class GalleryResource(Pages):
    """``/?q=&status=&sort=&page=``: one page of cards (the API searches, filters and sorts),
    the view's total and its counts per status, and Previous/Next links; ``static/gallery.js``
    then turns the page's controls into calls to the API, without reloading."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        now = time.time()
        credentials = self.credentials(req)
        try:
            view = view_of(req)
        except BadView as exc:
            visitor = await self.visitor_or_nobody(credentials)
            return await self.respond(resp, "error.html", 400, visitor=visitor, title="No such view", message=str(exc))
        try:
            visitor, found = await asyncio.gather(self.visitor(credentials), self.client.projects(credentials, view))
        except Unauthorized:
            return self.sign_in_first(req, resp)
        except ApiUnavailable as exc:
            return await self.unavailable(resp, exc)
        pages = max(1, -(-found.total // view.size))
        await self.respond(resp, "gallery.html", visitor=visitor, projects=found.items, total=found.total, counts=found.counts,
                           view=view, pages=pages, sorts=SORTS, phases=[p.value for p in Phase],
                           previous_url=view_url(view, view.page - 1) if view.page > 1 else None,
                           next_url=view_url(view, view.page + 1) if view.page < pages else None, first_url=view_url(view, 1),
                           since=replay_from(now), deleted=req.get_param("deleted"),
                           purged=req.get_param_as_bool("purged", default=False))  # fmt: skip


class ProjectResource(Pages):
    """``/project/{id}``: manifest, status, git, assets and uploads; ``…/assets``: the assets part alone."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        now = time.time()
        credentials = self.credentials(req)
        try:
            visitor, project, git, assets, history = await asyncio.gather(
                self.visitor(credentials),
                self.client.project(project_id, credentials),
                self.client.git_status(project_id, credentials),
                self.client.assets(project_id, credentials),
                self.client.history(project_id, credentials),
            )
        except Unauthorized:
            return self.sign_in_first(req, resp)
        except NotFound:
            missing = f"There is no project {project_id!r}. It may have been deleted."
            visitor = await self.visitor_or_nobody(credentials)
            return await self.respond(resp, "error.html", 404, visitor=visitor, title="No such project", message=missing)
        except ApiUnavailable as exc:
            return await self.unavailable(resp, exc)
        await self.respond(resp, "project.html", visitor=visitor, project=project, git=git, groups=group_assets(assets),
                           history=history, asset_types=tuple(TYPE_FOLDERS), since=replay_from(now))  # fmt: skip

    async def on_get_assets(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        credentials = self.credentials(req)
        resp.cache_control = ["no-store"]
        try:
            visitor, assets, history = await asyncio.gather(
                self.visitor(credentials), self.client.assets(project_id, credentials), self.client.history(project_id, credentials)
            )
        except NotFound:
            visitor, assets, history = await self.visitor_or_nobody(credentials), [], []
        except Unauthorized as exc:
            raise falcon.HTTPUnauthorized(description="sign in again") from exc
        except ApiUnavailable as exc:
            raise falcon.HTTPBadGateway(description=str(exc)) from exc
        await self.respond(resp, "_assets.html", visitor=visitor, project={"id": project_id}, groups=group_assets(assets),
                           history=history)  # fmt: skip


class PictureResource(Pages):
    """``/picture/{id}``: a redirect to the card's picture on the API; 404 keeps the placeholder.

    Only cards scrolled into view ask (``loading="lazy"``), so 1,000 cards do not
    mean 1,000 listings. Never cached: the next request may find a newer image.
    """

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        resp.cache_control = ["no-cache"]
        credentials = self.credentials(req)
        try:
            choice = choose_picture(await self.client.assets(project_id, credentials))
            poster = poster_url(project_id, choice.path) if choice is not None and choice.kind == "video" else None
            if poster is not None and not await self.client.exists(poster, credentials):
                resp.content_type = "image/svg+xml"
                resp.data = VIDEO_BADGE_SVG
                return
        except (NotFound, Unauthorized):  # nothing to show (to this person)
            choice = None
        except ApiUnavailable as exc:
            raise falcon.HTTPBadGateway(description=str(exc)) from exc
        if choice is None:
            resp.status = 404  # no picture yet: the card's placeholder stays
            return
        path = asset_url(project_id, choice.path) if choice.kind == "image" else poster_url(project_id, choice.path)
        resp.status = 302
        resp.location = resolve_url(self.api_url_public) + path


class TrashResource(Pages):
    """``/trash``: deleted projects, when and by whom; restore (editors) and purge (admins).
    ``/trash/entries``: its rows alone, which the page fetches again when a project is deleted or restored."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        now = time.time()
        credentials = self.credentials(req)
        resp.cache_control = ["no-store"]
        try:
            visitor, entries = await asyncio.gather(self.visitor(credentials), self.client.trash(credentials))
        except Unauthorized:
            return self.sign_in_first(req, resp)
        except ApiUnavailable as exc:
            return await self.unavailable(resp, exc)
        await self.respond(resp, "trash.html", visitor=visitor, entries=entries, since=replay_from(now))

    async def on_get_entries(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        credentials = self.credentials(req)
        resp.cache_control = ["no-store"]
        try:
            visitor, entries = await asyncio.gather(self.visitor(credentials), self.client.trash(credentials))
        except Unauthorized as exc:
            raise falcon.HTTPUnauthorized(description="sign in again") from exc
        except ApiUnavailable as exc:
            raise falcon.HTTPBadGateway(description=str(exc)) from exc
        await self.respond(resp, "_trash_entries.html", visitor=visitor, entries=entries)


class SignInResource(Pages):
    """``/login?next=<a path here>``: the sign-in form. Its script (``static/login.js``) posts
    to the API's ``/api/v1/session``, whose cookies then serve the gallery too; with nothing
    to sign in to (auth off, or a proxy that signed the person in) it goes straight to ``next``."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        target = local_path(req.get_param("next"))
        credentials = self.credentials(req)
        resp.cache_control = ["no-store"]
        try:
            visitor = Visitor.from_whoami(await self.client.whoami(credentials))
        except Unauthorized:
            visitor = SIGNED_OUT
        except ApiUnavailable as exc:
            return await self.unavailable(resp, exc)
        if visitor.auth == "off" or (visitor.auth == "proxy" and visitor.signed_in):
            resp.status = 303
            resp.location = target
            return
        await self.respond(resp, "login.html", visitor=visitor, next=target)


class HealthResource:
    """``/health``: 200 while the gallery serves (it stays up when the API is not)."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = b'{"status": "ok"}'
