"""The gallery as a view over a few hundred projects, in Chromium: pages (Previous/Next, by
keyboard and without scripts), the search, the status filter and its counts, the order, the
URL that keeps all of it, and a project created elsewhere arriving live at its place."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from helpers import RunningStack, wait_for
from playwright.sync_api import expect

from tests.web.conftest import web_settings

REELS = 300
EXTRA = ["Émile Reel", "Broken Reel"]
PAGE = 60


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """A stack holding REELS ready projects, one with an accented name and one failed spec,
    dropped into its specs folder in bulk as spec files."""
    settings = web_settings(tmp_path_factory.mktemp("many"))
    with RunningStack(settings) as stack:
        specs = settings.specs
        specs.mkdir(parents=True, exist_ok=True)
        bodies = {f"Reel {i:03d}": f"name: Reel {i:03d}\nquality: {('draft', 'standard', 'premium')[i % 3]}\n" for i in range(REELS)}
        bodies |= {"Émile Reel": "name: Émile Reel\n", "Broken Reel": "name: Broken Reel\nqualty: draft\n"}
        for n, (name, body) in enumerate(bodies.items()):
            (specs / f".{n}.tmp").write_text(body, encoding="utf-8")
            os.rename(specs / f".{n}.tmp", specs / f"{name}.yaml")
        with httpx.Client(base_url=stack.api_url, timeout=60) as http:

            def converged() -> bool:
                counts = json.loads(http.get("/api/v1/projects", params={"limit": 0}).headers["X-Status-Counts"])
                return counts["ready"] == REELS + 1 and counts["failed"] == 1

            wait_for(converged, 300, interval=0.5, what="every reel ready")
            stack.http = http
            yield stack


def api_ids(stack, **params) -> list[str]:
    return [p["id"] for p in stack.http.get("/api/v1/projects", params={"limit": PAGE, **params}).json()]


def page_ids(page) -> list[str]:
    return page.eval_on_selector_all("#cards > li", "els => els.map(e => e.id.slice(5))")


def shows(page, ids: list[str], what: str) -> None:
    wait_for(lambda: page_ids(page) == ids, 10, interval=0.05, what=what)


def open_view(page, stack, query: str = ""):
    page.goto(f"{stack.web_url}/{query}")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    return page


def test_pages_by_keyboard_and_the_url_keeps_them(page, many):
    total = REELS + len(EXTRA)
    open_view(page, many)
    expect(page.locator("#cards > li")).to_have_count(PAGE)  # only the first page is rendered
    expect(page.locator("#count")).to_have_text(f"{total} projects")
    expect(page.locator("#page-of")).to_have_text(f"Page 1 of {-(-total // PAGE)}")
    assert page_ids(page) == api_ids(many)
    expect(page.locator("#previous")).to_be_hidden()

    page.focus("#next")
    page.keyboard.press("Enter")
    shows(page, api_ids(many, offset=PAGE), "the second page")
    assert page.url.endswith("/?page=2")
    expect(page.locator("#page-of")).to_have_text(f"Page 2 of {-(-total // PAGE)}")
    page.focus("#previous")
    page.keyboard.press("Enter")
    shows(page, api_ids(many), "the first page again")
    page.go_back()
    shows(page, api_ids(many, offset=PAGE), "the second page, from history")
    page.reload()
    assert page_ids(page) == api_ids(many, offset=PAGE), "a reload renders the same page"
    assert page.errors == []


def test_search_status_and_sort_ask_the_api_and_stay_in_the_url(page, many):
    open_view(page, many)
    page.fill("#filter", "reel 12")
    expect(page.locator("#count")).to_have_text("10 matching projects")
    assert sorted(page_ids(page)) == [f"reel-{i}" for i in range(120, 130)]
    assert "q=reel+12" in page.url

    page.fill("#filter", "ÉMILE")  # any case; the API compares Unicode names case-folded
    shows(page, [api_ids(many, q="Émile")[0]], "the accented name")

    page.fill("#filter", "reel")
    page.select_option("#sort", "name")
    shows(page, api_ids(many, q="reel", sort="name"), "the reels by name")
    assert page_ids(page)[:2] == ["broken-reel", "emile-reel"]  # accents sort among their plain letters
    expect(page.locator("#status-filter option[value=failed]")).to_have_text("failed (1)")
    page.select_option("#status-filter", "failed")
    shows(page, ["broken-reel"], "the failed reel")
    expect(page.locator("#card-broken-reel .failure")).to_contain_text("qualty")
    assert "status=failed" in page.url and "sort=name" in page.url

    shared = page.url
    other = open_view(page.context.new_page(), many, shared[len(many.web_url) + 1 :])
    assert page_ids(other) == ["broken-reel"], "a shared link shows the same view"
    expect(other.locator("#filter")).to_have_value("reel")
    expect(other.locator("#sort")).to_have_value("name")
    expect(other.locator("#status-filter")).to_have_value("failed")

    page.fill("#filter", "no reel has this name")
    page.select_option("#status-filter", "")
    expect(page.locator("#no-match")).to_be_visible()
    expect(page.locator("#cards > li")).to_have_count(0)
    assert page.errors == []


def test_without_scripts_the_first_page_shows_and_next_is_a_link(browser, many):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{many.web_url}/?q=reel+0&sort=name")
    assert page_ids(page) == api_ids(many, q="reel 0", sort="name")
    expect(page.locator("#count")).to_have_text("100 matching projects")
    page.click("#next")
    page.wait_for_url("**/?q=reel+0&sort=name&page=2")
    assert page_ids(page) == api_ids(many, q="reel 0", sort="name", offset=PAGE)
    expect(page.locator("#next")).to_be_hidden()
    page.fill("#filter", "reel 29")
    page.click("#apply-view")  # the plain form, submitted by Enter or Show
    page.wait_for_url("**/?q=reel+29&status=&sort=name")  # every field of the form, the empty status too
    assert len(page_ids(page)) == 10
    page.goto(f"{many.web_url}/?q=reel&page=99")
    expect(page.locator("#past-end")).to_be_visible()
    expect(page.locator("#cards > li")).to_have_count(0)
    page.click("#first-page")
    page.wait_for_url("**/?q=reel")
    expect(page.locator("#cards > li")).to_have_count(PAGE)
    assert page.goto(f"{many.web_url}/?sort=oldest").status == 400
    expect(page.locator("h1")).to_have_text("No such view")
    context.close()


def test_a_project_created_elsewhere_arrives_at_its_place_and_the_counts_follow(page, many):
    open_view(page, many)
    ready = int(page.locator("#status-filter option[value=ready]").inner_text().split("(")[1].rstrip(")"))
    assert many.http.post("/api/v1/projects", json={"name": "Live Reel"}).status_code == 201
    wait_for(lambda: page_ids(page)[:1] == ["live-reel"], 10, interval=0.05, what="the new project first, newest first")
    assert page_ids(page) == api_ids(many), "the page is the API's first page"
    expect(page.locator("#card-live-reel .status")).to_contain_text("ready")
    expect(page.locator("#status-filter option[value=ready]")).to_have_text(f"ready ({ready + 1})")
    expect(page.locator("#count")).to_have_text(f"{REELS + len(EXTRA) + 1} projects")

    # Within a search, a project it matches arrives and the counts follow; one it does not match
    # (created first, so the later arrival proves its event came too) stays away.
    page.fill("#filter", "reel 1")
    expect(page.locator("#count")).to_have_text("100 matching projects")
    assert many.http.post("/api/v1/projects", json={"name": "Elsewhere Film"}).status_code == 201
    assert many.http.post("/api/v1/projects", json={"name": "Reel 1000"}).status_code == 201
    expect(page.locator("#count")).to_have_text("101 matching projects")
    expect(page.locator("#card-reel-1000")).to_be_visible()
    expect(page.locator("#status-filter option[value='']")).to_have_text("All (101)")
    assert "elsewhere-film" not in page_ids(page)
    assert page.errors == []
