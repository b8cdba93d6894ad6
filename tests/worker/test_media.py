"""Poster frames made by the real ffmpeg into a real converged project."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import git

from auteur import mailbox
from auteur.media import poster_failed_relpath, poster_job_id, poster_needed
from auteur.uploads import UploadRecord, UploadStore, new_upload_id
from worker import jobs, media
from worker.media import PosterError, make_poster, poster_relpath

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (.ci/run installs it)")

CLIP = "assets/storyboards/clip one.mp4"


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
    made = make_poster(settings, "film", CLIP)

    poster = root / poster_relpath(CLIP)
    assert made["status"] == "made" and made["poster"] == "temp/posters/assets/storyboards/clip one.mp4.jpg"
    assert poster.read_bytes()[:2] == b"\xff\xd8"
    assert jpeg_size(poster) == (640, 360)
    assert poster.stat().st_mtime_ns == video.stat().st_mtime_ns
    told = [(r.event, r.project_id, r.data["path"], r.reconcile) for r in mailbox.pending(settings.state)]
    assert told == [("media.poster", "film", CLIP, False)], "the controller is told, to journal the event"
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
    jobs.configure(settings)
    try:
        assert media.poster(project_id="no-such-film", path=CLIP)["status"] == "failed"
        make_video(root / CLIP, seconds=0.2, size="64x64")
        assert media.poster(project_id="film", path=CLIP)["status"] == "made"
    finally:
        jobs.reset()


def stage(settings, path: str, data: bytes) -> str:
    """What ``api.uploads`` leaves for the ingest job: staged bytes and a ``stored`` record."""
    store = UploadStore(settings.state)
    upload_id = new_upload_id()
    staged = store.create_staging(upload_id)
    staged.write_bytes(data)
    st = os.stat(staged)
    asset_type = path.split("/")[1]
    store.write(UploadRecord(
        upload_id=upload_id, project_id="film", asset_type=asset_type, filename=path.rsplit("/", 1)[-1], path=path,
        size=len(data), oid=hashlib.sha256(data).hexdigest(), job_id=f"ingest-{upload_id}",
        staged_ino=st.st_ino, staged_mtime_ns=st.st_mtime_ns,
    ))  # fmt: skip
    return upload_id


def test_an_ingested_video_enqueues_its_poster_by_name(settings, root, configured, tmp_path):
    clip = make_video(tmp_path / "clip.mp4", seconds=0.5, size="64x64").read_bytes()
    assert jobs.ingest(stage(settings, CLIP, clip))["status"] == "completed"
    assert jobs.ingest(stage(settings, "assets/audio/a.wav", b"RIFF" + bytes(100)))["status"] == "completed"

    mtime_ns = (root / CLIP).stat().st_mtime_ns
    expected = ("worker.media.poster", poster_job_id("film", CLIP, mtime_ns), {"project_id": "film", "path": CLIP})
    assert configured.jobs == [expected], "only the video, by name, with an id naming its version"
    assert expected[1] == "poster-" + hashlib.sha256(f"film\0{CLIP}\0{mtime_ns}".encode()).hexdigest()[:24]

    assert media.poster(project_id="film", path=CLIP)["status"] == "made"
    assert poster_needed(root, CLIP) is None
    assert jobs.ingest(stage(settings, CLIP, clip))["status"] == "completed"  # the same bytes again: a new version
    assert len(configured.jobs) == 2 and configured.jobs[1][1] != expected[1]


def test_without_a_queue_the_ingest_makes_the_poster_itself(settings, root, tmp_path):
    jobs.configure(settings)
    try:
        clip = make_video(tmp_path / "clip.mp4", seconds=0.5, size="64x64").read_bytes()
        assert jobs.ingest(stage(settings, CLIP, clip))["status"] == "completed"
    finally:
        jobs.reset()
    assert (root / poster_relpath(CLIP)).read_bytes()[:2] == b"\xff\xd8"


def test_a_failed_poster_is_not_asked_for_again_until_the_video_changes(settings, root):
    video = root / "assets/storyboards/broken.mp4"
    video.write_bytes(b"not a video at all" * 100)
    assert poster_needed(root, "assets/storyboards/broken.mp4") == video.stat().st_mtime_ns
    assert make_poster(settings, "film", "assets/storyboards/broken.mp4")["status"] == "failed"
    assert poster_needed(root, "assets/storyboards/broken.mp4") is None
    os.utime(video, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns + 10**9))
    assert poster_needed(root, "assets/storyboards/broken.mp4") == video.stat().st_mtime_ns

    make_video(video, seconds=0.5, size="64x64")  # fixed: the poster replaces the failure note
    assert make_poster(settings, "film", "assets/storyboards/broken.mp4")["status"] == "made"
    assert not (root / poster_failed_relpath("assets/storyboards/broken.mp4")).exists()
    assert poster_needed(root, "assets/storyboards/broken.mp4") is None
