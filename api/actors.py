"""The person a request acts for, as ``api.auth.Guard`` found it (None with auth off)."""

from __future__ import annotations

import falcon.asgi

from auteur.identity import Actor


def actor_of(req: falcon.asgi.Request) -> Actor | None:
    return getattr(req.context, "actor", None)
