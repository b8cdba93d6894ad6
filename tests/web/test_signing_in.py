"""Signing in to the gallery (AUTEUR_AUTH=on) in a real browser, against the real stack.

One stack with a viewer, an editor and an admin: the sign-in form (a wrong password shows
the API's message; the right one lands on the page asked for, showing the name), signing
out, and the actions each role is shown; and with auth off, no sign-in anywhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import msgspec
import pytest
from helpers import RunningStack, wait_for
from playwright.sync_api import expect

from auteur.accounts import AccountStore
from auteur.identity import Role
from tests.web.conftest import web_settings

ADMIN_TOKEN = "gallery-tests-admin-token"
PASSWORDS = {"vic": "viewer's password", "eda": "editor's password", "ada": "admin's password"}
SHOTS = Path("/tmp/auteur-gallery-shots")  # screenshots of the signed-in gallery, for people to look at


@pytest.fixture(autouse=True, scope="module")
def _shots():
    SHOTS.mkdir(parents=True, exist_ok=True)


def signing_in_stack(root: Path) -> RunningStack:
    """The embedded stack with AUTEUR_AUTH=on and a person of each role."""
    settings = msgspec.structs.replace(web_settings(root), auth="on", admin_token=ADMIN_TOKEN)
    store = AccountStore(settings.state)
    store.add_user("vic", Role.VIEWER, email="vic@studio.example", password=PASSWORDS["vic"])
    store.add_user("eda", Role.EDITOR, email="eda@studio.example", password=PASSWORDS["eda"])
    store.add_user("ada", Role.ADMIN, email="ada@studio.example", password=PASSWORDS["ada"])
    return RunningStack(settings)


@pytest.fixture(scope="module")
def auth_stack(tmp_path_factory):
    with signing_in_stack(tmp_path_factory.mktemp("auth")) as stack:
        yield stack


@pytest.fixture(scope="module")
def admin_api(auth_stack):
    with httpx.Client(base_url=auth_stack.api_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60) as client:
        yield client


def sign_in(page, stack, name: str, password: str | None = None, path: str = "/") -> None:
    page.goto(stack.web_url + path)
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill('input[name="username"]', name)
    page.fill('input[name="password"]', password or PASSWORDS[name])
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_shows_the_apis_refusal_then_lands_where_asked_and_sign_out_asks_again(page, auth_stack, admin_api):
    assert admin_api.post("/api/v1/projects", json={"name": "Signed Film"}).status_code == 201
    sign_in(page, auth_stack, "eda", "not the password", path="/project/signed-film")
    error = page.locator("#si-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("wrong user name or password")
    page.screenshot(path=str(SHOTS / "login-refused.png"))
    assert "/login" in page.url and "auteur_session" not in {c["name"] for c in page.context.cookies()}

    page.fill('input[name="password"]', PASSWORDS["eda"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{auth_stack.web_url}/project/signed-film")
    expect(page.locator("h1")).to_have_text("Signed Film")
    whoami = page.locator("#whoami")
    expect(whoami).to_contain_text("eda")
    expect(whoami.locator(".role")).to_have_text("editor")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")  # the event socket took the cookie
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["auteur_session"]["httpOnly"] and not cookies["auteur_csrf"]["httpOnly"]

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{auth_stack.web_url}/login")
    expect(page.locator("#sign-in-form")).to_be_visible()
    expect(page.locator("#whoami")).to_have_count(0)
    assert not {"auteur_session", "auteur_csrf"} & {c["name"] for c in page.context.cookies()}
    page.goto(auth_stack.web_url + "/")
    page.wait_for_url(f"{auth_stack.web_url}/login?next=%2F")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.errors == []


def test_too_many_wrong_passwords_say_when_to_try_again(page, tmp_path):
    with signing_in_stack(tmp_path) as stack:  # its own: the guesses lock this address out for a minute
        page.goto(stack.web_url + "/login")
        for attempt in range(11):
            page.fill('input[name="username"]', "vic")
            page.fill('input[name="password"]', f"guess {attempt}")
            with page.expect_response(lambda r: r.url.endswith("/api/v1/session") and r.request.method == "POST"):
                page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#si-error")).to_contain_text(re.compile(r"try again in \d+ s"))


def test_a_viewer_sees_no_create_upload_or_delete(page, auth_stack, admin_api):
    assert admin_api.post("/api/v1/projects", json={"name": "Viewed Film"}).status_code == 201
    sign_in(page, auth_stack, "vic")
    page.wait_for_url(f"{auth_stack.web_url}/")
    expect(page.locator("#card-viewed-film")).to_be_visible()
    expect(page.locator("#whoami")).to_contain_text("vic")
    expect(page.locator("#whoami .role")).to_have_text("viewer")
    expect(page.get_by_role("button", name="New Project")).to_have_count(0)
    expect(page.locator("#new-project-dialog, #new-project-form")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "gallery-viewer.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / "gallery-viewer-narrow.png"))
    page.set_viewport_size({"width": 1280, "height": 800})

    page.locator("#card-viewed-film .card-link").click()
    page.wait_for_url("**/project/viewed-film")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    for hidden in ("#delete-project", "#delete-dialog", "#upload", "#upload-form", 'input[type="file"]', "#confirm-purge", "#edit-form"):
        expect(page.locator(hidden)).to_have_count(0)
    expect(page.locator("#assets-body > p")).to_have_text("No assets yet.")
    # still live: a change made elsewhere shows up for the viewer too
    assert admin_api.patch("/api/v1/projects/viewed-film", json={"quality": "premium"}).status_code == 200
    expect(page.locator('[data-field="quality"]')).to_have_text("premium", timeout=10_000)
    assert page.errors == []


def test_an_editor_creates_from_the_gallery_form_with_the_csrf_header_and_sees_no_purge(page, auth_stack, admin_api):
    sign_in(page, auth_stack, "eda")
    page.wait_for_url(f"{auth_stack.web_url}/")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    page.get_by_role("button", name="New Project").click()
    page.fill('input[name="name"]', "Editor Film")
    with page.expect_request(lambda r: r.url.endswith("/api/v1/projects") and r.method == "POST") as sent:
        page.click('#new-project-form button[type="submit"]')
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "auteur_csrf")
    assert sent.value.headers.get("x-csrf-token") == csrf
    assert sent.value.response().status == 201
    page.wait_for_url("**/project/editor-film", timeout=30_000)
    expect(page.locator('[data-field="status-badge"]')).to_contain_text("ready")
    assert admin_api.get("/api/v1/projects/editor-film").status_code == 200

    expect(page.locator("#upload-form")).to_be_visible()
    page.get_by_role("button", name="Delete project").click()
    dialog = page.locator("#delete-dialog")
    expect(dialog.get_by_role("button", name="Delete", exact=True)).to_be_visible()
    expect(page.locator("#confirm-purge")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "project-editor-delete.png"))
    dialog.get_by_role("button", name="Delete", exact=True).click()  # to the trash: an editor may
    page.wait_for_url(f"{auth_stack.web_url}/?deleted=*", timeout=30_000)
    expect(page.locator(".flash")).to_contain_text("Moved “Editor Film” to the trash")
    assert "editor-film" in {e["id"] for e in admin_api.get("/api/v1/trash").json()}
    assert page.errors == []


def test_an_admin_sees_the_purge_and_it_purges(page, auth_stack, admin_api):
    assert admin_api.post("/api/v1/projects", json={"name": "Purged Film"}).status_code == 201
    sign_in(page, auth_stack, "ada", path="/project/purged-film")
    page.wait_for_url("**/project/purged-film")
    expect(page.locator("#whoami .role")).to_have_text("admin")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    page.get_by_role("button", name="Delete project").click()
    purge = page.get_by_role("button", name="Delete for good")
    expect(purge).to_be_visible()
    page.screenshot(path=str(SHOTS / "project-admin-delete.png"))
    with page.expect_request(lambda r: "purge=true" in r.url and r.method == "DELETE") as sent:
        purge.click()
    assert sent.value.headers.get("x-csrf-token")
    page.wait_for_url(f"{auth_stack.web_url}/?deleted=*", timeout=30_000)
    expect(page.locator(".flash")).to_contain_text("Deleted “Purged Film” for good")
    assert admin_api.get("/api/v1/projects/purged-film").status_code == 404
    wait_for(lambda: "purged-film" not in {e["id"] for e in admin_api.get("/api/v1/trash").json()}, 30, what="the purge")
    page.screenshot(path=str(SHOTS / "gallery-admin.png"))
    assert page.errors == []


def test_with_auth_off_there_is_no_sign_in_anywhere(page, web_stack):
    page.goto(web_stack.web_url + "/")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.get_by_role("button", name="New Project")).to_be_visible()
    for absent in ("#whoami", "#sign-out", "#sign-in-form"):
        expect(page.locator(absent)).to_have_count(0)
    page.goto(web_stack.web_url + "/login?next=/")
    page.wait_for_url(f"{web_stack.web_url}/")  # nothing to sign in to
    expect(page.locator("#sign-in-form")).to_have_count(0)
