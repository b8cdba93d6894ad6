"""The project page in a real browser: uploads, delete with confirmation, screenshots."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import httpx
import msgspec
import pytest
from helpers import RunningStack, git, wait_for
from playwright.sync_api import expect

from tests.web.conftest import web_settings

LIVE_DEADLINE_MS = 5_000


def png(width: int = 64, height: int = 36, rgb: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    """A small valid PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def make_project(api, name: str) -> str:
    answer = api.post("/api/v1/projects", json={"name": name})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def open_project(page, stack, project_id: str):
    page.goto(f"{stack.web_url}/project/{project_id}")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    return page


def test_upload_through_the_file_input_completes(page, web_stack, api, tmp_path):
    project_id = make_project(api, "Upload Film")
    still = tmp_path / "still 01.png"
    still.write_bytes(png())
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"INT. STUDIO - NIGHT\n" * 50_000)  # ~1 MB: progress has something to show
    open_project(page, web_stack, project_id)

    page.select_option("#asset-type", "storyboards")
    page.set_input_files('input[type="file"]', [str(still), str(notes)])

    items = page.locator(".upload-item")
    expect(items).to_have_count(2)
    expect(page.locator('.upload-item[data-status="completed"]')).to_have_count(2, timeout=30_000)
    for index in range(2):
        assert items.nth(index).locator("progress").evaluate("p => p.value") == 1
    listed = {a["path"]: a for a in api.get(f"/api/v1/projects/{project_id}/assets").json()}
    assert listed["assets/storyboards/still 01.png"]["size"] == still.stat().st_size
    assert listed["assets/storyboards/notes.txt"]["committed"]
    expect(page.locator("#assets-body")).to_contain_text("still 01.png")  # the assets part refreshed
    expect(page.locator('[data-field="asset_count"]')).to_have_text("2")

    picture = httpx.get(f"{web_stack.web_url}/picture/{project_id}", follow_redirects=False)
    assert picture.status_code == 302
    assert picture.headers["location"].endswith("/assets/assets/storyboards/still%2001.png")
    assert page.errors == []


def test_a_rejected_upload_fails_with_the_reason(page, web_stack, api, tmp_path):
    project_id = make_project(api, "Reject Film")
    hidden = tmp_path / ".hidden"
    hidden.write_bytes(b"x")
    open_project(page, web_stack, project_id)
    page.set_input_files('input[type="file"]', [str(hidden)])
    failed = page.locator('.upload-item[data-status="failed"]')
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("starts with a dot")


def unrecorded(staging: Path) -> set[str]:
    """Staged uploads the API has not recorded (yet): the parts of bodies still arriving."""
    return {p.name for p in staging.iterdir() if p.is_dir() and not (staging / f"{p.name}.json").exists()}


def test_cancel_aborts_one_large_upload_of_several_and_leaves_nothing_of_it(page, web_stack, api, tmp_path, shots):
    project_id = make_project(api, "Cancel Film")
    folder = web_stack.settings.workspace / api.get(f"/api/v1/projects/{project_id}").json()["folder"]
    staging = web_stack.settings.state / "uploads"
    open_project(page, web_stack, project_id)
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:  # 300 MB, sparse: the browser still sends every byte
        handle.truncate(300 << 20)
    small = tmp_path / "frame.png"
    small.write_bytes(png())
    # Throttled, so the large upload is still running when the button is pressed.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": 4 << 20})  # fmt: skip
    page.set_input_files('input[type="file"]', [str(big), str(small)])
    large, other = page.locator(".upload-item", has_text="big.bin"), page.locator(".upload-item", has_text="frame.png")
    expect(other).to_have_attribute("data-status", "completed", timeout=30_000)  # each file has its own request and bar
    expect(large).to_have_attribute("data-status", "uploading")
    wait_for(lambda: unrecorded(staging), 30, what="the API to be staging the large upload")
    assert large.locator("progress").evaluate("p => p.value") < 1
    large.get_by_role("button", name="Cancel the upload of big.bin").click()
    expect(large).to_have_attribute("data-status", "cancelled")
    expect(large.locator(".upload-status")).to_have_text("Cancelled")
    expect(large.get_by_role("button", name="Cancel the upload of big.bin")).to_be_hidden()
    wait_for(lambda: not unrecorded(staging), 30, what="the staged part to be removed")
    assert [a["path"] for a in api.get(f"/api/v1/projects/{project_id}/assets").json()] == ["assets/storyboards/frame.png"]
    assert "big.bin" not in git(folder, "log", "--all", "--name-only")
    assert not (folder / "assets/storyboards/big.bin").exists()
    assert "big.bin" not in "".join(r.read_text() for r in staging.glob("*.json"))
    page.screenshot(path=str(shots / "upload-cancelled.png"))


def test_an_editor_changes_quality_and_description_and_a_refusal_names_the_field(page, web_stack, api, shots):
    project_id = make_project(api, "Edited Film")
    open_project(page, web_stack, project_id)
    form = page.get_by_role("form", name="Change quality or description")
    form.get_by_label("Quality").select_option("premium")
    form.get_by_label("Description").fill("A night train crosses the border.")
    form.get_by_role("button", name="Save changes").click()
    expect(form.get_by_role("status")).to_have_text("Saved.", timeout=30_000)
    expect(page.locator('[data-field="quality"]')).to_have_text("premium")
    expect(page.locator('[data-field="quality-text"]')).to_have_text("premium")
    expect(page.locator('[data-field="description"]')).to_have_text("A night train crosses the border.")
    stored = api.get(f"/api/v1/projects/{project_id}").json()
    assert (stored["quality"], stored["description"]) == ("premium", "A night train crosses the border.")
    assert "premium" in (web_stack.settings.specs / stored["spec_file"]).read_text()

    form.get_by_label("Description").fill("x" * 10_001)  # over the API's limit
    form.get_by_role("button", name="Save changes").click()
    message = page.locator("#edit-description-error")
    expect(message).to_be_visible()
    expect(message).to_contain_text("10000")
    expect(form.get_by_label("Description")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Description")).to_be_focused()
    expect(page.locator("#edit-quality-error")).to_be_hidden()
    page.screenshot(path=str(shots / "project-edit-refused.png"), full_page=True)
    assert api.get(f"/api/v1/projects/{project_id}").json()["description"] == "A night train crosses the border."
    expect(page.locator('[data-field="description"]')).to_have_text("A night train crosses the border.")
    assert page.errors == []


def test_delete_asks_for_confirmation(page, web_stack, api):
    project_id = make_project(api, "Doomed Film")
    open_project(page, web_stack, project_id)

    page.get_by_role("button", name="Delete project").click()
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert api.get(f"/api/v1/projects/{project_id}").status_code == 200

    page.get_by_role("button", name="Delete project").click()
    dialog.get_by_role("button", name="Delete", exact=True).click()
    page.wait_for_url(f"{web_stack.web_url}/?deleted=*", timeout=30_000)
    expect(page.locator(".flash")).to_contain_text("Doomed Film")
    expect(page.locator(f"#card-{project_id}")).to_have_count(0)
    assert api.get(f"/api/v1/projects/{project_id}").status_code == 404


def test_an_unknown_project_is_a_404_page(page, web_stack):
    answer = page.goto(f"{web_stack.web_url}/project/no-such-film")
    assert answer.status == 404
    expect(page.locator("h1")).to_have_text("No such project")


@pytest.fixture
def showcase(web_stack, api, tmp_path) -> str:
    """A few projects that look like a studio's: pictures, a failure, a draft."""
    for name, quality in (("Night Train", "premium"), ("Harbour Lights", "standard"), ("Paper Moon", "draft")):
        api.post("/api/v1/projects", json={"name": name, "quality": quality})
    for project_id, colour in (("night-train", (30, 60, 140)), ("harbour-lights", (190, 110, 40))):
        files = [("files", ("keyframe.png", png(320, 180, colour), "image/png"))]
        assert api.post(f"/api/v1/projects/{project_id}/assets?asset_type=storyboards", files=files).status_code == 200
    files = [
        ("files", ("draft 1.fountain", b"FADE IN:\n" * 100, "text/plain")),
        ("files", ("theme.wav", b"RIFF" + b"\0" * 4000, "audio/wav")),
    ]
    assert api.post("/api/v1/projects/night-train/assets?asset_type=scripts", files=files).status_code == 200
    (web_stack.settings.specs / "Lost Reel.yaml").write_text("name: Lost Reel\nquality: cinema\n")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:  # a video: its card shows the poster frame (a play badge until the worker has made it)
        clip = tmp_path / "dailies.mp4"
        subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=320x180:rate=25", "-pix_fmt", "yuv420p",
                        "-y", str(clip)], check=True)  # fmt: skip
        files = [("files", ("dailies.mp4", clip.read_bytes(), "video/mp4"))]
        assert api.post("/api/v1/projects/paper-moon/assets?asset_type=renders", files=files).status_code == 200
    return "night-train"


def test_screenshots(browser, web_stack, showcase, artifacts: Path):
    """Saved for people to look at: the gallery and a project page, wide and narrow."""
    for width, height, tag in ((1280, 860, "wide"), (390, 844, "narrow")):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.goto(web_stack.web_url + "/")
        expect(page.locator("#card-lost-reel .status")).to_contain_text("failed", timeout=LIVE_DEADLINE_MS)
        expect(page.locator("#card-night-train .thumb")).to_have_class(re.compile(r"\bpictured\b"))  # its picture loaded
        if shutil.which("ffmpeg"):  # the dailies' poster frame (320x180), not the play badge (160x90)
            # Polled from here: the page's CSP (script-src 'self') forbids the eval wait_for_function needs.
            poster = page.locator("#card-paper-moon .thumb img")
            wait_for(lambda poster=poster: poster.evaluate("img => img.naturalWidth") == 320, 30, what="the 320 px poster frame")
        page.screenshot(path=str(artifacts / f"gallery-{tag}.png"), full_page=tag == "wide")
        page.goto(f"{web_stack.web_url}/project/{showcase}")
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        page.select_option("#asset-type", "characters")
        page.set_input_files('input[type="file"]', files=[{"name": f"hero {tag}.png", "mimeType": "image/png", "buffer": png()},
                                                          {"name": ".bad name", "mimeType": "text/plain", "buffer": b"x"}])  # fmt: skip
        expect(page.locator('.upload-item[data-status="completed"]')).to_have_count(1, timeout=30_000)
        expect(page.locator('.upload-item[data-status="failed"]')).to_have_count(1)
        page.screenshot(path=str(artifacts / f"project-{tag}.png"), full_page=True)
        context.close()


def test_a_video_upload_gets_a_poster_frame_for_its_card(page, web_stack, api, tmp_path):
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed (.ci/run installs it)")
    project_id = make_project(api, "Poster Film")
    page.goto(web_stack.web_url + "/")  # open before the upload: the card changes live
    card = page.locator(f"#card-{project_id} .thumb")
    expect(card).to_be_visible()
    clip = tmp_path / "shot 010.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=2:size=320x180:rate=25", "-pix_fmt", "yuv420p",
                    "-y", str(clip)], check=True)  # fmt: skip
    with clip.open("rb") as handle:
        files = [("files", (clip.name, handle, "video/mp4"))]
        assert api.post(f"/api/v1/projects/{project_id}/assets?asset_type=storyboards", files=files).status_code == 200

    poster_url = f"/api/v1/projects/{project_id}/posters/assets/storyboards/shot%20010.mp4"
    wait_for(lambda: api.get(poster_url).status_code == 200, timeout=30, what="the poster job")
    served = api.get(poster_url)
    assert served.content[:2] == b"\xff\xd8" and served.headers["content-type"] == "image/jpeg"
    assert (web_stack.settings.workspace / "Poster Film" / "temp/posters/assets/storyboards/shot 010.mp4.jpg").exists()
    picture = httpx.get(f"{web_stack.web_url}/picture/{project_id}", follow_redirects=False)
    assert (picture.status_code, picture.headers["location"]) == (302, web_stack.api_url + poster_url)

    # The card shows the poster frame (320x180, the clip's size), not the placeholder or the play badge (160x90).
    expect(card).to_have_class(re.compile(r"\bpictured\b"), timeout=30_000)
    wait_for(lambda: card.locator("img").evaluate("i => [i.naturalWidth, i.naturalHeight]") == [320, 180], timeout=30,
             what="the card to show the poster frame")  # fmt: skip


def test_the_page_names_who_made_the_last_commit_as_git_does(page, web_stack, api):
    project_id = make_project(api, "Authored Film")
    folder = web_stack.settings.workspace / api.get(f"/api/v1/projects/{project_id}").json()["folder"]
    author = subprocess.run(["git", "log", "-1", "--format=%an <%ae>"], cwd=folder, capture_output=True, text=True,
                            check=True).stdout.strip()  # fmt: skip
    open_project(page, web_stack, project_id)
    expect(page.locator("[data-field=last_commit_author]")).to_have_text(author)
    assert author == "Auteur <auteur@localhost>"  # auth off: the configured default identity


def test_the_page_shows_the_history_who_when_and_what(page, web_stack, api, tmp_path):
    project_id = make_project(api, "History Film")
    folder = web_stack.settings.workspace / api.get(f"/api/v1/projects/{project_id}").json()["folder"]
    answer = api.post(f"/api/v1/projects/{project_id}/assets", params={"asset_type": "audio"},
                      files=[("files", ("scene 1.wav", b"RIFF" + bytes(2000)))])  # fmt: skip
    assert answer.status_code == 200, answer.text
    wait_for(lambda: "scene 1.wav" in subprocess.run(["git", "log", "--name-only"], cwd=folder, capture_output=True, text=True).stdout,
             60, what="the upload committed")  # fmt: skip
    commits = subprocess.run(["git", "log", "--format=%H %an <%ae>"], cwd=folder, capture_output=True, text=True,
                             check=True).stdout.splitlines()  # fmt: skip
    open_project(page, web_stack, project_id)
    timeline = page.locator(".history .commit")
    expect(timeline).to_have_count(len(commits))
    for i, line in enumerate(commits):
        commit, author = line.split(" ", 1)
        expect(timeline.nth(i)).to_have_attribute("data-commit", commit)
        expect(timeline.nth(i).locator(".commit-author")).to_have_text(author)
    expect(timeline.first.locator(".commit-files")).to_contain_text("assets/audio/scene 1.wav")


def test_media_integrity_findings_warn_on_the_page_and_the_card(page, tmp_path):
    """A corrupt LFS object, found by the controller's background pass, shows up live."""
    settings = msgspec.structs.replace(web_settings(tmp_path), integrity_interval_seconds=0.5, integrity_pause_seconds=0.0,
                                       integrity_rate_bytes=0, integrity_recheck_seconds=0.0)  # fmt: skip
    with RunningStack(settings) as stack, httpx.Client(base_url=stack.api_url, timeout=60) as api:
        project_id = make_project(api, "Scrub Film")
        answer = api.post(f"/api/v1/projects/{project_id}/assets", params={"asset_type": "storyboards"},
                          files={"files": ("still.png", png())})  # fmt: skip
        assert answer.status_code == 200, answer.text
        root = settings.workspace / "Scrub Film"
        wait_for(lambda: api.get(f"/api/v1/projects/{project_id}").json()["lfs_files"] == 1, what="the still committed")
        open_project(page, stack, project_id)
        warning = page.locator('[data-field="media-findings"]')
        expect(warning).to_be_hidden()
        pointer = git(root, "show", "HEAD:assets/storyboards/still.png")
        oid = re.search(r"sha256:([0-9a-f]{64})", pointer).group(1)  # type: ignore[union-attr]
        stored = root / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
        stored.write_bytes(b"not the still any more" + stored.read_bytes()[22:])
        expect(warning).to_be_visible(timeout=30_000)
        expect(warning).to_contain_text("assets/storyboards/still.png: corrupt LFS object")
        shown = api.get(f"/api/v1/projects/{project_id}").json()
        assert shown["status"] == "ready" and [f["path"] for f in shown["media_findings"]] == ["assets/storyboards/still.png"]
        assert any(c["type"] == "MediaIntegrityFailed" and "still.png" in c["message"] for c in shown["conditions"])
        page.goto(stack.web_url)
        expect(page.locator(f"#card-{project_id} .media-warning")).to_be_visible()
        assert page.errors == []


def test_replayed_events_redraw_nothing_and_a_file_dropped_by_hand_shows_up_live(page, web_stack, api):
    """Opening the page replays the last seconds of events, older states first: the assets part,
    drawn for the newest, is not fetched again (a redraw would swallow a click on it). A file
    dropped into the folder afterwards is a real change: the part is drawn again, once."""
    project_id = make_project(api, "Dropped Film")
    folder = web_stack.settings.workspace / api.get(f"/api/v1/projects/{project_id}").json()["folder"]
    for n in (1, 2):
        answer = api.post(f"/api/v1/projects/{project_id}/assets", params={"asset_type": "audio"},
                          files=[("files", (f"take {n}.wav", b"RIFF" + bytes(1000 * n)))])  # fmt: skip
        assert answer.status_code == 200, answer.text
    wait_for(lambda: api.get(f"/api/v1/projects/{project_id}").json().get("asset_count") == 2
             and api.get(f"/api/v1/projects/{project_id}").json().get("current_commit") == git(folder, "rev-parse", "HEAD").strip()
             and not git(folder, "status", "--porcelain"), 60, what="both uploads committed and reported")  # fmt: skip
    drawn: list[str] = []
    page.on("request", lambda r: drawn.append(r.url) if r.url.endswith(f"/project/{project_id}/assets") else None)
    open_project(page, web_stack, project_id)
    expect(page.locator("li.asset")).to_have_count(2)
    page.wait_for_timeout(1_000)  # the replay (the uploads' events, seconds old) has long arrived
    assert drawn == []

    (folder / "assets" / "audio" / "take 3.wav").write_bytes(b"RIFF" + bytes(3000))
    expect(page.locator('li.asset[data-path="assets/audio/take 3.wav"]')).to_have_count(1, timeout=30_000)
    expect(page.locator('[data-field="asset_count"]')).to_have_text("3")
    assert len(drawn) >= 1
    assert page.errors == []
