"""Poster frames over real HTTP: made off the request path by the real ffmpeg, served by the API.

The embedded stack runs on a free port (``stack``/``client`` fixtures); its
in-process job runner runs ``worker.media.poster`` as the worker would.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import wait_for

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (.ci/run installs it)")

POSTERS = "/api/v1/projects/film/posters/"


def create_project(client, name: str = "film") -> Path:
    answer = client.post("/api/v1/projects", json={"name": name})
    assert answer.status_code == 201, answer.text
    return Path(answer.json()["folder"])


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=10",
                    "-pix_fmt", "yuv420p", "-y", str(path)], check=True)  # fmt: skip
    return path.read_bytes()


class Spy:
    """Records what the API enqueues, and passes it on to the real queue."""

    def __init__(self, stack, monkeypatch) -> None:
        self.calls: list[tuple[str, str, dict]] = []
        real = stack.jobs.enqueue

        def enqueue(name: str, *, job_id: str, kwargs: dict) -> str:
            self.calls.append((name, job_id, kwargs))
            return real(name, job_id=job_id, kwargs=kwargs)

        monkeypatch.setattr(stack.jobs, "enqueue", enqueue)

    def posters(self) -> list[tuple[str, str, dict]]:
        return [call for call in self.calls if call[0] == "worker.media.poster"]


def poster_of(client, url: str) -> bytes | None:
    answer = client.get(url)
    return answer.content if answer.status_code == 200 else None


def test_an_uploaded_video_gets_a_poster_served_as_jpeg(stack, client, clip):
    create_project(client)
    url = POSTERS + "assets/storyboards/shot%20010.mp4"
    answer = client.post("/api/v1/projects/film/assets", params={"asset_type": "storyboards"},
                         files=[("files", ("shot 010.mp4", clip, "video/mp4"))])  # fmt: skip
    assert answer.status_code == 200, answer.text

    jpeg = wait_for(lambda: poster_of(client, url), timeout=60, interval=0.1, what="the poster after the upload")
    assert jpeg[:2] == b"\xff\xd8"
    answer = client.get(url)
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["cache-control"] == "no-cache"
    assert int(answer.headers["content-length"]) == len(jpeg)
    head = client.head(url)
    assert (head.status_code, head.headers["content-type"], head.content) == (200, "image/jpeg", b"")
    again = client.get(url, headers={"If-None-Match": answer.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


def test_no_poster_until_one_is_made(stack, client):
    root = stack.settings.workspace / create_project(client)
    (root / "assets/audio/take.wav").write_bytes(b"RIFF" + bytes(100))
    for path in ("assets/storyboards/nope.mp4", "assets/audio/take.wav", "outputs/renders/gone.mov"):
        answer = client.get(POSTERS + path)
        assert answer.status_code == 404, (path, answer.status_code)
        assert answer.json()["error"]["code"] == "not_found"
    assert client.head(POSTERS + "assets/storyboards/nope.mp4").status_code == 404
    assert client.get("/api/v1/projects/no-such-film/posters/assets/storyboards/a.mp4").status_code == 404


def test_the_listing_asks_for_the_poster_of_a_video_dropped_by_hand(stack, client, clip, monkeypatch):
    root = stack.settings.workspace / create_project(client)
    spy = Spy(stack, monkeypatch)
    video = root / "outputs/edits/cut 2.mov"
    video.write_bytes(clip)
    (root / "assets/storyboards/still.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    url = POSTERS + "outputs/edits/cut%202.mov"
    assert client.get(url).status_code == 404, "nobody asked for it yet"
    assert spy.posters() == []

    listed = client.get("/api/v1/projects/film/assets")
    assert listed.status_code == 200 and "outputs/edits/cut 2.mov" in [a["path"] for a in listed.json()]
    mtime_ns = video.stat().st_mtime_ns
    digest = hashlib.sha256(f"film\0outputs/edits/cut 2.mov\0{mtime_ns}".encode()).hexdigest()[:24]
    assert spy.posters() == [("worker.media.poster", f"poster-{digest}", {"project_id": "film", "path": "outputs/edits/cut 2.mov"})]

    jpeg = wait_for(lambda: poster_of(client, url), timeout=60, interval=0.1, what="the poster the listing asked for")
    assert jpeg[:2] == b"\xff\xd8"
    assert client.get("/api/v1/projects/film/assets").status_code == 200
    assert len(spy.posters()) == 1, "a current poster is not asked for again"


def test_a_video_ffmpeg_cannot_read_is_asked_for_once(stack, client, monkeypatch):
    root = stack.settings.workspace / create_project(client)
    spy = Spy(stack, monkeypatch)
    (root / "assets/storyboards/broken.mp4").write_bytes(b"not a video" * 100)
    client.get("/api/v1/projects/film/assets")
    failed = root / "temp/posters/assets/storyboards/broken.mp4.failed"
    wait_for(failed.exists, timeout=60, what="the poster job to give up")
    client.get("/api/v1/projects/film/assets")
    assert len(spy.posters()) == 1
    assert client.get(POSTERS + "assets/storyboards/broken.mp4").status_code == 404


# Ways out of the project a path may try (``secret.jpg`` lies beside the project's folder).
ESCAPES = ["assets/..%2F..%2F..%2Fsecret.jpg", "assets/%2E%2E/%2E%2E/specs/film.yaml", "assets%2F..%2F..%2F..%2Fetc%2Fpasswd",
           "%2Fetc%2Fpasswd", "assets//etc/passwd", "project.json"]  # fmt: skip


def assert_refused(client, prefix: str, attempts: list[str]) -> None:
    """Each of ``prefix + attempt`` answers a 4xx that carries none of the secret's bytes."""
    for attempt in attempts:
        answer = client.get(prefix + attempt)
        assert 400 <= answer.status_code < 500, (attempt, answer.status_code)
        assert b"classified" not in answer.content


def test_posters_never_leave_the_project_tree(stack, client, clip, tmp_path):
    root = stack.settings.workspace / create_project(client)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8classified")
    (root / "assets/storyboards/real.mp4").write_bytes(clip)
    (root / "assets/storyboards/outside.mp4").symlink_to(tmp_path / "elsewhere.mp4")
    (tmp_path / "elsewhere.mp4").write_bytes(clip)
    posters = root / "temp/posters/assets/storyboards"
    posters.mkdir(parents=True)
    (posters / "real.mp4.jpg").symlink_to(secret)  # a poster that is a symlink out
    attempts = ["assets/storyboards/real.mp4", "assets/storyboards/outside.mp4", "temp/posters/assets/storyboards/real.mp4"]
    assert_refused(client, POSTERS, [*attempts, *ESCAPES])

    # The whole posters folder a symlink out of the project: refused too.
    shutil.rmtree(root / "temp/posters")
    outside = tmp_path / "posters"
    (outside / "assets/storyboards").mkdir(parents=True)
    (outside / "assets/storyboards/real.mp4.jpg").write_bytes(b"\xff\xd8classified")
    (root / "temp/posters").symlink_to(outside)
    answer = client.get(POSTERS + "assets/storyboards/real.mp4")
    assert answer.status_code == 404 and b"classified" not in answer.content
