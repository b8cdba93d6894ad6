"""The gallery's server side with auth on, without a browser: which credentials go to the
API, the redirect to the sign-in page, its ``next``, and the actions each role is shown.

The fake API answers like the real one with AUTEUR_AUTH=on (401 without a known session)
or off; tests/web/test_signing_in.py runs the same paths in Chromium against the real one.
"""

from __future__ import annotations

import re

import httpx
import pytest
from helpers import ThreadedTestClient

from tests.web.test_app import API, PUBLIC, FakeApi, project
from web.app import create_app
from web.visitors import local_path

PEOPLE = {
    "s-viewer": {"name": "vic", "role": "viewer", "email": "vic@studio.example"},
    "s-editor": {"name": "eda", "role": "editor", "email": None},
    "s-admin": {"name": "ada", "role": "admin", "email": None},
}


class AuthFakeApi(FakeApi):
    """The fake API behind a sign-in: a session cookie of PEOPLE, a bearer token, or 401."""

    def __init__(self, projects: list[dict], auth: str = "on") -> None:
        super().__init__(projects)
        self.auth = auth
        self.seen: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.headers)
        person = self.person(request)
        if self.auth != "off" and person is None:
            return httpx.Response(401, json={"error": {"code": "unauthorized", "message": "sign in"}})
        if request.url.path == "/api/v1/session":
            if self.auth == "off":
                return httpx.Response(200, json={"auth": "off", "name": None, "role": "admin"})
            return httpx.Response(200, json={"auth": self.auth, **person})
        answer = super().__call__(request)
        # an API (or something between) setting a cookie on a read must not make it anybody else's
        answer.headers["Set-Cookie"] = "auteur_session=s-admin; Path=/"
        return answer

    def person(self, request: httpx.Request) -> dict | None:
        cookie = request.headers.get("cookie", "")
        found = re.fullmatch(r"auteur_session=([\w-]+)", cookie)
        if found and found[1] in PEOPLE:
            return PEOPLE[found[1]]
        if request.headers.get("authorization") == "Bearer good-token":
            return PEOPLE["s-editor"]
        if self.auth == "proxy" and request.headers.get("x-forwarded-user"):
            return {"name": request.headers["x-forwarded-user"], "role": "viewer", "email": request.headers.get("x-forwarded-email")}
        return None


def client_for(fake: FakeApi, **options) -> ThreadedTestClient:
    return ThreadedTestClient(create_app(API, PUBLIC, transport=httpx.MockTransport(fake), **options))


def as_(session: str) -> dict:
    return {"Cookie": f"theme=dark; auteur_session={session}; auteur_csrf=csrf-value"}


def test_only_the_session_cookie_and_authorization_go_to_the_api_and_never_to_the_next_person():
    fake = AuthFakeApi([project(1)])
    client = client_for(fake)
    assert client.simulate_get("/", headers=as_("s-editor")).status_code == 200
    assert {h.get("cookie") for h in fake.seen} == {"auteur_session=s-editor"}, "no other cookie, no CSRF token"
    fake.seen.clear()
    # the next request is somebody else's: nothing of the editor's (nor the cookie the API set) rides along
    assert client.simulate_get("/").status_code == 303
    assert [h.get("cookie") for h in fake.seen] == [None]
    fake.seen.clear()
    page = client.simulate_get("/project/film-1", headers={"Authorization": "Bearer good-token"})
    assert page.status_code == 200 and "eda" in page.text
    assert all(h.get("authorization") == "Bearer good-token" and h.get("cookie") is None for h in fake.seen) and len(fake.seen) == 5


@pytest.mark.parametrize(
    ("path", "location"),
    [("/", "/login?next=%2F"), ("/project/film-1?x=1", "/login?next=%2Fproject%2Ffilm-1%3Fx%3D1")],
)
def test_a_page_nobody_may_read_sends_the_browser_to_sign_in(path, location):
    client = client_for(AuthFakeApi([project(1)]))
    url, _, query = path.partition("?")
    answer = client.simulate_get(url, query_string=query or None)
    assert (answer.status_code, answer.headers["location"]) == (303, location)
    assert client.simulate_get("/picture/film-1").status_code == 404, "a card picture keeps its placeholder"
    assert client.simulate_get("/project/film-1/assets").status_code == 401
    stale = client.simulate_get("/", headers=as_("s-ended"))
    assert stale.status_code == 303, "an ended session signs in again"


def test_the_sign_in_page():
    client = client_for(AuthFakeApi([project(1)]))
    page = client.simulate_get("/login", query_string="next=/project/film-1")
    assert page.status_code == 200
    assert 'id="sign-in-form"' in page.text and 'data-next="/project/film-1"' in page.text
    assert re.search(r'<script src="/static/login\.js\?v=\w+" defer>', page.text)
    assert "<script>" not in page.text, "no inline script: the CSP forbids it"
    assert 'id="live"' not in page.text and 'id="sign-out"' not in page.text
    hostile = client.simulate_get("/login", query_string="next=//evil.example/x")
    assert 'data-next="/"' in hostile.text
    # nothing to sign in to: straight on
    off = client_for(AuthFakeApi([project(1)], auth="off")).simulate_get("/login", query_string="next=/project/film-1")
    assert (off.status_code, off.headers["location"]) == (303, "/project/film-1")


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/project/film-1?tab=assets", True), ("/", True), (None, False), ("", False), ("project/x", False),
        ("//evil.example/", False), ("/\\evil.example", False), ("https://evil.example/", False),
        ("/x\r\nLocation: https://evil.example", False), ("javascript:alert(1)", False),
    ],
)  # fmt: skip
def test_next_must_be_a_path_here(target, kept):
    assert local_path(target) == (target if kept else "/")


def actions_of(html: str) -> set[str]:
    found = {"create": 'id="new-project"' in html, "delete": 'id="delete-project"' in html, "upload": 'id="upload-form"' in html,
             "purge": 'id="confirm-purge"' in html, "sign-out": 'id="sign-out"' in html,
             "restore": "data-can-restore" in html}  # fmt: skip
    return {name for name, shown in found.items() if shown}


@pytest.mark.parametrize(
    ("session", "shown"),
    [
        ("s-viewer", {"sign-out"}),
        ("s-editor", {"sign-out", "create", "delete", "upload", "restore"}),
        ("s-admin", {"sign-out", "create", "delete", "upload", "restore", "purge"}),
    ],
)
def test_each_role_is_shown_its_actions_and_its_name(session, shown):
    client = client_for(AuthFakeApi([project(1)]))
    gallery = client.simulate_get("/", headers=as_(session)).text
    page = client.simulate_get("/project/film-1", headers=as_(session)).text
    assert actions_of(gallery + page) == shown
    person = PEOPLE[session]
    for html in (gallery, page):
        whoami = re.search(r'<div class="whoami" id="whoami">(.*?)</div>', html, re.S)[1]
        assert person["name"] in whoami and f">{person['role']}</span>" in whoami
    fragment = client.simulate_get("/project/film-1/assets", headers=as_(session)).text
    assert ("Upload some below" in fragment) == ("upload" in shown)
    assert ("data-can-restore" in fragment) == ("restore" in shown)  # the refreshed part too


def test_with_auth_off_the_pages_show_no_sign_in_and_every_action_but_the_purge():
    client = client_for(AuthFakeApi([project(1)], auth="off"))
    for headers in ({}, as_("s-viewer")):  # a cookie left from when auth was on changes nothing
        html = client.simulate_get("/", headers=headers).text + client.simulate_get("/project/film-1", headers=headers).text
        assert actions_of(html) == {"create", "delete", "upload", "restore"}
        assert "whoami" not in html and "Sign out" not in html


def test_the_proxys_identity_is_passed_on_only_from_a_trusted_proxy():
    fake = AuthFakeApi([project(1)], auth="proxy")
    client = client_for(fake, trusted_proxies=("10.0.0.0/8",))
    forwarded = {"X-Forwarded-User": "dora", "X-Forwarded-Email": "dora@studio.example"}
    page = client.simulate_get("/", headers=forwarded, remote_addr="10.1.2.3")
    assert page.status_code == 200
    assert "dora" in page.text and "signed in through the proxy" in page.text and 'id="sign-out"' not in page.text
    assert client_for(AuthFakeApi([project(1)], auth="proxy"), trusted_proxies=("10.0.0.0/8",)).simulate_get(
        "/login", headers=forwarded, remote_addr="10.1.2.3").status_code == 303, "the proxy signed them in"  # fmt: skip
    fake.seen.clear()
    spoofed = client.simulate_get("/", headers=forwarded, remote_addr="192.0.2.7")
    assert spoofed.status_code == 303 and all("x-forwarded-user" not in h for h in fake.seen)
