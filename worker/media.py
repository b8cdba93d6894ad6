"""Poster frames: one JPEG per video, for the gallery's cards.

``poster(project_id=..., path=...)`` is a job, enqueued by name
(``"worker.media.poster"``, see :func:`enqueue_poster`) after a video upload is
ingested, so ffmpeg never runs on a request path. It writes
``<project>/temp/posters/<video path>.jpg`` (``temp/`` is git-ignored) and then
publishes a ``media.poster`` event, on which the gallery reloads the card's picture.

The poster carries its video's mtime, so "is the poster current?" is one ``stat``
of each (:func:`poster_is_current`), never a hash. ffmpeg writes into the state
folder's scratch space; the finished file is renamed into the project under the
project's lock, like every other write a worker makes to a project folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from auteur.atomic import fsync_dir
from auteur.events import Event, IdMaker
from auteur.jobs import JobQueue
from auteur.layout import TRACKED_ROOTS
from auteur.settings import Settings
from controller.locking import project_lock
from controller.ownership import Owners
from worker import jobs
from worker.ingesting import Publisher

log = logging.getLogger("auteur.worker.media")

POSTER_JOB = "worker.media.poster"
POSTERS_DIR = ("temp", "posters")
SCRATCH_DIR = "media"  # under workspace/.auteur/
VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "m4v", "webm", "mkv", "avi", "mxf"})
POSTER_WIDTH = 640
FFMPEG_TIMEOUT = 120.0
_ids = IdMaker()


class PosterError(Exception):
    """The request cannot be served: not a video, outside the project, project gone."""


def is_video(relpath: str) -> bool:
    _, dot, ext = relpath.rsplit("/", 1)[-1].rpartition(".")
    return bool(dot) and ext.lower() in VIDEO_EXTENSIONS


def poster_relpath(video_relpath: str) -> str:
    """``assets/storyboards/a.mp4`` → ``temp/posters/assets/storyboards/a.mp4.jpg``."""
    return "/".join((*POSTERS_DIR, f"{video_relpath}.jpg"))


def poster_is_current(root: Path, video_relpath: str) -> bool:
    """True if the poster exists and was made from the video as it is now."""
    try:
        video = os.stat(root / video_relpath)
        made = os.stat(root / poster_relpath(video_relpath))
    except (FileNotFoundError, NotADirectoryError):
        return False
    return made.st_mtime_ns == video.st_mtime_ns and made.st_size > 0


def poster_job_id(project_id: str, video_relpath: str, version: str = "") -> str:
    """Deterministic, so the same video enqueued twice makes one poster."""
    digest = hashlib.sha256(f"{project_id}\0{video_relpath}\0{version}".encode()).hexdigest()[:24]
    return f"poster-{digest}"


def enqueue_poster(queue: JobQueue, project_id: str, video_relpath: str, version: str = "") -> str:
    """Ask for a video's poster frame (``version``: e.g. the upload's oid)."""
    return queue.enqueue(POSTER_JOB, job_id=poster_job_id(project_id, video_relpath, version),
                         kwargs={"project_id": project_id, "path": video_relpath})  # fmt: skip


class PostersAfterUploads:
    """The worker's event publisher, passed to ``worker.jobs.configure``: forwards every
    event to ``bus`` and, when the upload of a video completes, enqueues its poster."""

    def __init__(self, bus: Publisher, queue: JobQueue) -> None:
        self.bus, self.queue = bus, queue

    def publish(self, event: Event) -> None:
        self.bus.publish(event)
        path = event.data.get("path")
        project_id = event.project.get("id")
        if event.type == "upload.completed" and isinstance(path, str) and isinstance(project_id, str) and is_video(path):
            try:
                enqueue_poster(self.queue, project_id, path, str(event.data.get("oid") or ""))
            except Exception:  # a poster is a nicety: the upload stands without it
                log.warning("could not enqueue the poster of %s/%s", project_id, path, exc_info=True)


# -- the job ----------------------------------------------------------------------------


def poster(project_id: str, path: str) -> dict[str, Any]:
    """The job: make the poster of ``path`` (a video in the project) if it is not current."""
    # The settings and bus ``worker.jobs.configure`` gave this process, like every job here.
    try:
        return make_poster(jobs._current_settings(), project_id, path, bus=jobs._bus)
    except PosterError as exc:  # permanent: retrying cannot help
        log.warning("no poster for %s/%s: %s", project_id, path, exc)
        return {"project_id": project_id, "path": path, "status": "failed", "error": str(exc)}


def check_video_path(relpath: str) -> None:
    """Raise PosterError unless ``relpath`` is a plain project-relative path to a video
    under ``assets/`` or ``outputs/``."""
    parts = relpath.split("/")
    if relpath.startswith("/") or "\0" in relpath or any(p in ("", ".", "..") for p in parts):
        raise PosterError(f"not a project-relative path: {relpath!r}")
    if len(parts) < 2 or parts[0] not in TRACKED_ROOTS:
        raise PosterError(f"{relpath!r} is not under assets/ or outputs/")
    if not is_video(relpath):
        raise PosterError(f"{relpath!r} is not a video")


def _inside(root: Path, relpath: str) -> str:
    """The real path of ``root/relpath``, refusing anything that leaves ``root`` (symlinks)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, *relpath.split("/")))
    if not real.startswith(real_root + os.sep):
        raise PosterError(f"{relpath!r} leads outside the project")
    return real


def make_poster(settings: Settings, project_id: str, path: str, *, bus: Publisher | None = None,
                ffmpeg: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Make or refresh one poster; returns ``{"status": "made" | "current" | "failed", ...}``.

    A video ffmpeg cannot read is ``failed`` at once (retrying cannot help); a timeout
    or an OS error is raised, so the queue retries.
    """
    check_video_path(path)
    owner = Owners(settings.state).get(project_id)
    if owner is None:
        raise PosterError(f"project {project_id!r} does not exist")
    root = settings.workspace / owner.folder
    source = _inside(root, path)
    st = os.lstat(source)
    if not stat.S_ISREG(st.st_mode):
        raise PosterError(f"{path!r} is not a regular file")
    result = {"project_id": project_id, "path": path, "poster": poster_relpath(path)}
    if poster_is_current(root, path):
        return {**result, "status": "current"}
    scratch = settings.state / SCRATCH_DIR
    scratch.mkdir(parents=True, exist_ok=True)
    frame = scratch / f"{uuid.uuid4().hex}.jpg"
    try:
        error = extract_frame(ffmpeg or find_ffmpeg(), source, frame)
        if error is not None:
            log.warning("no poster for %s/%s: %s", project_id, path, error)
            return {**result, "status": "failed", "error": error}
        os.utime(frame, ns=(st.st_mtime_ns, st.st_mtime_ns))  # ties the poster to this version of the video
        if not _install(settings, project_id, owner.folder, root, path, frame):
            return {**result, "status": "gone"}
    finally:
        frame.unlink(missing_ok=True)
    if bus is not None:
        _publish(bus, project_id, result)
    log.info("made the poster of %s/%s", project_id, path)
    return {**result, "status": "made"}


def find_ffmpeg() -> str:
    return shutil.which("ffmpeg") or "/usr/bin/ffmpeg"


def extract_frame(ffmpeg: str, source: str, target: Path) -> str | None:
    """Write one JPEG frame of ``source`` (1 s in, or the first for shorter clips) at most
    ``POSTER_WIDTH`` wide; returns None on success, else what ffmpeg said."""
    said = ""
    for seek in ("1", None):
        command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error"]
        command += ["-ss", seek] if seek else []
        command += ["-i", source, "-map", "0:v:0", "-frames:v", "1", "-vf", f"scale='min({POSTER_WIDTH},iw)':-2",
                    "-q:v", "4", "-f", "image2", "-y", str(target)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT, check=False)
        if done.returncode == 0 and target.exists() and target.stat().st_size > 0:
            with open(target, "rb") as handle:
                os.fsync(handle.fileno())
            return None
        said = (done.stderr.strip().splitlines() or [f"ffmpeg exited with {done.returncode}"])[-1]
    return said or "ffmpeg made no frame"


def _install(settings: Settings, project_id: str, folder: str, root: Path, path: str, frame: Path) -> bool:
    """Rename the frame into ``temp/posters/`` under the project's lock; False if the
    project went away (to the trash) meanwhile."""
    with project_lock(settings.state, project_id):
        owner = Owners(settings.state).get(project_id)
        if owner is None or owner.folder != folder or not os.path.isdir(root):
            return False
        target = Path(_inside(root, poster_relpath(path)))
        target.parent.mkdir(parents=True, exist_ok=True)
        _inside(root, poster_relpath(path))  # again, now that the folders exist
        os.replace(frame, target)
        fsync_dir(target.parent)
    return True


def _publish(bus: Publisher, project_id: str, result: dict[str, Any]) -> None:
    try:
        bus.publish(Event(id=_ids(), type="media.poster", project={"id": project_id}, at=time.time(),
                          data={"path": result["path"], "poster": result["poster"]}))  # fmt: skip
    except Exception:  # events are a courtesy
        log.warning("could not publish media.poster for %s", project_id, exc_info=True)
