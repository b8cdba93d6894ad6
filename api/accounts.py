"""``/api/v1/session`` (sign in, who am I, sign out) and ``/api/v1/tokens`` (admins' tokens).

Routed by ``api.app.create_app``; the checks of who may call them are ``api.auth.Guard``'s,
from the roles in ``api.routes``. Both write the account store on the volume
(``auteur.accounts``); changes to tokens go to the audit log.

A browser signs in with ``POST /api/v1/session`` and gets two cookies: ``auteur_session``
(HttpOnly: scripts never see it) and ``auteur_csrf``, which the gallery's scripts read
and send back as ``X-CSRF-Token`` on every state-changing request. Cookies belong to a
host, not a port, so the gallery on the same host sends them too, and shows its pages as
the signed-in person.
"""

from __future__ import annotations

import anyio.to_thread
import falcon
import falcon.asgi
import msgspec

from api.actors import actor_of, audit, audit_entry
from api.auth import CSRF_COOKIE, SESSION_COOKIE, Guard
from api.config import ApiConfig
from api.errors import ApiError, conflict, decode_json, not_found
from api.schemas import SignIn, TokenCreate, TokenCreated, Whoami
from auteur.accounts import SESSION_SECONDS, AccountError, AccountStore, TokenInfo, check_user_name
from auteur.identity import Role

_encode = msgspec.json.Encoder().encode


class SessionResource:
    def __init__(self, config: ApiConfig, guard: Guard) -> None:
        self.config, self.guard = config, guard
        self.store: AccountStore = guard.store

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        actor = actor_of(req)
        mode = self.config.settings.auth
        if actor is None:
            body = Whoami(auth=mode, name=None, role=Role.ADMIN)
        else:
            body = Whoami(auth=mode, name=actor.name, role=actor.role, email=actor.email)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _encode(body)

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if self.config.settings.auth != "on":
            conflict(f"signing in is for AUTEUR_AUTH=on; it is {self.config.settings.auth} here")
        address = self.guard.client_address(req)
        self.guard.limiter.refuse_if_limited(address)
        form = decode_json(await req.stream.read(64 * 1024), SignIn)
        actor = await anyio.to_thread.run_sync(self.store.check_password, form.username, form.password)
        if actor is None:
            self.guard.limiter.failed(address)
            raise ApiError(401, "wrong user name or password", code="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="auteur"'})
        session_id, session = await anyio.to_thread.run_sync(self.store.open_session, actor.name)
        await audit(self.config, audit_entry(self.config, actor, "session.open"))
        secure = req.scheme == "https"
        resp.set_cookie(SESSION_COOKIE, session_id, max_age=int(SESSION_SECONDS), path="/", secure=secure,
                        http_only=True, same_site="Strict")  # fmt: skip
        resp.set_cookie(CSRF_COOKIE, session.csrf, max_age=int(SESSION_SECONDS), path="/", secure=secure,
                        http_only=False, same_site="Strict")  # fmt: skip
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _encode(Whoami(auth="on", name=actor.name, role=actor.role, email=actor.email, csrf_token=session.csrf))

    async def on_delete(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        cookie = req.get_cookie_values(SESSION_COOKIE)
        if cookie:
            await anyio.to_thread.run_sync(self.store.close_session, cookie[0])
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            resp.unset_cookie(name, path="/", same_site="Strict")
        resp.status = 204


class TokensResource:
    def __init__(self, config: ApiConfig, guard: Guard) -> None:
        self.config = config
        self.store: AccountStore = guard.store

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        tokens = await anyio.to_thread.run_sync(self.store.tokens)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _encode(tokens)

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        body = decode_json(await req.stream.read(64 * 1024), TokenCreate)
        actor = actor_of(req)
        try:
            name = check_user_name(body.name)
            by = actor.name if actor else None
            token = await anyio.to_thread.run_sync(lambda: self.store.create_token(name, body.role, created_by=by))
        except AccountError as exc:
            if "exists" in str(exc):
                conflict(str(exc), "name")
            raise ApiError(422, str(exc), code="invalid", field="name") from None
        await audit(self.config, audit_entry(self.config, actor, "token.create", token=name, role=body.role.value))
        resp.status = 201
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _encode(TokenCreated(token=token, name=name, role=body.role))

    async def on_get_item(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, name: str) -> None:
        info: TokenInfo | None = await anyio.to_thread.run_sync(self.store.token, name)
        if info is None:
            not_found(f"no token named {name!r}", "name")
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _encode(info)

    async def on_delete_item(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, name: str) -> None:
        if not await anyio.to_thread.run_sync(self.store.revoke_token, name):
            not_found(f"no token named {name!r}", "name")
        await audit(self.config, audit_entry(self.config, actor_of(req), "token.revoke", token=name))
        resp.status = 204
