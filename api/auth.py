"""Who may do what: the cross-site check (every mode), then the credential and the role.

:class:`Guard` is the falcon middleware ``api.app.create_app`` installs first. For each
request it

1. refuses (403 ``cross_site``) a state-changing request, or a WebSocket handshake, whose
   ``Origin`` (failing that, ``Referer``) is not an allowed origin (``ApiConfig.origins``:
   the gallery's, and ``AUTEUR_CORS_ORIGINS``) — in every mode, auth on or off; a request
   without either header (curl, scripts) is judged by its credential alone;
2. with ``AUTEUR_AUTH=off`` lets it through with no actor (everyone may do everything);
3. otherwise finds the actor: a bearer token (``AUTEUR_ADMIN_TOKEN``, or one of the
   store's), the session cookie of a signed-in browser (state-changing requests must then
   carry the session's CSRF token in ``X-CSRF-Token``), or in ``proxy`` mode the
   ``X-Forwarded-User``/``X-Forwarded-Email`` headers, believed only from an address in
   ``AUTEUR_TRUSTED_PROXIES``; none: 401 with ``WWW-Authenticate: Bearer``;
4. compares the actor's role with the role the route table asks (``x-auteur-role`` on each
   operation of ``api.routes``): too low, 403. An ``/api/v1`` operation without one is
   refused to all but admins (closed by default). ``OPTIONS`` (a browser's CORS preflight,
   which never carries a credential) needs none.

The actor goes to ``req.context.actor`` (``api.actors.actor_of``). Failed sign-ins and bad
tokens from one address are counted; past :data:`MAX_FAILURES` in :data:`FAILURE_WINDOW`
seconds that address gets 429 until the window has passed — the person's own address is
never locked out by somebody else's guesses.
"""

from __future__ import annotations

import collections
import hmac
import ipaddress
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import falcon
import falcon.asgi

from api.config import ApiConfig
from api.errors import ApiError
from auteur.accounts import AccountStore, Session
from auteur.identity import Actor, Role

ROLE_KEY = "x-auteur-role"
PUBLIC = "public"  # an /api/v1 operation anyone may call (signing in)
SESSION_COOKIE = "auteur_session"
CSRF_COOKIE = "auteur_csrf"
CSRF_HEADER = "X-CSRF-Token"
MAX_FAILURES = 10
FAILURE_WINDOW = 60.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="auteur"'}
WEBSOCKET = "websocket"

if TYPE_CHECKING:  # the route table's entries; api.openapi imports this module's names
    from api.openapi import Route

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def roles_of(routes: Iterable[Route]) -> dict[tuple[str, str], Role | str]:
    """(falcon template, method lower case) -> the role it needs, or PUBLIC; what the table declares."""
    found: dict[tuple[str, str], Role | str] = {}
    for route in routes:
        operations = dict(route.operations)
        if route.websocket is not None:
            operations[WEBSOCKET] = route.websocket
        for method, operation in operations.items():
            role = operation.get(ROLE_KEY)
            if role is not None:
                found[route.template, method] = PUBLIC if role == PUBLIC else Role(role)
    return found


def origin_of(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


class FailureLimiter:
    """Failed credentials per client address, in a sliding window (each API replica its own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[str, collections.deque[float]] = {}

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 while it may."""
        seen = self._failures.get(address)
        if not seen:
            return 0.0
        now = self.clock()
        while seen and seen[0] <= now - FAILURE_WINDOW:
            seen.popleft()
        if len(seen) < MAX_FAILURES:
            return 0.0
        return max(1.0, seen[0] + FAILURE_WINDOW - now)

    def failed(self, address: str) -> None:
        if len(self._failures) > 100_000:
            self._failures.clear()
        self._failures.setdefault(address, collections.deque(maxlen=MAX_FAILURES + 1)).append(self.clock())

    def refuse_if_limited(self, address: str) -> None:
        wait = self.retry_after(address)
        if wait:
            raise ApiError(429, f"too many failed sign-ins from {address}; try again in {wait:.0f} s",
                           code="too_many_attempts", headers={"Retry-After": str(int(wait + 0.999))})  # fmt: skip


class Guard:
    """The middleware; one per app, holding the account store every request reads."""

    def __init__(self, config: ApiConfig, routes: Iterable[Route], store: AccountStore | None = None) -> None:
        settings = config.settings
        self.mode = settings.auth
        self.origins = frozenset(o.lower().rstrip("/") for o in config.origins())
        self.store = store or AccountStore(settings.state)
        self.roles = roles_of(routes)
        self.admin_token = settings.admin_token or None
        self.trusted: tuple[Network, ...] = tuple(ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies)
        self.proxy_role = Role(settings.proxy_role)
        self.limiter = FailureLimiter()

    # -- falcon's hooks ----------------------------------------------------------------

    # After routing (the route's template names the role, and the metrics its route), before
    # the responder reads a byte of the body.
    async def process_resource(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: object,
                               params: dict[str, Any]) -> None:  # fmt: skip
        if req.method not in SAFE_METHODS:
            self.check_origin(req)
        self._authorize(req, req.method.lower())

    async def process_resource_ws(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket, resource: object,
                                  params: dict[str, Any]) -> None:  # fmt: skip
        self.check_origin(req)
        self._authorize(req, WEBSOCKET)

    # -- the checks --------------------------------------------------------------------

    def check_origin(self, req: falcon.asgi.Request) -> None:
        origin = req.get_header("Origin")
        if origin is None:
            referer = req.get_header("Referer")
            origin = origin_of(referer) if referer else None
            if origin is None:
                return
        if origin.lower().rstrip("/") not in self.origins:
            raise ApiError(403, f"requests from {origin} are refused: it is not an allowed origin "
                                "(the gallery's, or one in AUTEUR_CORS_ORIGINS)", code="cross_site")  # fmt: skip

    def _authorize(self, req: falcon.asgi.Request, method: str) -> None:
        if self.mode == "off":
            return  # nobody in particular: api.actors.actor_of answers None
        req.context.actor = None
        need = self.roles.get((req.uri_template or "", method))
        if need is None and not req.path.startswith("/api/"):
            return  # /health, /metrics, /openapi.json: open
        if method == "options":
            return  # a CORS preflight never carries credentials, and answers with nothing but what CORS allows
        if need == PUBLIC:
            return
        actor = self.authenticate(req, needs_csrf=method not in ("get", "head", "options", WEBSOCKET))
        if actor is None:
            raise ApiError(401, "sign in, or send Authorization: Bearer <token>", code="unauthorized", headers=CHALLENGE)
        required = need if isinstance(need, Role) else Role.ADMIN
        if not actor.role.allows(required):
            raise ApiError(403, f"{actor.name} is {actor.role.value}; this needs {required.value}", code="forbidden")
        req.context.actor = actor

    def authenticate(self, req: falcon.asgi.Request, *, needs_csrf: bool) -> Actor | None:
        """The actor of the request's credential; None without one. A bad credential raises 401 (or 429)."""
        address = self.client_address(req)
        header = req.get_header("Authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ApiError(401, "the Authorization header must be 'Bearer <token>'", code="unauthorized", headers=CHALLENGE)
            self.limiter.refuse_if_limited(address)
            actor = self.actor_for_token(token.strip())
            if actor is None:
                self.limiter.failed(address)
                raise ApiError(401, "the token is not valid (unknown or revoked)", code="unauthorized", headers=CHALLENGE)
            return actor
        if self.mode == "proxy" and self.trusted_peer(req):
            name = req.get_header("X-Forwarded-User")
            if name:
                known = self.store.actor_for_user(name)
                email = req.get_header("X-Forwarded-Email")
                if known is not None:
                    return Actor(name=known.name, role=known.role, email=known.email or email)
                return Actor(name=name, role=self.proxy_role, email=email)
        cookie = req.get_cookie_values(SESSION_COOKIE)
        if cookie:
            found = self.store.actor_for_session(cookie[0])
            if found is None:
                raise ApiError(401, "the session has expired or was closed; sign in again", code="unauthorized", headers=CHALLENGE)
            actor, session = found
            if needs_csrf:
                self.check_csrf(req, session)
            return actor
        return None

    def actor_for_token(self, token: str) -> Actor | None:
        if self.admin_token is not None and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Actor(name="admin", role=Role.ADMIN)
        return self.store.actor_for_token(token)

    @staticmethod
    def check_csrf(req: falcon.asgi.Request, session: Session) -> None:
        sent = req.get_header(CSRF_HEADER) or ""
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise ApiError(403, f"a request signed in with the session cookie must carry {CSRF_HEADER}", code="csrf")

    def trusted_peer(self, req: falcon.asgi.Request) -> bool:
        try:
            peer = ipaddress.ip_address(req.remote_addr)
        except ValueError:
            return False
        return any(peer in network for network in self.trusted)

    def client_address(self, req: falcon.asgi.Request) -> str:
        """The client: the peer, or behind a trusted proxy the last address it forwarded."""
        if self.trusted and self.trusted_peer(req):
            forwarded = req.get_header("X-Forwarded-For")
            if forwarded:
                return forwarded.rsplit(",", 1)[-1].strip()
        return str(req.remote_addr)


def require(req: falcon.asgi.Request, role: Role) -> None:
    """403 unless the request's actor has ``role`` (for what only part of an operation needs: a purge)."""
    actor: Actor | None = getattr(req.context, "actor", None)
    if actor is not None and not actor.role.allows(role):
        raise ApiError(403, f"{actor.name} is {actor.role.value}; this needs {role.value}", code="forbidden")
