"""The project page's previews in a real Chromium: a video made by the real ffmpeg plays from
the API's streaming download and seeks (with Range requests), an image shows the thumbnail
the worker made, a sound plays, a video no browser plays shows its poster and a download;
axe finds no serious problem; screenshots are saved under the test's tmp dir."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import wait_for
from playwright.sync_api import expect

from tests.api.test_thumbnails import HeldJobs
from tests.web.test_accessibility import violations
from tests.web.test_project_page import make_project, open_project

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (.ci/run installs it)")

SEEK_TO = 2.5
H264 = 'video/mp4; codecs="avc1.42E01E"'
VP9 = 'video/webm; codecs="vp9"'

# Waits in the page for the video to be playable, then seeks and waits for it to get there.
PLAY_AND_SEEK = """async (video, target) => {
  const once = (name) => new Promise((resolve, reject) => {
    video.addEventListener(name, resolve, {once: true});
    video.addEventListener("error", () => reject(new Error(`media error ${video.error && video.error.code}`)), {once: true});
  });
  if (video.readyState < HTMLMediaElement.HAVE_FUTURE_DATA) {
    const playable = once("canplay");
    video.preload = "auto";
    video.muted = true;
    video.play().catch(() => {});
    await playable;
  }
  video.pause();
  const seeked = once("seeked");
  video.currentTime = target;
  await seeked;
  return {duration: video.duration, time: video.currentTime, ready: video.readyState};
}"""


def encode(path: Path, codec: list[str], seconds: int = 4) -> bytes:
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=duration={seconds}:size=320x180:rate=25",
                    "-pix_fmt", "yuv420p", *codec, "-y", str(path)], check=True)  # fmt: skip
    return path.read_bytes()


def playable_clip(page, tmp_path: Path) -> tuple[str, bytes]:
    """A clip in a codec this Chromium says it plays: H.264 in MP4 if it does, else VP9 in WebM."""
    page.goto("about:blank")
    can = page.evaluate("types => types.map(t => document.createElement('video').canPlayType(t))", [H264, VP9])
    if can[0]:
        return "dailies.mp4", encode(tmp_path / "dailies.mp4", ["-c:v", "libx264", "-movflags", "+faststart"])
    assert can[1], f"this Chromium plays neither H.264 nor VP9: {can}"
    return "dailies.webm", encode(tmp_path / "dailies.webm", ["-c:v", "libvpx-vp9", "-b:v", "200k"])


def still(tmp_path: Path, name: str, size: str, *options: str) -> bytes:
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=1", "-frames:v", "1", *options,
                    "-update", "1", "-y", str(tmp_path / name)], check=True)  # fmt: skip
    return (tmp_path / name).read_bytes()


def upload(api, project_id: str, asset_type: str, files: list[tuple[str, bytes]]) -> None:
    answer = api.post(f"/api/v1/projects/{project_id}/assets", params={"asset_type": asset_type},
                      files=[("files", (name, data, "application/octet-stream")) for name, data in files])  # fmt: skip
    assert answer.status_code == 200, answer.text
    listing = f"/api/v1/projects/{project_id}/assets"
    for path in [u["path"] for u in answer.json()["uploads"]]:
        wait_for(lambda path=path: any(a["path"] == path and a["committed"] for a in api.get(listing).json()), timeout=30,
                 what=f"{path} committed")  # fmt: skip


@pytest.fixture
def film(page, web_stack, api, tmp_path) -> tuple[str, str]:
    """A project with a playable clip, a PNG, an EXR, a sound and an AVI; (its id, the clip's name)."""
    clip_name, clip = playable_clip(page, tmp_path)
    project_id = make_project(api, f"Preview Film {tmp_path.name}")
    sound = tmp_path / "theme.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-y", str(sound)], check=True)
    avi = encode(tmp_path / "telecine.avi", ["-c:v", "mpeg4"], seconds=2)
    upload(
        api,
        project_id,
        "storyboards",
        [
            (clip_name, clip),
            ("keyframe.png", still(tmp_path, "k.png", "1280x720")),
            ("plate.exr", still(tmp_path, "p.exr", "960x540", "-pix_fmt", "gbrpf32le")),
        ],
    )
    upload(api, project_id, "audio", [("theme.wav", sound.read_bytes())])
    upload(api, project_id, "renders", [("telecine.avi", avi)])
    return project_id, clip_name


def test_a_video_plays_and_seeks_and_an_image_shows_its_thumbnail(page, web_stack, api, film, tmp_path):
    project_id, clip_name = film
    ranges: list[int] = []
    page.on("response", lambda r: ranges.append(r.status) if f"/assets/storyboards/{clip_name}" in r.url else None)
    open_project(page, web_stack, project_id)

    video = page.locator(f'.preview[data-path="assets/storyboards/{clip_name}"] video')
    expect(video).to_have_attribute("preload", "metadata")
    assert "/assets/storyboards/" in video.get_attribute("src") and "/posters/" in video.get_attribute("poster")
    played = video.evaluate(PLAY_AND_SEEK, SEEK_TO)
    assert abs(played["time"] - SEEK_TO) < 0.1 and played["duration"] > SEEK_TO, played
    assert 206 in ranges, f"the player streams with Range requests (answers seen: {ranges})"

    # The thumbnail, made off the request path, replaces the placeholder once its event arrives.
    page.locator('.preview[data-path="assets/storyboards/keyframe.png"]').scroll_into_view_if_needed()  # lazy: asked for near the view
    image = page.locator('.preview[data-path="assets/storyboards/keyframe.png"] img')
    wait_for(lambda: image.evaluate("i => i.complete && i.naturalWidth") == 640, timeout=60, what="the PNG's 640 px thumbnail")
    assert "/thumbnails/" in image.get_attribute("src")
    expect(page.locator('.preview[data-path="assets/storyboards/keyframe.png"] a')).to_have_attribute("target", "_blank")
    exr = page.locator('.preview[data-path="assets/storyboards/plate.exr"]')
    exr.scroll_into_view_if_needed()
    wait_for(lambda: exr.locator("img").evaluate("i => i.complete && i.naturalWidth") == 640, timeout=60, what="the EXR's thumbnail")
    expect(exr.locator("a")).to_have_attribute("download", "")  # no browser shows an EXR: the link downloads it

    audio = page.locator('.preview[data-path="assets/audio/theme.wav"] audio')
    wait_for(lambda: audio.evaluate("a => a.readyState >= 1 && a.duration") > 1.5, timeout=30, what="the sound's metadata")
    poster = page.locator('.preview[data-path="outputs/renders/telecine.avi"]')
    expect(poster.locator("video")).to_have_count(0)
    poster.scroll_into_view_if_needed()
    wait_for(lambda: poster.locator("img").evaluate("i => i.complete && i.naturalWidth") == 320, timeout=60, what="the AVI's poster")
    assert page.errors == []  # type: ignore[attr-defined]

    shots = tmp_path / "screenshots"
    shots.mkdir()
    page.locator("#assets").screenshot(path=str(shots / "previews.png"))
    page.screenshot(path=str(shots / "project-page.png"), full_page=True)
    assert (shots / "previews.png").stat().st_size > 0


def test_a_missing_thumbnail_shows_a_placeholder(page, web_stack, api, tmp_path):
    project_id = make_project(api, f"Broken Stills {tmp_path.name}")
    upload(api, project_id, "storyboards", [("broken.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 100)])
    open_project(page, web_stack, project_id)
    preview = page.locator('.preview[data-path="assets/storyboards/broken.png"]')
    expect(preview).to_have_attribute("data-state", "missing", timeout=30_000)
    expect(preview.locator(".preview-missing")).to_be_visible()
    expect(preview.locator("img")).to_be_hidden()


def test_a_thumbnail_made_while_the_page_is_open_replaces_its_placeholder(page, web_stack, api, tmp_path, monkeypatch):
    held = HeldJobs(web_stack, monkeypatch)  # the thumbnail job waits until the page shows the placeholder
    project_id = make_project(api, f"Late Stills {tmp_path.name}")
    upload(api, project_id, "storyboards", [("late.png", still(tmp_path, "late.png", "800x400"))])
    open_project(page, web_stack, project_id)
    preview = page.locator('.preview[data-path="assets/storyboards/late.png"]')
    expect(preview).to_have_attribute("data-state", "missing")
    held.release()  # only the job's media.thumbnail event makes the page ask again
    expect(preview).not_to_have_attribute("data-state", "missing", timeout=30_000)
    wait_for(lambda: preview.locator("img").evaluate("i => i.complete && i.naturalWidth") == 640, timeout=30,
             what="the thumbnail in place of the placeholder")  # fmt: skip


def test_a_prores_mov_the_browser_cannot_decode_offers_its_download(page, web_stack, api, tmp_path):
    project_id = make_project(api, f"ProRes Film {tmp_path.name}")
    upload(api, project_id, "edits", [("master.mov", encode(tmp_path / "master.mov", ["-c:v", "prores_ks", "-pix_fmt", "yuv422p10le"], 1))])
    open_project(page, web_stack, project_id)
    preview = page.locator('.preview[data-path="outputs/edits/master.mov"]')
    poster = re.compile(r"/posters/outputs/edits/master\.mov(\?seen=[0-9-]+)?$")  # ?seen=: asked again on a (replayed) media.poster
    expect(preview.locator("video")).to_have_attribute("poster", poster)
    expect(preview.locator(".preview-unplayable")).to_be_visible(timeout=30_000)
    expect(preview.locator(".preview-unplayable a")).to_have_attribute("download", "")


def test_a_video_that_failed_before_the_page_script_ran_still_offers_its_download(page, web_stack, api, tmp_path):
    project_id = make_project(api, f"Slow Script {tmp_path.name}")
    upload(api, project_id, "edits", [("master.mov", encode(tmp_path / "master.mov", ["-c:v", "prores_ks", "-pix_fmt", "yuv422p10le"], 1))])
    held = []
    page.route("**/static/project.js*", lambda route: held.append(route))  # the page's script waits until the video has failed
    page.goto(f"{web_stack.web_url}/project/{project_id}", wait_until="commit")
    video = page.locator('.preview[data-path="outputs/edits/master.mov"] video')
    wait_for(lambda: video.evaluate("v => v.error && v.error.code"), timeout=30, what="the browser to give up on the video")
    assert held, "the script was asked for"
    held[0].continue_()
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.locator('.preview[data-path="outputs/edits/master.mov"] .preview-unplayable')).to_be_visible(timeout=10_000)


def test_the_previews_have_no_serious_accessibility_problem(axe_page, web_stack, api, film):
    project_id, clip_name = film
    axe_page.goto(f"{web_stack.web_url}/project/{project_id}")
    expect(axe_page.locator("#live")).to_have_attribute("data-state", "live")
    expect(axe_page.locator(f'.preview[data-path="assets/storyboards/{clip_name}"] video')).to_be_visible()
    assert violations(axe_page) == []
