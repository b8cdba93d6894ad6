"""Who a page is rendered for: the credentials a browser's request carries, and what they allow.

Called by ``web.pages`` on every request. :func:`credentials_of` picks out what the API
needs to know who is asking (the ``auteur_session`` cookie, an ``Authorization`` header,
and behind a trusted proxy its ``X-Forwarded-User``/``X-Forwarded-Email``), so the
gallery's reads act as that person and nobody else. :class:`Visitor` is the API's answer
to ``GET /api/v1/session``: the name and role the page shows, and which actions it
renders. Hiding an action is a courtesy; the API refuses it anyway.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import falcon.asgi

from auteur.identity import Role
from web.client import Credentials

SESSION_COOKIE = "auteur_session"  # set by the API's sign-in (api.auth), for the host: the gallery gets it too
PROXY_HEADERS = ("X-Forwarded-User", "X-Forwarded-Email")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks_of(addresses: Iterable[str]) -> tuple[Network, ...]:
    """``AUTEUR_TRUSTED_PROXIES`` as networks (a bare address is a network of one)."""
    return tuple(ipaddress.ip_network(a, strict=False) for a in addresses)


def credentials_of(req: falcon.asgi.Request, trusted: tuple[Network, ...] = ()) -> Credentials:
    """What of ``req`` goes to the API: the session cookie (no other), ``Authorization``, and
    the proxy's identity headers only when the peer is one of the ``trusted`` proxies."""
    headers: list[tuple[str, str]] = []
    session = req.get_cookie_values(SESSION_COOKIE)
    if session:
        headers.append(("Cookie", f"{SESSION_COOKIE}={session[0]}"))
    authorization = req.get_header("Authorization")
    if authorization:
        headers.append(("Authorization", authorization))
    if trusted and _is_trusted(req.remote_addr, trusted):
        headers.extend((name, value) for name in PROXY_HEADERS if (value := req.get_header(name)))
    return Credentials(tuple(headers))


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(peer in network for network in trusted)


@dataclass(frozen=True)
class Visitor:
    """The person a page is for. The default is how the gallery looks with auth off: nobody
    signed in, every action shown but the purge (purging for good is left to a signed-in admin)."""

    auth: str = "off"
    name: str | None = None
    role: Role = Role.ADMIN
    email: str | None = None

    @classmethod
    def from_whoami(cls, body: Any) -> Visitor:
        """From the API's ``Whoami``; whatever is missing or unknown counts as the least."""
        if not isinstance(body, dict):
            return cls(auth="on", role=Role.VIEWER)
        try:
            role = Role(body.get("role"))
        except ValueError:
            role = Role.VIEWER
        return cls(auth=str(body.get("auth") or "on"), name=body.get("name"), role=role, email=body.get("email"))

    @property
    def signed_in(self) -> bool:
        """Whether the page says who this is (auth on or proxy)."""
        return self.auth != "off" and self.name is not None

    @property
    def can_edit(self) -> bool:
        """Create, upload, delete to the trash, restore, change quality and description."""
        return self.role.allows(Role.EDITOR)

    @property
    def can_purge(self) -> bool:
        return self.signed_in and self.role.allows(Role.ADMIN)


NOBODY = Visitor()
SIGNED_OUT = Visitor(auth="on", role=Role.VIEWER)  # the API wants a sign-in (401)


def local_path(target: str | None) -> str:
    """``target`` if it is a path on this server (``/project/x?y``), else ``/``: a sign-in
    page's ``next`` must never send anyone to another site (``//evil``, ``https://…``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 0x20 or c == "\\" for c in target):
        return "/"
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target
