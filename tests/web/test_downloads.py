"""A file somebody uploaded never runs as a page, in a real Chromium: an HTML page or an
SVG carrying a script is saved, not rendered, when the browser is sent to its download
URL or follows the project page's link; an image or a video opened in a tab still shows.

Each scripted file would set the page title to a marker and call a listener on loopback;
the same bytes served as a page by that listener show that the markers work.
"""

from __future__ import annotations

import contextlib
import http.server
import shutil
import subprocess
import threading
import time
from urllib.parse import quote

import pytest
from helpers import wait_for
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.web.test_project_page import make_project, open_project, png

MARKER = "PWNED"
QUIET_SECONDS = 3.0  # how long a file that must stay inert is watched (the controls run within a second)


class Listener:
    """A loopback HTTP server that records every path asked for and serves the controls:
    ``/control/<name>`` answers ``pages[name]`` with its real type."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.pages: dict[str, tuple[str, bytes]] = {}
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.hits.append(self.path)
                content_type, data = listener.pages.get(self.path.removeprefix("/control/"), ("text/plain", b"seen"))
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def scripted(self, kind: str) -> bytes:
        """A file of ``kind`` (``html`` or ``svg``) whose script sets the marker and calls back."""
        script = f"document.title = '{MARKER}'; fetch('{self.url}/ran/{kind}', {{mode: 'no-cors'}});"
        if kind == "html":
            return f"<!doctype html><html><head><title>film notes</title></head><body><script>{script}</script></body></html>".encode()
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>{script}</script></svg>'.encode()

    def ran(self, kind: str) -> bool:
        return f"/ran/{kind}" in self.hits


@pytest.fixture
def listener():
    running = Listener()
    yield running
    running.server.shutdown()
    running.server.server_close()


def upload(api, project_id: str, files: list[tuple[str, bytes]], asset_type: str = "scripts") -> list[str]:
    """Upload and wait until each file is downloadable; their download URLs."""
    answer = api.post(f"/api/v1/projects/{project_id}/assets", params={"asset_type": asset_type},
                      files=[("files", (name, data, "application/octet-stream")) for name, data in files])  # fmt: skip
    assert answer.status_code == 200, answer.text
    urls = [f"{api.base_url}/api/v1/projects/{project_id}/assets/{quote(u['path'])}" for u in answer.json()["uploads"]]
    for url in urls:
        wait_for(lambda url=url: api.head(url).status_code == 200, timeout=30, what=f"{url} ingested")
    return urls


def goto_download(page, url: str):
    """Send the tab to ``url``; the navigation must end as a download."""
    with page.expect_download() as started:
        with contextlib.suppress(PlaywrightError):  # Playwright reports a navigation that became a download as an error
            page.goto(url)
    return started.value


def assert_inert(page, listener: Listener, kind: str, title: str) -> None:
    """For QUIET_SECONDS the marker never shows, neither in the title nor at the listener."""
    deadline = time.monotonic() + QUIET_SECONDS
    while time.monotonic() < deadline:
        assert page.title() == title and not listener.ran(kind), f"the uploaded {kind} ran its script"
        time.sleep(0.1)


@pytest.mark.parametrize("kind", ["html", "svg"])
def test_the_markers_work_when_the_bytes_are_served_as_a_page(page, listener, kind):
    listener.pages[f"page.{kind}"] = ("text/html" if kind == "html" else "image/svg+xml", listener.scripted(kind))
    page.goto(f"{listener.url}/control/page.{kind}")
    wait_for(lambda: page.title() == MARKER and listener.ran(kind), timeout=10, what=f"the control {kind} to run")


@pytest.mark.parametrize("kind", ["html", "svg"])
def test_an_uploaded_page_opened_from_the_api_is_saved_not_run(page, web_stack, api, listener, kind, tmp_path):
    project_id = make_project(api, f"Inert {kind}")
    data = listener.scripted(kind)
    (url,) = upload(api, project_id, [(f"notes.{kind}", data)])
    page.goto(f"{listener.url}/start")
    title = page.title()

    download = goto_download(page, url)
    assert download.suggested_filename == f"notes.{kind}"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes() == data, "the download is the file, untouched"
    assert page.url == f"{listener.url}/start", "the tab stays where it was"
    assert_inert(page, listener, kind, title)


def test_the_project_page_link_to_an_uploaded_page_downloads_it(page, web_stack, api, listener):
    project_id = make_project(api, "Inert link")
    upload(api, project_id, [("treatment.html", listener.scripted("html"))])
    open_project(page, web_stack, project_id)
    title = page.title()
    link = page.locator(".asset-name", has_text="treatment.html")
    expect(link).to_be_visible()
    with page.expect_download() as started:
        link.click()
    assert started.value.suggested_filename == "treatment.html"
    assert page.url == f"{web_stack.web_url}/project/{quote(project_id)}"
    assert_inert(page, listener, "html", title)


def test_an_image_and_a_video_opened_in_a_tab_still_show(page, web_stack, api, tmp_path):
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed (.ci/run installs it)")
    clip = tmp_path / "shot.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=320x180:rate=25", "-pix_fmt", "yuv420p",
                    "-y", str(clip)], check=True)  # fmt: skip
    project_id = make_project(api, "Inline media")
    image_url, video_url = upload(api, project_id, [("frame.png", png(64, 36)), ("shot.mp4", clip.read_bytes())], "storyboards")

    page.goto(image_url)
    assert page.locator("img").evaluate("i => [i.naturalWidth, i.naturalHeight]") == [64, 36]
    page.goto(video_url)
    video = page.locator("video")
    wait_for(lambda: video.evaluate("v => v.readyState >= 2 && v.videoWidth") == 320, timeout=10, what="the video to load in its tab")
    assert page.errors == []
