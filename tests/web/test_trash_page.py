"""The trash page (/trash) in a real browser, against the real stack with auth on: who deleted
what and when, Restore for editors, Purge (after a confirmation) for admins, nothing for viewers;
and the link to it in every page's header."""

from __future__ import annotations

import re

import httpx
import pytest
from helpers import wait_for
from playwright.sync_api import expect

from tests.web.test_signing_in import ADMIN_TOKEN, sign_in, signing_in_stack


@pytest.fixture(scope="module")
def trash_stack(tmp_path_factory):
    with signing_in_stack(tmp_path_factory.mktemp("trash")) as stack:
        yield stack


@pytest.fixture(scope="module")
def admin_api(trash_stack):
    with httpx.Client(base_url=trash_stack.api_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def cutter(trash_stack, admin_api):
    """An editor's token named "cutter": who deletes the projects here."""
    answer = admin_api.post("/api/v1/tokens", json={"name": "cutter", "role": "editor"})
    assert answer.status_code == 201, answer.text
    with httpx.Client(base_url=trash_stack.api_url, headers={"Authorization": f"Bearer {answer.json()['token']}"}, timeout=60) as client:
        yield client


def trashed(admin_api, cutter, name: str) -> dict:
    """A project made, then deleted by cutter: its trash entry."""
    assert admin_api.post("/api/v1/projects", json={"name": name}).status_code == 201
    project_id = admin_api.get("/api/v1/projects").json()[0]["id"]
    assert cutter.delete(f"/api/v1/projects/{project_id}").status_code == 204
    return next(e for e in admin_api.get("/api/v1/trash").json() if e["id"] == project_id)


def test_an_editor_sees_who_deleted_what_and_restores_it(page, trash_stack, admin_api, cutter, shots):
    entry = trashed(admin_api, cutter, "Trashed Film")
    sign_in(page, trash_stack, "eda", path="/trash")
    page.wait_for_url(f"{trash_stack.web_url}/trash")
    row = page.locator(f'.trash-entry[data-entry="{entry["entry"]}"]')
    expect(row.locator(".trash-name")).to_have_text("Trashed Film")
    expect(row.locator(".trash-actor")).to_have_text("cutter")
    expect(row.locator("time").first).to_have_text("just now")
    expect(row.get_by_role("button", name="Purge Trashed Film")).to_have_count(0)  # admins only
    page.screenshot(path=str(shots / "trash-editor.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(shots / "trash-editor-narrow.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    row.get_by_role("button", name="Restore Trashed Film").click()
    flash = page.locator("#trash-flash")
    expect(flash).to_contain_text("Restored “Trashed Film”", timeout=30_000)
    expect(row).to_have_count(0)
    assert admin_api.get(f"/api/v1/projects/{entry['id']}").json()["status"] == "ready"
    assert entry["id"] not in {e["id"] for e in admin_api.get("/api/v1/trash").json()}
    flash.get_by_role("link", name="Open it").click()
    page.wait_for_url(f"**/project/{entry['id']}")
    expect(page.locator("h1")).to_have_text("Trashed Film")
    assert page.errors == []


def test_an_admin_purges_only_after_confirming(page, trash_stack, admin_api, cutter, shots):
    entry = trashed(admin_api, cutter, "Purge Me")
    sign_in(page, trash_stack, "ada", path="/trash")
    page.wait_for_url(f"{trash_stack.web_url}/trash")
    row = page.locator(f'.trash-entry[data-entry="{entry["entry"]}"]')
    dialog = page.locator("#purge-dialog")

    row.get_by_role("button", name="Purge Purge Me").click()
    expect(dialog).to_be_visible()
    expect(dialog.locator("#purge-name")).to_have_text("Purge Me")
    page.screenshot(path=str(shots / "trash-purge-dialog.png"))
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_role("button", name="Purge Purge Me")).to_be_focused()
    assert entry["id"] in {e["id"] for e in admin_api.get("/api/v1/trash").json()}

    row.get_by_role("button", name="Purge Purge Me").click()
    with page.expect_response(lambda r: "/api/v1/trash/" in r.url and r.request.method == "DELETE") as answered:
        dialog.get_by_role("button", name="Purge for good").click()
    assert answered.value.status == 204
    expect(page.locator("#trash-flash")).to_have_text("Purged “Purge Me” for good.")
    expect(row).to_have_count(0)
    assert entry["id"] not in {e["id"] for e in admin_api.get("/api/v1/trash").json()}
    wait_for(lambda: not (trash_stack.settings.state / "trash" / entry["entry"]).exists(), 30, what="the folder purged")
    assert page.errors == []


def test_a_refused_restore_says_why_and_keeps_the_entry(page, trash_stack, admin_api, cutter):
    entry = trashed(admin_api, cutter, "Twice Made")
    assert admin_api.post("/api/v1/projects", json={"name": "Twice Made"}).status_code == 201  # the name is taken again
    sign_in(page, trash_stack, "eda", path="/trash")
    page.wait_for_url(f"{trash_stack.web_url}/trash")
    row = page.locator(f'.trash-entry[data-entry="{entry["entry"]}"]')
    with page.expect_response(lambda r: r.url.endswith("/restore")) as answered:
        row.get_by_role("button", name="Restore Twice Made").click()
    assert answered.value.status == 409
    expect(page.locator("#trash-error")).to_contain_text("Twice Made: ")
    expect(row.get_by_role("button", name="Restore Twice Made")).to_be_enabled()
    expect(page.locator("#trash-flash")).to_be_hidden()
    assert entry["entry"] in {e["entry"] for e in admin_api.get("/api/v1/trash").json()}


def test_the_trash_follows_deletes_and_restores_made_elsewhere(page, trash_stack, admin_api, cutter):
    assert admin_api.post("/api/v1/projects", json={"name": "Live Trash"}).status_code == 201
    sign_in(page, trash_stack, "eda", path="/trash")
    page.wait_for_url(f"{trash_stack.web_url}/trash")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    row = page.locator(".trash-entry", has_text="Live Trash")
    expect(row).to_have_count(0)
    assert cutter.delete("/api/v1/projects/live-trash").status_code == 204
    expect(row.locator(".trash-actor")).to_have_text("cutter")
    expect(row.get_by_role("button", name="Restore Live Trash")).to_be_visible()
    entry = next(e for e in admin_api.get("/api/v1/trash").json() if e["id"] == "live-trash")
    assert admin_api.post(f"/api/v1/trash/{entry['entry']}/restore").status_code == 200
    expect(row).to_have_count(0)
    assert page.errors == []


def test_a_viewer_sees_the_trash_without_actions(page, trash_stack, admin_api, cutter):
    entry = trashed(admin_api, cutter, "Viewed Trash")
    sign_in(page, trash_stack, "vic", path="/trash")
    page.wait_for_url(f"{trash_stack.web_url}/trash")
    row = page.locator(f'.trash-entry[data-entry="{entry["entry"]}"]')
    expect(row.locator(".trash-actor")).to_have_text("cutter")
    expect(page.locator("#trash button")).to_have_count(0)
    expect(page.locator("#purge-dialog")).to_have_count(0)


def test_the_header_links_to_the_trash(page, web_stack):
    page.goto(web_stack.web_url + "/")
    sections = page.get_by_role("navigation", name="Sections")
    expect(sections.get_by_role("link", name="Projects")).to_have_attribute("aria-current", "page")
    sections.get_by_role("link", name="Trash").click()
    page.wait_for_url(f"{web_stack.web_url}/trash")
    expect(page.get_by_role("heading", level=1)).to_have_text("Trash")
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link", name="Trash")).to_have_attribute("aria-current", "page")
    expect(page.locator("#trash-count")).to_have_text(re.compile(r"^\d+ deleted projects?$"))
