"""The gallery's server side without a browser: pages rendered from a fake API
(httpx.MockTransport), the choice of card pictures, and the formatting helpers."""

from __future__ import annotations

import re
import time

import falcon.testing
import httpx
import pytest
from helpers import ThreadedTestClient

from web.app import content_security_policy, create_app
from web.formatting import file_size, relative_time
from web.pages import group_assets
from web.pictures import Choice, choose_picture, hue_of, initials_of

API = "http://api.internal:8000"
PUBLIC = "http://localhost:8000"


def project(i: int, **extra) -> dict:
    return {
        "id": f"film-{i}", "name": f"Film {i}", "quality": "standard", "status": "ready", "conditions": [],
        "created_at": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z", "current_commit": f"{i:040x}",
        "last_commit_at": 1_767_225_600.0, "asset_count": i % 7, **extra,
    }  # fmt: skip


class FakeApi:
    """Answers like the REST API, from dicts; counts requests."""

    def __init__(self, projects: list[dict], assets: dict[str, list[dict]] | None = None, posters: set[str] = frozenset()) -> None:
        self.projects = {p["id"]: p for p in projects}
        self.assets = assets or {}
        self.posters = posters
        self.requests: list[str] = []
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        path = request.url.path
        if path == "/api/v1/projects":
            return httpx.Response(200, json=list(self.projects.values()))
        if match := re.fullmatch(r"/api/v1/projects/([^/]+)/posters/(.+)", path):
            return httpx.Response(200 if match[2] in self.posters else 404)
        if match := re.fullmatch(r"/api/v1/projects/([^/]+)(/git/status|/assets)?", path):
            if match[1] not in self.projects:
                return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})
            if match[2] == "/assets":
                return httpx.Response(200, json=self.assets.get(match[1], []))
            if match[2] == "/git/status":
                p = self.projects[match[1]]
                return httpx.Response(200, json={"id": p["id"], "current_commit": p["current_commit"], "is_dirty": True})
            return httpx.Response(200, json=self.projects[match[1]])
        return httpx.Response(404)


def client_for(fake: FakeApi) -> falcon.testing.TestClient:
    return ThreadedTestClient(create_app(API, PUBLIC, transport=httpx.MockTransport(fake)))


def test_the_gallery_renders_every_card_newest_first_with_their_facts():
    fake = FakeApi([project(i) for i in range(3, 0, -1)] + [project(9, status="failed", last_error="bad spec: qualty", quality=None)])
    page = client_for(fake).simulate_get("/")
    assert page.status_code == 200
    html = page.text
    assert re.findall(r'id="card-([^"]+)"', html) == ["film-3", "film-2", "film-1", "film-9"]
    assert 'data-initials="F3"' in html and '<meta name="auteur-api" content="http://localhost:8000">' in html
    assert "bad spec: qualty" in html
    assert page.headers["content-security-policy"] == content_security_policy(PUBLIC)
    assert fake.requests == ["GET /api/v1/projects"], "the gallery reads the list once, never per project"


def test_names_are_escaped():
    html = client_for(FakeApi([project(1, name="<script>alert(1)</script>")])).simulate_get("/").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_the_project_page_groups_assets_by_type():
    assets = [
        {"path": "assets/audio/b.wav", "asset_type": "audio", "size": 2048, "lfs": True, "committed": True},
        {"path": "assets/scripts/a.txt", "asset_type": "scripts", "size": 10, "lfs": False, "committed": False},
        {"path": "outputs/renders/final.mp4", "asset_type": "renders", "size": 5 << 20, "lfs": True, "committed": True},
    ]
    page = client_for(FakeApi([project(1)], {"film-1": assets})).simulate_get("/project/film-1")
    assert page.status_code == 200
    groups = re.findall(r'<h3 id="group-([a-z]+)"', page.text)
    assert groups == ["scripts", "audio", "renders"]
    assert "dirty" in page.text and "5 MB" in page.text and "uncommitted" in page.text
    assert f'href="{PUBLIC}/api/v1/projects/film-1/assets/outputs/renders/final.mp4"' in page.text


def test_unknown_project_and_unreachable_api_are_pages_not_tracebacks():
    fake = FakeApi([project(1)])
    client = client_for(fake)
    assert client.simulate_get("/project/nope").status_code == 404
    assert "Page not found" in client.simulate_get("/no/such/page").text
    fake.down = True
    down = client.simulate_get("/")
    assert down.status_code == 502 and "The API is not answering" in down.text
    assert '<meta http-equiv="refresh" content="5">' in down.text, "it retries by itself"
    assert client.simulate_get("/health").json == {"status": "ok"}


@pytest.mark.parametrize(
    ("assets", "posters", "status", "location"),
    [
        ([], set(), 404, None),
        ([{"path": "assets/styles/old.png", "mtime": 1.0}, {"path": "assets/styles/new.JPG", "mtime": 2.0}], set(), 302,
         f"{PUBLIC}/api/v1/projects/film-1/assets/assets/styles/new.JPG"),
        ([{"path": "assets/styles/frame.exr", "mtime": 3.0}], set(), 404, None),
        ([{"path": "outputs/edits/cut 2.mov", "mtime": 3.0}], {"outputs/edits/cut 2.mov"}, 302,
         f"{PUBLIC}/api/v1/projects/film-1/posters/outputs/edits/cut%202.mov"),
        ([{"path": "outputs/edits/cut.mp4", "mtime": 3.0}], set(), 200, None),  # the "video" badge until the poster exists
    ],
)  # fmt: skip
def test_the_card_picture(assets, posters, status, location):
    answer = client_for(FakeApi([project(1)], {"film-1": assets}, posters)).simulate_get("/picture/film-1")
    assert answer.status_code == status
    assert answer.headers.get("location") == location
    assert answer.headers["cache-control"] == "no-cache"


def test_choose_picture_prefers_the_newest_image_over_any_video():
    assets = [{"path": "a/v.mp4", "mtime": 9.0}, {"path": "a/i.png", "mtime": 1.0}]
    assert choose_picture(assets) == Choice("image", "a/i.png")
    assert choose_picture(assets[:1]) == Choice("video", "a/v.mp4")


def test_static_files_are_versioned_and_cached_for_good():
    client = client_for(FakeApi([]))
    html = client.simulate_get("/").text
    url = re.search(r'src="(/static/app\.js\?v=[0-9a-f]+)"', html)[1]
    path, _, query = url.partition("?")
    answer = client.simulate_get(path, query_string=query)
    assert answer.status_code == 200 and "immutable" in answer.headers["cache-control"]


def test_every_answer_carries_the_policy_and_nosniff():
    policy = content_security_policy(PUBLIC)
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["script-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    fake = FakeApi([project(1)], {"film-1": [{"path": "outputs/edits/cut.mp4", "mtime": 1.0}]})
    client = client_for(fake)
    static = re.search(r'src="(/static/app\.js)\?v=', client.simulate_get("/").text)[1]
    html = {
        "gallery": client.simulate_get("/"),
        "project": client.simulate_get("/project/film-1"),
        "assets fragment": client.simulate_get("/project/film-1/assets"),
        "unknown project": client.simulate_get("/project/nope"),
        "no such page": client.simulate_get("/no/such/page"),
    }
    other = {
        "video badge": client.simulate_get("/picture/film-1"),
        "no picture": client.simulate_get("/picture/nope"),
        "static file": client.simulate_get(static),
        "health": client.simulate_get("/health"),
        "wrong method": client.simulate_post("/"),
    }
    fake.down = True
    html["API down"] = client.simulate_get("/")
    other["fragment, API down, as a browser asks"] = client.simulate_get(
        "/project/film-1/assets", headers={"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    )
    assert [a.status_code for a in html.values()] == [200, 200, 200, 404, 404, 502]
    assert [a.status_code for a in other.values()] == [200, 404, 200, 200, 405, 502]
    assert other["video badge"].headers["content-type"] == "image/svg+xml"
    for kind, answer in {**html, **other}.items():
        assert answer.headers["x-content-type-options"] == "nosniff", kind
        assert answer.headers["content-security-policy"] == policy, kind
    for kind, answer in html.items():
        assert answer.headers["content-type"].startswith("text/html"), kind


def test_1000_cards_render_quickly():
    """Not a benchmark (bench/web_bench.py is): a guard against a quadratic template."""
    client = client_for(FakeApi([project(i) for i in range(1000)]))
    client.simulate_get("/")
    started = time.perf_counter()
    page = client.simulate_get("/")
    elapsed = time.perf_counter() - started
    assert page.text.count('class="card"') == 1000
    assert elapsed < 2.0, f"rendering 1,000 cards took {elapsed:.2f}s"


def test_formatting():
    now = 1_800_000_000.0
    assert relative_time(None) == "never"
    assert relative_time(now - 10, now) == "just now"
    assert relative_time(now - 600, now) == "10 min ago"
    assert relative_time(now - 7300, now) == "2 h ago"
    assert relative_time("2027-01-11T08:00:00Z", now) == "4 d ago"
    assert file_size(512) == "512 B" and file_size(1536) == "1.5 KB" and file_size(5 << 30) == "5 GB"
    assert initials_of("My Film") == "MF" and initials_of("映画") == "映画" and initials_of("x") == "X"
    assert 0 <= hue_of("my-film") < 12 and hue_of("my-film") == hue_of("my-film")


def test_group_assets_keeps_the_layout_order_and_an_other_group():
    groups = group_assets([{"path": "assets/loose.txt", "asset_type": None}, {"path": "outputs/edits/b", "asset_type": "edits"},
                           {"path": "assets/characters/a", "asset_type": "characters"}])  # fmt: skip
    assert [kind for kind, _ in groups] == ["characters", "edits", "other"]


def test_a_view_the_gallery_cannot_show_is_a_400_and_the_api_is_not_asked():
    fake = FakeApi([project(1)])
    client = client_for(fake)
    for query in ("sort=oldest", "status=done", "page=0", "page=two", "page=%EF%BC%92", "q=" + "x" * 101):
        page = client.simulate_get("/", query_string=query)
        assert page.status_code == 400, query
        assert "No such view" in page.text, query
    assert "GET /api/v1/projects" not in fake.requests
    assert client.simulate_get("/", query_string="q=" + "x" * 100 + "&page=3&sort=changed").status_code == 200
