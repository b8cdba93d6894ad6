"""The story's flow across the containers, as a person at the gallery meets it.

Create in the UI → the project in the gallery and in the API with its fields → its folder,
``.git`` and LFS lines in the shared volume → a video uploaded through the page reaches
``completed`` (a worker container ingests it) → a second page saw the project appear live
(events through Redis) → delete → the folder is gone. Invalid names are refused in the UI.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import httpx
from helpers import wait_for
from playwright.sync_api import expect

from auteur.names import project_id


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", f"safe.directory={root}", "-C", str(root), *args], capture_output=True, text=True)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_create_upload_delete_through_the_gallery(stack, context, tmp_path):
    name = f"Story {secrets.token_hex(3)}"
    key = project_id(name)
    watcher = context.new_page()  # a second page: the project must appear there by itself
    watcher.goto(stack.web + "/")
    expect(watcher.locator("#live")).to_have_attribute("data-state", "live")

    page = context.new_page()
    page.goto(stack.web + "/")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    page.get_by_role("button", name="New Project").click()
    page.fill('input[name="name"]', name)
    page.click('#new-project-form button[type="submit"]')
    expect(page.locator("h1")).to_have_text(name, timeout=30_000)  # the page of the new project
    expect(page.locator('[data-field="status-badge"]')).to_contain_text("ready", timeout=30_000)
    expect(watcher.locator(f"#card-{key} .status")).to_contain_text("ready", timeout=30_000)

    api = stack.apis[0]
    project = httpx.get(f"{api}/api/v1/projects/{key}", timeout=30).json()
    assert (project["id"], project["name"], project["status"], project["quality"]) == (key, name, "ready", "standard")
    assert project["created_at"] and project["current_commit"]

    root = stack.workspace / name
    for folder in ("assets/scripts", "assets/audio", "outputs/renders", "outputs/edits", "temp", ".git"):
        assert (root / folder).is_dir(), folder
    assert '"id": "' + key + '"' in (root / "project.json").read_text()
    attributes = (root / ".gitattributes").read_text()
    assert "*.mp4 filter=lfs diff=lfs merge=lfs -text" in attributes and "*.MP4 filter=lfs" in attributes
    status = httpx.get(f"{api}/api/v1/projects/{key}/git/status", timeout=30).json()
    assert status["current_commit"] == git(root, "rev-parse", "HEAD").strip() and status["is_dirty"] is False

    video = tmp_path / "take 1.mp4"
    made = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=2",
                           "-pix_fmt", "yuv420p", str(video)], capture_output=True, text=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    page.set_input_files('input[type="file"]', [str(video)])
    expect(page.locator('.upload-item[data-status="completed"]')).to_have_count(1, timeout=60_000)
    expect(page.locator("#assets-body")).to_contain_text("take 1.mp4")
    path = wait_for(lambda: _committed_asset(api, key, "take 1.mp4"), 30, what="the video committed")
    pointer = git(root, "show", f"HEAD:{path}")
    assert pointer.startswith("version https://git-lfs")
    assert git(root, "status", "--porcelain") == ""

    page.get_by_role("button", name="Delete project").click()
    page.locator("#delete-dialog").get_by_role("button", name="Delete", exact=True).click()
    wait_for(lambda: not root.exists(), 30, what="the folder gone from the volume")
    expect(watcher.locator(f"#card-{key}")).to_have_count(0, timeout=30_000)
    assert httpx.get(f"{api}/api/v1/projects/{key}", timeout=30).status_code == 404


def _committed_asset(api: str, key: str, filename: str) -> str | None:
    """The project-relative path of the committed LFS asset named ``filename``, once listed so."""
    items = httpx.get(f"{api}/api/v1/projects/{key}/assets", timeout=30).json()
    return next((a["path"] for a in items if a["path"].endswith("/" + filename) and a["committed"] and a["lfs"]), None)


def test_invalid_names_are_refused_in_the_gallery(stack, context):
    page = context.new_page()
    page.goto(stack.web + "/")
    page.get_by_role("button", name="New Project").click()
    for bad in ("../escape", "  ", "name/with/slash"):
        page.fill('input[name="name"]', bad)
        page.click('#new-project-form button[type="submit"]')
        expect(page.locator("#new-project-dialog .error")).not_to_be_empty()
    names = [p["name"] for p in httpx.get(stack.apis[0] + "/api/v1/projects", params={"limit": 1000}, timeout=30).json()]
    assert not [n for n in names if "escape" in n or "slash" in n]
