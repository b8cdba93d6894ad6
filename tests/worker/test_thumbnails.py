"""Image thumbnails made by the real ffmpeg from the bytes a real converged project committed,
cached by their LFS oid (the sha256 of the bytes, which the test computes itself)."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest
from helpers import drop_file, git
from redisserver import running_redis
from rq import SimpleWorker
from rq.job import Job, JobStatus

from auteur import mailbox
from auteur.thumbnails import (
    content_key,
    enqueue_thumbnail,
    thumbnail_failed_relpath,
    thumbnail_job_id,
    thumbnail_relpath,
    thumbnail_state,
)
from controller.reconciling import Reconciler
from redisbackend.jobs import RQJobs
from tests.worker.test_media import jpeg_size, stage
from worker import jobs, media, thumbnails
from worker.thumbnails import make_thumbnail

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (.ci/run installs it)")

# ffmpeg's output options for each format it writes (EXR as 32-bit float, as renders are).
ENCODERS = {
    "png": [], "jpg": [], "tif": [], "dpx": [], "webp": ["-c:v", "libwebp"], "bmp": [],
    "exr": ["-pix_fmt", "gbrpf32le", "-c:v", "exr"], "tga": [],
}  # fmt: skip


def make_image(path: Path, size: str = "1000x500") -> bytes:
    """A still of ffmpeg's test pattern in the format named by ``path``'s extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lstrip(".")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=1", "-frames:v", "1",
                    *ENCODERS[ext], "-update", "1", "-y", str(path)], check=True)  # fmt: skip
    return path.read_bytes()


def psd(width: int, height: int) -> bytes:
    """A minimal Photoshop file (ffmpeg decodes PSD but cannot write it): 8-bit RGB, no
    layers, raw image data, a red-to-blue gradient."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, image resources, layers and masks: none
    red = bytes(255 * x // max(1, width - 1) for x in range(width)) * height
    green = bytes(width * height)
    blue = bytes(255 - v for v in red)
    return header + sections + struct.pack(">H", 0) + red + green + blue


def commit(settings, root: Path) -> None:
    """Let the controller's snapshot commit what is in the project now."""
    assert Reconciler(settings).reconcile("film").kind == "done"
    assert git(root, "status", "--porcelain") == ""


def settled(path: Path) -> None:
    past = time.time() - 60
    os.utime(path, (past, past))


NO_FFMPEG = "/nonexistent/ffmpeg"  # a run that reached ffmpeg would raise FileNotFoundError


@pytest.mark.parametrize("ext", sorted(ENCODERS))
def test_each_format_gets_a_thumbnail_that_fits_the_box(settings, root, ext):
    path = f"assets/storyboards/frame 0001.{ext}"
    data = make_image(root / path)
    settled(root / path)
    commit(settings, root)

    made = make_thumbnail(settings, "film", path)

    if ext == "bmp":  # not a media type: a plain git blob, whose id is the key
        key = git(root, "rev-parse", f"HEAD:{path}").strip()
        assert int(git(root, "cat-file", "-s", key)) == len(data), "the blob holds the bytes, not a pointer"
    else:
        key = hashlib.sha256(data).hexdigest()
        assert f"oid sha256:{key}" in git(root, "show", f"HEAD:{path}"), "the key is the LFS oid git-lfs knows"
    assert (made["status"], made["key"]) == ("made", key), made
    thumb = root / thumbnail_relpath(key)
    assert thumb.read_bytes()[:2] == b"\xff\xd8"
    assert jpeg_size(thumb) == (640, 320)


def test_a_psd_gets_a_thumbnail_and_a_small_image_is_not_enlarged(settings, root):
    path = "assets/characters/hero.psd"
    drop_file(root / path, psd(120, 40), mtime=time.time() - 60)
    commit(settings, root)
    made = make_thumbnail(settings, "film", path)
    assert made["status"] == "made", made
    assert jpeg_size(root / thumbnail_relpath(made["key"])) == (120, 40)


def test_the_same_bytes_are_thumbnailed_once_and_a_new_version_gets_its_own(settings, root):
    first = make_image(root / "assets/locations/set.png")
    shutil.copy(root / "assets/locations/set.png", root / "outputs/renders/copy of set.png")
    for path in ("assets/locations/set.png", "outputs/renders/copy of set.png"):
        settled(root / path)
    commit(settings, root)
    assert make_thumbnail(settings, "film", "assets/locations/set.png")["status"] == "made"
    told = [(r.event, r.data["path"]) for r in mailbox.pending(settings.state)]
    assert told == [("media.thumbnail", "assets/locations/set.png")]

    again = make_thumbnail(settings, "film", "assets/locations/set.png", ffmpeg=NO_FFMPEG)
    same = make_thumbnail(settings, "film", "outputs/renders/copy of set.png", ffmpeg=NO_FFMPEG)
    assert again["status"] == same["status"] == "current", "no second ffmpeg run for the same bytes"
    assert len(mailbox.pending(settings.state)) == 1

    second = make_image(root / "assets/locations/set.png", size="400x400")
    settled(root / "assets/locations/set.png")
    commit(settings, root)
    made = make_thumbnail(settings, "film", "assets/locations/set.png")
    assert made["status"] == "made" and made["key"] == hashlib.sha256(second).hexdigest() != hashlib.sha256(first).hexdigest()
    assert jpeg_size(root / thumbnail_relpath(made["key"])) == (400, 400)
    assert thumbnail_state(root, hashlib.sha256(first).hexdigest()) == "made", "the old version keeps its own"
    assert list((settings.state / media.SCRATCH_DIR).iterdir()) == [], "no scratch file left behind"
    assert "temp/" not in git(root, "status", "--porcelain", "--ignored=no")


def test_bytes_ffmpeg_cannot_decode_are_noted_and_never_tried_again(settings, root):
    path = "assets/storyboards/broken.png"
    data = b"\x89PNG\r\n\x1a\n" + b"not really an image" * 50
    drop_file(root / path, data, mtime=time.time() - 60)
    commit(settings, root)
    failed = make_thumbnail(settings, "film", path)
    key = hashlib.sha256(data).hexdigest()
    assert failed["status"] == "failed" and failed["error"], failed
    assert (root / thumbnail_failed_relpath(key)).read_text().strip()
    assert not (root / thumbnail_relpath(key)).exists()
    assert make_thumbnail(settings, "film", path, ffmpeg=NO_FFMPEG)["status"] == "failed"


def test_a_file_not_committed_as_it_is_has_no_key_yet(settings, root):
    path = "assets/storyboards/fresh.png"
    make_image(root / path)
    assert make_thumbnail(settings, "film", path, ffmpeg=NO_FFMPEG)["status"] == "uncommitted", "not committed yet"
    settled(root / path)
    commit(settings, root)
    assert content_key(root, path) is not None
    make_image(root / path, size="64x64")  # changed by hand since
    assert content_key(root, path) is None
    assert make_thumbnail(settings, "film", path, ffmpeg=NO_FFMPEG)["status"] == "uncommitted"


@pytest.mark.parametrize("path", ["../film/assets/x.png", "/etc/x.png", "temp/x.png", "assets/storyboards/clip.mp4",
                                  "assets//x.png", "assets/storyboards/none.png"])  # fmt: skip
def test_paths_outside_the_assets_not_images_or_missing_are_refused(settings, root, path):
    with pytest.raises(media.PreviewError):
        make_thumbnail(settings, "film", path)


def test_a_symlink_out_of_the_project_is_refused(settings, root, tmp_path):
    make_image(tmp_path / "outside.png", size="64x64")
    (root / "assets/storyboards/link.png").symlink_to(tmp_path / "outside.png")
    with pytest.raises(media.PreviewError, match="outside"):
        make_thumbnail(settings, "film", "assets/storyboards/link.png")


def test_the_job_reports_a_permanent_problem_instead_of_raising(settings, root):
    jobs.configure(settings)
    try:
        assert thumbnails.thumbnail(project_id="no-such-film", path="assets/storyboards/a.png")["status"] == "failed"
    finally:
        jobs.reset()


def test_an_ingested_image_enqueues_its_thumbnail_by_name(settings, root, configured, tmp_path):
    still = make_image(tmp_path / "still.png", size="64x64")
    assert jobs.ingest(stage(settings, "assets/storyboards/still.png", still))["status"] == "completed"
    oid = hashlib.sha256(still).hexdigest()
    expected = ("worker.thumbnails.thumbnail", thumbnail_job_id("film", oid),
                {"project_id": "film", "path": "assets/storyboards/still.png"})  # fmt: skip
    assert configured.jobs == [expected]
    assert thumbnails.thumbnail(**expected[2])["status"] == "made"
    assert jobs.ingest(stage(settings, "outputs/renders/same.png", still))["status"] == "completed"
    assert configured.jobs == [expected], "the same bytes elsewhere have their thumbnail already"


@pytest.fixture
def redis_server(tmp_path):
    yield from running_redis(tmp_path / "redis")


def test_through_rq_the_job_makes_the_thumbnail_as_the_api_enqueues_it(settings, root, redis_server):
    """Redis mode: ``enqueue_thumbnail`` (by name, plain values) run by an RQ worker in this process."""
    path = "assets/storyboards/rq.png"
    data = make_image(root / path, size="64x64")
    settled(root / path)
    commit(settings, root)
    queue = RQJobs(redis_server.url)
    job_id = enqueue_thumbnail(queue, "film", path, hashlib.sha256(data).hexdigest())
    jobs.configure(settings)
    try:
        assert SimpleWorker([queue.queue], connection=queue.redis).work(burst=True)
    finally:
        jobs.reset()
    assert Job.fetch(job_id, connection=queue.redis).get_status() == JobStatus.FINISHED
    assert jpeg_size(root / thumbnail_relpath(hashlib.sha256(data).hexdigest())) == (64, 64)
