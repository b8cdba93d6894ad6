"""Reading the REST API over HTTP, for the pages ``web.pages`` renders.

One :class:`ApiClient` per app, holding one pooled ``httpx.AsyncClient``. The API's
address may be a callable, resolved per request, so a launcher can hand over the
address of a server that binds a free port only once it starts.

Every read acts as the person the page is for: it carries the :class:`Credentials` that
``web.visitors`` took from that browser's request, and nothing of anybody else's (the
pool keeps no cookies).
"""

from __future__ import annotations

import http.cookiejar
import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

UrlSource = str | Callable[[], str]
Json = dict[str, Any]

_decode = msgspec.json.decode

# httpx logs every request at INFO: one line per card picture would drown the stack's log.
logging.getLogger("httpx").setLevel(logging.WARNING)


class ApiUnavailable(Exception):
    """The API did not answer (refused, timed out) or answered with a server error."""


class NotFound(Exception):
    """The API answered 404."""


class Unauthorized(Exception):
    """The API answered 401: auth is on and the request is nobody's (or its session ended)."""


@dataclass(frozen=True)
class Credentials:
    """The headers that tell the API who a read is for; empty: nobody (auth off needs none)."""

    headers: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.headers)


@dataclass(frozen=True)
class View:
    """What the gallery shows: a search, a status, an order and a page (1-based) of ``size`` cards."""

    q: str = ""
    status: str = ""
    sort: str = "newest"
    page: int = 1
    size: int = 60

    def api_query(self) -> dict[str, str | int]:
        query: dict[str, str | int] = {"sort": self.sort, "limit": self.size, "offset": (self.page - 1) * self.size}
        if self.q:
            query["q"] = self.q
        if self.status:
            query["status"] = self.status
        return query


@dataclass(frozen=True)
class ProjectsPage:
    """One page of projects, the view's total, and how many its search matches per status."""

    items: list[Json]
    total: int
    counts: dict[str, int]


def resolve_url(source: UrlSource) -> str:
    """The address a :data:`UrlSource` stands for, without a trailing slash."""
    return (source() if callable(source) else source).rstrip("/")


def quote_path(path: str) -> str:
    """A project-relative path for a URL: each segment percent-encoded, slashes kept."""
    return "/".join(urllib.parse.quote(part, safe="") for part in path.split("/"))


class ApiClient:
    """The few reads the pages need; every method raises ``ApiUnavailable``, ``NotFound`` or ``Unauthorized``."""

    def __init__(self, base_url: UrlSource, *, transport: httpx.AsyncBaseTransport | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url
        self._transport = transport
        self._timeout = timeout
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
            # One pool serves everybody: a cookie an answer set must never ride along on the next person's read.
            no_cookies = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
            self._http = httpx.AsyncClient(transport=self._transport, timeout=self._timeout, limits=limits, cookies=no_cookies)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _get(self, path: str, credentials: Credentials, method: str = "GET") -> httpx.Response:
        url = f"{resolve_url(self.base_url)}{path}"
        try:
            response = await self.http.request(method, url, headers=list(credentials.headers))
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"{type(exc).__name__} from {url}") from exc
        if response.status_code == 401:
            raise Unauthorized(path)
        if response.status_code == 404:
            raise NotFound(path)
        if response.status_code >= 500:
            raise ApiUnavailable(f"{url} answered {response.status_code}")
        return response

    async def _json(self, path: str, credentials: Credentials) -> Any:
        response = await self._get(path, credentials)
        if response.status_code != 200:
            raise ApiUnavailable(f"{path} answered {response.status_code}")
        return _decode(response.content)

    async def whoami(self, credentials: Credentials) -> Json:
        """``GET /api/v1/session``: the person and role the credentials stand for."""
        return await self._json("/api/v1/session", credentials)  # type: ignore[no-any-return]

    async def projects(self, credentials: Credentials, view: View) -> ProjectsPage:
        """One page of a view of the projects, in the API's order, with its total and the
        counts per status of its search (``X-Total-Count``, ``X-Status-Counts``)."""
        path = "/api/v1/projects?" + urllib.parse.urlencode(view.api_query())
        response = await self._get(path, credentials)
        if response.status_code != 200:
            raise ApiUnavailable(f"{path} answered {response.status_code}")
        found, counts = _decode(response.content), _decode(response.headers.get("X-Status-Counts", "{}"))
        items = found if isinstance(found, list) else []
        total = int(response.headers.get("X-Total-Count", len(items)))
        return ProjectsPage(items, total, counts if isinstance(counts, dict) else {})

    async def project(self, project_id: str, credentials: Credentials) -> Json:
        return await self._json(f"/api/v1/projects/{urllib.parse.quote(project_id, safe='')}", credentials)  # type: ignore[no-any-return]

    async def git_status(self, project_id: str, credentials: Credentials) -> Json:
        path = f"/api/v1/projects/{urllib.parse.quote(project_id, safe='')}/git/status"
        return await self._json(path, credentials)  # type: ignore[no-any-return]

    async def history(self, project_id: str, credentials: Credentials, limit: int = 20) -> list[Json]:
        """The project's latest commits, newest first (who, when, what changed)."""
        try:
            found = await self._json(f"/api/v1/projects/{urllib.parse.quote(project_id, safe='')}/history?limit={limit}", credentials)
        except NotFound:  # an API without history (an older one): the page shows none
            return []
        return found.get("items", []) if isinstance(found, dict) else []

    async def assets(self, project_id: str, credentials: Credentials) -> list[Json]:
        found = await self._json(f"/api/v1/projects/{urllib.parse.quote(project_id, safe='')}/assets", credentials)
        return found if isinstance(found, list) else []

    async def trash(self, credentials: Credentials) -> list[Json]:
        """Every deleted project waiting in the trash, newest first."""
        found = await self._json("/api/v1/trash", credentials)
        return found if isinstance(found, list) else []

    async def exists(self, path: str, credentials: Credentials) -> bool:
        """True if ``HEAD path`` answers 2xx (used to ask whether a poster was made yet)."""
        try:
            response = await self._get(path, credentials, method="HEAD")
        except NotFound:
            return False
        return 200 <= response.status_code < 300
