"""An asset's versions on the project page, in Chromium: listed with download links, and one
restored from there (a new commit, judged by git), the page following it live."""

from __future__ import annotations

import hashlib
import os

from helpers import git, wait_for
from playwright.sync_api import expect

from tests.web.test_project_page import make_project, open_project

TAKE = "assets/audio/take.wav"


def upload_and_wait(api, project_id: str, data: bytes, versions: int) -> None:
    answer = api.post(f"/api/v1/projects/{project_id}/assets", params={"asset_type": "audio"}, files={"files": ("take.wav", data)})
    assert answer.status_code == 200, answer.text

    def listed() -> bool:
        found = api.get(f"/api/v1/projects/{project_id}/versions", params={"path": TAKE})
        return found.status_code == 200 and len(found.json()["items"]) == versions

    wait_for(listed, 30, what=f"{versions} versions of {TAKE}")


def test_versions_are_listed_and_one_is_restored_from_the_page(page, web_stack, api):
    project_id = make_project(api, "Version Film")
    root = web_stack.settings.workspace / api.get(f"/api/v1/projects/{project_id}").json()["folder"]
    old, new = os.urandom(120_000), os.urandom(130_000)
    upload_and_wait(api, project_id, old, 1)
    upload_and_wait(api, project_id, new, 2)
    wait_for(lambda: api.get(f"/api/v1/projects/{project_id}/git/status").json()["current_commit"]
             == git(root, "rev-parse", "HEAD").strip(), 30, what="the new head reported")  # fmt: skip
    open_project(page, web_stack, project_id)

    versions = page.locator(f'details.versions[data-path="{TAKE}"]')
    versions.locator("summary").click()
    items = versions.locator(".version")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("current")
    expect(items.nth(0).locator("button.restore")).to_have_count(0)
    oldest = git(root, "log", "--format=%H", "--", TAKE).split()[-1]
    expect(items.nth(1)).to_have_attribute("data-commit", oldest)
    href = items.nth(1).get_by_role("link").get_attribute("href")
    assert href is not None and href.endswith(f"?version={oldest}")
    assert hashlib.sha256(api.get(href).content).digest() == hashlib.sha256(old).digest()

    items.nth(1).get_by_role("button", name="Restore").click()
    expect(page.locator("#restore-status")).to_contain_text("Restored take.wav", timeout=30_000)
    expect(items).to_have_count(3, timeout=30_000)  # the refreshed assets part kept the list open and reloaded it
    expect(items.nth(0)).to_contain_text("current")
    logged = git(root, "log", "--format=%H", "--", TAKE).split()
    assert len(logged) == 3 and logged[0] == git(root, "rev-parse", "HEAD").strip() and logged[-1] == oldest
    expect(items.nth(0)).to_have_attribute("data-commit", logged[0])
    assert hashlib.sha256((root / TAKE).read_bytes()).digest() == hashlib.sha256(old).digest()
    git(root, "lfs", "fsck")
    assert page.errors == []


def test_a_deleted_file_is_reached_from_the_timeline_and_restored(page, web_stack, api):
    project_id = make_project(api, "Deleted Take Film")
    root = web_stack.settings.workspace / api.get(f"/api/v1/projects/{project_id}").json()["folder"]
    data = os.urandom(110_000)
    upload_and_wait(api, project_id, data, 1)
    (root / TAKE).unlink()  # deleted by hand in the folder: the next snapshot commits it
    wait_for(lambda: TAKE not in git(root, "ls-tree", "-r", "--name-only", "HEAD").split(), 60, what="the deletion committed")
    wait_for(lambda: api.get(f"/api/v1/projects/{project_id}/git/status").json()["current_commit"]
             == git(root, "rev-parse", "HEAD").strip(), 30, what="the new head reported")  # fmt: skip
    open_project(page, web_stack, project_id)

    expect(page.locator(f'li.asset[data-path="{TAKE}"]')).to_have_count(0)
    versions = page.locator(f'.timeline details.versions[data-path="{TAKE}"]')
    expect(versions).to_have_count(1)
    versions.locator("summary").click()
    items = versions.locator(".version")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("deleted")
    items.nth(1).get_by_role("button", name="Restore").click()
    expect(page.locator("#restore-status")).to_contain_text("Restored take.wav", timeout=30_000)
    expect(page.locator(f'li.asset[data-path="{TAKE}"]')).to_have_count(1, timeout=30_000)
    assert (root / TAKE).read_bytes() == data
    git(root, "lfs", "fsck")
    assert page.errors == []
