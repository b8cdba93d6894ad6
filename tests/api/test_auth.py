"""Who may do what (AUTEUR_AUTH on, proxy, off), over real HTTP against the embedded stack.

The role table is read from the route table itself: every operation is called by nobody,
a viewer, an editor and an admin, and each answer is compared with what its role allows.
"""

from __future__ import annotations

import concurrent.futures
import re
import subprocess
import time

import anyio
import httpx
import msgspec
import pytest
from helpers import RunningStack
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from api.app import create_app
from api.config import ApiConfig
from api.routes import ROUTES
from auteur.accounts import AccountStore
from auteur.identity import Role

ADMIN_TOKEN = "bootstrap-admin-token-for-tests"
RANKS = {None: -1, "viewer": 0, "editor": 1, "admin": 2}
EVIL = "http://evil.example"


def auth_settings(settings, **changes):
    return msgspec.structs.replace(settings, admin_token=ADMIN_TOKEN, **changes)


@pytest.fixture
def auth_stack(api_settings):
    with RunningStack(auth_settings(api_settings, auth="on")) as running:
        yield running


@pytest.fixture
def tokens(auth_stack):
    """A token per role, made through the API by the bootstrap admin token."""
    made = {}
    with httpx.Client(base_url=auth_stack.api_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as http:
        for role in ("viewer", "editor", "admin"):
            answer = http.post("/api/v1/tokens", json={"name": f"{role}-person", "role": role})
            assert answer.status_code == 201, answer.text
            assert answer.json()["name"] == f"{role}-person" and answer.json()["role"] == role
            made[role] = answer.json()["token"]
    return made


def _url(template: str) -> str:
    filled = {"project_id": "no-such-project", "path": "assets/none.txt", "entry": "no-such-entry", "name": "no-such-token"}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: filled[m.group(1)], template)


def _operations():
    for route in ROUTES:
        for method, operation in route.operations.items():
            yield route.template, method, operation.get("x-auteur-role")
        if route.websocket is not None:
            yield route.template, "websocket", route.websocket.get("x-auteur-role")


def _call(base: str, method: str, url: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method == "websocket":
        try:
            with connect(base.replace("http", "ws", 1) + url, additional_headers=headers, open_timeout=10) as ws:
                ws.close()
            return 101
        except InvalidStatus as exc:
            return exc.response.status_code
    body = {"post": {"json": {}}, "patch": {"json": {}}}.get(method, {})
    return httpx.request(method.upper(), base + url, headers=headers, timeout=30, **body).status_code


def test_every_route_answers_each_role_as_the_table_says(auth_stack, tokens):
    checked = 0
    for template, method, role in _operations():
        url = _url(template)
        for who in (None, "viewer", "editor", "admin"):
            status = _call(auth_stack.api_url, method, url, tokens.get(who) if who else None)
            where = f"{method.upper()} {url} as {who or 'nobody'} (needs {role or 'nothing'})"
            if role in (None, "public"):
                assert status not in (401, 403), where
            elif method == "websocket" and (who is None or RANKS[who] < RANKS[role]):
                assert status == 403, where  # a refused handshake is always a 403 (ASGI servers answer no other)
            elif who is None:
                assert status == 401, where
            elif RANKS[who] < RANKS[role]:
                assert status == 403, f"{where}: {status}"
            else:
                assert status not in (401, 403), f"{where}: {status}"
            checked += 1
    assert checked == 4 * sum(1 for _ in _operations()) and checked > 80
    # Purging is part of a DELETE an editor may make: it alone needs the admin.
    editor = {"Authorization": f"Bearer {tokens['editor']}"}
    answer = httpx.delete(f"{auth_stack.api_url}/api/v1/projects/no-such-project?purge=true", headers=editor)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"


def test_a_missing_or_wrong_credential_is_401_with_the_bearer_challenge(auth_stack):
    for headers in ({}, {"Authorization": "Bearer aut_000000000000.wrong"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        answer = httpx.get(f"{auth_stack.api_url}/api/v1/projects", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert answer.json()["error"]["code"] == "unauthorized"
    assert httpx.get(f"{auth_stack.api_url}/health").status_code == 200
    assert httpx.get(f"{auth_stack.api_url}/health/live").status_code == 200


def test_a_browsers_preflight_needs_no_credential(auth_stack):
    """Browsers send the CORS preflight without cookies and give up unless it answers 2xx."""
    gallery = auth_stack.web_url
    asks = {"Origin": gallery, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-csrf-token"}
    for path in ("/api/v1/projects", "/api/v1/session", "/api/v1/projects/no-such-project/assets"):
        answer = httpx.options(f"{auth_stack.api_url}{path}", headers=asks)
        assert answer.status_code == 200, (path, answer.status_code)
        assert answer.headers["Access-Control-Allow-Origin"] == gallery and answer.headers["Access-Control-Allow-Credentials"] == "true"
        assert "x-csrf-token" in answer.headers["Access-Control-Allow-Headers"]
    # and a preflight grants nothing: the request itself still needs its credential
    assert httpx.get(f"{auth_stack.api_url}/api/v1/projects", headers={"Origin": gallery}).status_code == 401


def test_a_revoked_token_stops_at_once_on_every_replica(auth_stack, tokens, api_settings):
    """Two API replicas on one workspace: the second is the same app, served in-process."""
    second = create_app(ApiConfig(settings=auth_settings(api_settings, auth="on")))
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def scenario():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://replica") as replica:
            assert (await replica.get("/api/v1/projects", headers=viewer)).status_code == 200
            with httpx.Client(base_url=auth_stack.api_url) as first:
                assert first.get("/api/v1/tokens/viewer-person", headers=admin).json()["role"] == "viewer"
                assert first.delete("/api/v1/tokens/viewer-person", headers=admin).status_code == 204
                started = time.monotonic()
                assert (await replica.get("/api/v1/projects", headers=viewer)).status_code == 401
                assert first.get("/api/v1/projects", headers=viewer).status_code == 401
                assert time.monotonic() - started < 1.0
                assert first.get("/api/v1/tokens/viewer-person", headers=admin).status_code == 404

    # In a thread of its own: a test before it may have left an event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, scenario).result()
    listed = httpx.get(f"{auth_stack.api_url}/api/v1/tokens", headers=admin).json()
    assert sorted(t["name"] for t in listed) == ["admin-person", "editor-person"]
    assert all("token" not in t and "hash" not in t for t in listed)
    actions = [
        (e["action"], e["actor"], e["details"].get("token"))
        for e in httpx.get(f"{auth_stack.api_url}/api/v1/audit", headers=admin).json()["items"]
    ]
    assert actions[0] == ("token.revoke", "admin", "viewer-person") and ("token.create", "admin", "editor-person") in actions
    stored = (api_settings.state / "auth" / "accounts.json").read_text()
    assert tokens["editor"] not in stored and tokens["editor"].split(".", 1)[1] not in stored


def test_sign_in_with_the_cookie_needs_the_csrf_token_and_sign_out_ends_it(auth_stack, api_settings):
    AccountStore(api_settings.state).add_user("ada", Role.EDITOR, email="ada@studio.example", password="correct horse")
    with httpx.Client(base_url=auth_stack.api_url) as http:
        wrong = http.post("/api/v1/session", json={"username": "ada", "password": "wrong horse"})
        assert wrong.status_code == 401 and "auteur_session" not in http.cookies
        signed = http.post("/api/v1/session", json={"username": "ada", "password": "correct horse"})
        assert signed.status_code == 200, signed.text
        body = signed.json()
        assert (body["name"], body["role"], body["email"]) == ("ada", "editor", "ada@studio.example")
        session_cookie = next(c for c in signed.headers.get_list("set-cookie") if c.startswith("auteur_session="))
        assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
        assert http.cookies["auteur_csrf"] == body["csrf_token"]
        assert http.get("/api/v1/session").json()["name"] == "ada"
        # the cookie alone does not make a change: that is what a forged cross-site request would carry
        refused = http.post("/api/v1/projects", json={"name": "Via Cookie"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
        assert not list(api_settings.specs.glob("*.yaml"))
        made = http.post("/api/v1/projects", json={"name": "Via Cookie"}, headers={"X-CSRF-Token": body["csrf_token"]})
        assert made.status_code == 201, made.text
        assert http.delete("/api/v1/session").status_code == 204
        assert "auteur_session" not in http.cookies
        old = httpx.get(f"{auth_stack.api_url}/api/v1/projects", cookies={"auteur_session": session_cookie.split(";")[0].split("=", 1)[1]})
        assert old.status_code == 401


def test_failed_sign_ins_slow_that_address_only(auth_stack, api_settings):
    AccountStore(api_settings.state).add_user("bea", Role.VIEWER, password="right password")
    other = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=auth_stack.api_url) as guesser, httpx.Client(base_url=auth_stack.api_url, transport=other) as bea:
        answers = [guesser.post("/api/v1/session", json={"username": "bea", "password": f"guess {i}"}).status_code for i in range(12)]
        assert answers[:10] == [401] * 10 and answers[10:] == [429, 429]
        slowed = guesser.post("/api/v1/session", json={"username": "bea", "password": "right password"})
        assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) > 0
        # bea herself, from her own address, is not locked out by the guesses
        assert bea.post("/api/v1/session", json={"username": "bea", "password": "right password"}).status_code == 200


def test_proxy_mode_believes_forwarded_users_only_from_trusted_addresses(api_settings):
    settings = auth_settings(api_settings, auth="proxy", trusted_proxies=("127.0.0.2",), proxy_role="editor")
    AccountStore(settings.state).add_user("chief", Role.ADMIN, email="chief@studio.example")
    forwarded = {"X-Forwarded-User": "dora", "X-Forwarded-Email": "dora@studio.example"}
    with RunningStack(settings) as stack:
        proxy = httpx.Client(base_url=stack.api_url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        elsewhere = httpx.Client(base_url=stack.api_url)
        with proxy, elsewhere:
            me = proxy.get("/api/v1/session", headers=forwarded).json()
            assert (me["auth"], me["name"], me["role"], me["email"]) == ("proxy", "dora", "editor", "dora@studio.example")
            assert proxy.post("/api/v1/projects", json={"name": "Proxied"}, headers=forwarded).status_code == 201
            # a known user keeps their own role
            assert proxy.get("/api/v1/session", headers={"X-Forwarded-User": "chief"}).json()["role"] == "admin"
            # the same headers from an address that is not the proxy are ignored
            assert elsewhere.get("/api/v1/session", headers=forwarded).status_code == 401
            assert elsewhere.post("/api/v1/projects", json={"name": "Spoofed"}, headers=forwarded).status_code == 401
            assert elsewhere.get("/api/v1/projects", headers={**forwarded, "X-Forwarded-For": "127.0.0.2"}).status_code == 401
    assert sorted(p.name for p in settings.specs.glob("*.yaml")) == ["Proxied.yaml"]
    # the person the proxy named is the author of the project's commit, as the real git reads it
    log = subprocess.run(["git", "log", "--format=%an <%ae>|%cn <%ce>"], cwd=settings.workspace / "Proxied",
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert " ".join(log) == "dora <dora@studio.example>|Auteur <auteur@localhost>"


@pytest.mark.parametrize("mode", ["off", "on"])
def test_cross_site_requests_are_refused_and_change_nothing(api_settings, mode):
    settings = auth_settings(api_settings, auth=mode)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if mode == "on" else {}
    with RunningStack(settings) as stack, httpx.Client(base_url=stack.api_url, headers=admin) as http:
        assert http.post("/api/v1/projects", json={"name": "Target"}).status_code == 201
        gallery = stack.web_url.replace("127.0.0.1", "localhost")
        for headers in ({"Origin": EVIL}, {"Referer": f"{EVIL}/page.html"}, {"Origin": "null"}):
            created = http.post("/api/v1/projects", json={"name": "Forged"}, headers=headers)
            assert created.status_code == 403 and created.json()["error"]["code"] == "cross_site", headers
            upload = http.post("/api/v1/projects/target/assets?asset_type=audio", files={"files": ("take.wav", b"RIFF....")},
                               headers=headers)  # fmt: skip
            assert upload.status_code == 403, headers
            assert http.delete("/api/v1/projects/target", headers=headers).status_code == 403
        assert http.get("/api/v1/projects", headers={"Origin": EVIL}).status_code == 200  # reading is not a change
        assert http.post("/api/v1/projects", json={"name": "From Gallery"}, headers={"Origin": gallery}).status_code == 201
        names = sorted(p["name"] for p in http.get("/api/v1/projects").json())
        assert names == ["From Gallery", "Target"]
        assert [p.name for p in (settings.workspace / "Target" / "assets" / "audio").iterdir()] == [".gitkeep"]
        assert not (settings.state / "uploads").exists() or not list((settings.state / "uploads").rglob("*"))
        socket = stack.api_url.replace("http", "ws", 1) + "/api/v1/events"
        with pytest.raises(InvalidStatus) as refused:
            connect(socket, origin=EVIL, additional_headers=admin, open_timeout=10)
        assert refused.value.response.status_code == 403
        with connect(socket, origin=gallery, additional_headers=admin, open_timeout=10) as ws:
            ws.close()


@pytest.mark.parametrize("mode", ["off", "on"])
def test_the_document_declares_the_bearer_scheme_only_with_auth_on(api_settings, mode):
    with RunningStack(auth_settings(api_settings, auth=mode)) as stack:
        document = httpx.get(f"{stack.api_url}/openapi.json").json()
    create = document["paths"]["/api/v1/projects"]["post"]
    assert "403" in create["responses"]  # the cross-site refusal, in every mode
    if mode == "off":
        assert "securitySchemes" not in document["components"] and "security" not in document
        assert "401" not in create["responses"]
    else:
        assert document["components"]["securitySchemes"]["bearer"] == {**document["components"]["securitySchemes"]["bearer"],
                                                                       "type": "http", "scheme": "bearer"}  # fmt: skip
        assert {"401", "403", "429"} <= set(create["responses"])
        assert document["paths"]["/api/v1/session"]["post"]["security"] == []
