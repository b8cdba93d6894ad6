"""Poster frames made by the real ffmpeg into a real converged project."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import git, write_spec

from auteur.events import Event
from controller.reconciling import Reconciler
from worker import jobs, media
from worker.media import PosterError, PostersAfterUploads, make_poster, poster_relpath

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (.ci/run installs it)")

CLIP = "assets/storyboards/clip one.mp4"


class Bus:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)


class Queue:
    def __init__(self) -> None:
        self.jobs: list[tuple[str, str, dict]] = []

    def enqueue(self, name: str, *, job_id: str, kwargs: dict) -> str:
        self.jobs.append((name, job_id, kwargs))
        return job_id


@pytest.fixture
def root(settings) -> Path:
    write_spec(settings, "film.yaml", "name: film\n")
    assert Reconciler(settings).reconcile("film").kind == "done"
    return settings.workspace / "film"


def make_video(path: Path, seconds: float = 2.0, size: str = "1280x720") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size={size}:rate=25",
                    "-pix_fmt", "yuv420p", "-y", str(path)], check=True)  # fmt: skip
    return path


def jpeg_size(path: Path) -> tuple[int, int]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout  # fmt: skip
    width, height = out.strip().split(",")
    return int(width), int(height)


def test_a_poster_is_made_once_tied_to_its_video_and_ignored_by_git(settings, root):
    video = make_video(root / CLIP)
    bus = Bus()

    made = make_poster(settings, "film", CLIP, bus=bus)

    poster = root / poster_relpath(CLIP)
    assert made["status"] == "made" and made["poster"] == "temp/posters/assets/storyboards/clip one.mp4.jpg"
    assert poster.read_bytes()[:2] == b"\xff\xd8"
    assert jpeg_size(poster) == (640, 360)
    assert poster.stat().st_mtime_ns == video.stat().st_mtime_ns
    assert [(e.type, e.project, e.data["path"]) for e in bus.events] == [("media.poster", {"id": "film"}, CLIP)]
    assert "temp/" not in git(root, "status", "--porcelain", "--ignored=no")
    assert list((settings.state / media.SCRATCH_DIR).iterdir()) == [], "no scratch file left behind"

    assert make_poster(settings, "film", CLIP)["status"] == "current"
    os.utime(video, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns + 10**9))  # a new version of the clip
    assert make_poster(settings, "film", CLIP)["status"] == "made"


def test_a_clip_shorter_than_the_seek_point_uses_its_first_frame(settings, root):
    make_video(root / "outputs/edits/blink.mov", seconds=0.3, size="320x240")
    assert make_poster(settings, "film", "outputs/edits/blink.mov")["status"] == "made"
    assert jpeg_size(root / poster_relpath("outputs/edits/blink.mov")) == (320, 240)


def test_a_file_ffmpeg_cannot_read_fails_without_a_poster(settings, root):
    (root / "assets/storyboards/broken.mp4").write_bytes(b"not a video at all" * 100)
    result = make_poster(settings, "film", "assets/storyboards/broken.mp4")
    assert result["status"] == "failed" and result["error"]
    assert not (root / poster_relpath("assets/storyboards/broken.mp4")).exists()


@pytest.mark.parametrize("path", ["../film/assets/x.mp4", "/etc/x.mp4", "temp/x.mp4", "assets/storyboards/still.png", "assets//x.mp4"])
def test_paths_outside_the_assets_or_not_videos_are_refused(settings, root, path):
    with pytest.raises(PosterError):
        make_poster(settings, "film", path)


def test_a_symlink_out_of_the_project_is_refused(settings, root, tmp_path):
    outside = make_video(tmp_path / "outside.mp4", seconds=0.2, size="64x64")
    (root / "assets/storyboards/link.mp4").symlink_to(outside)
    with pytest.raises(PosterError, match="outside"):
        make_poster(settings, "film", "assets/storyboards/link.mp4")


def test_the_job_reports_a_permanent_problem_instead_of_raising(settings, root):
    jobs.configure(settings, Bus())
    assert media.poster(project_id="no-such-film", path=CLIP)["status"] == "failed"
    make_video(root / CLIP, seconds=0.2, size="64x64")
    assert media.poster(project_id="film", path=CLIP)["status"] == "made"


def test_a_completed_video_upload_enqueues_its_poster_by_name():
    bus, queue = Bus(), Queue()
    publisher = PostersAfterUploads(bus, queue)
    video = Event(id="1-0", type="upload.completed", project={"id": "film"}, data={"path": CLIP, "oid": "ab" * 32})
    for event in (video, video, Event(id="2-0", type="upload.completed", project={"id": "film"}, data={"path": "assets/audio/a.wav"}),
                  Event(id="3-0", type="upload.failed", project={"id": "film"}, data={"path": CLIP})):  # fmt: skip
        publisher.publish(event)
    assert len(bus.events) == 4, "every event is forwarded"
    assert [(name, kwargs) for name, _, kwargs in queue.jobs] == [("worker.media.poster", {"project_id": "film", "path": CLIP})] * 2
    assert queue.jobs[0][1] == queue.jobs[1][1], "the same upload gives the same job id"
