"""Poster frames: one JPEG per video, for the gallery's cards.

``poster(project_id=..., path=...)`` is a job, enqueued by name
(``"worker.media.poster"``, see ``auteur.media.enqueue_poster``) by the API's assets
listing for every video whose poster is missing or stale, and by the ingest job once
a video upload is in, so ffmpeg never runs on a request path. It writes
``<project>/temp/posters/<video path>.jpg`` (``temp/`` is git-ignored; the API serves
it at ``/api/v1/projects/{id}/posters/{video path}``) and then announces a
``media.poster`` event to the controller (``auteur.mailbox``), which journals it; on it,
the gallery reloads the card's picture.

The poster carries its video's mtime, so "is the poster current?" is one ``stat``
of each (``auteur.media.poster_is_current``), never a hash. A video ffmpeg cannot
read gets a ``<video path>.failed`` marker with its mtime instead, so listings do not
ask for the same hopeless poster again. ffmpeg writes into the state folder's
scratch space; the finished file is renamed into the project under the project's
lock, like every other write a worker makes to a project folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auteur import mailbox
from auteur.atomic import fsync_dir
from auteur.layout import TRACKED_ROOTS
from auteur.media import POSTER_JOB, VIDEO_EXTENSIONS, is_video, poster_failed_relpath, poster_is_current, poster_relpath
from auteur.paths import MalformedPath, UnsafePath, path_parts, resolve_under
from auteur.settings import Settings
from controller.locking import project_lock
from controller.ownership import Owners
from worker import jobs

# The shared rules live in ``auteur.media`` (the API needs them too); re-exported here.
__all__ = ["POSTER_JOB", "VIDEO_EXTENSIONS", "PosterError", "PreviewError", "is_video", "make_poster", "poster",
           "poster_failed_relpath", "poster_is_current", "poster_relpath"]  # fmt: skip

log = logging.getLogger("auteur.worker.media")

SCRATCH_DIR = "media"  # under workspace/.auteur/
POSTER_WIDTH = 640
FFMPEG_TIMEOUT = 120.0


class PreviewError(Exception):
    """The request cannot be served: not a video (or an image), outside the project, project
    gone. Permanent: retrying cannot help. ``worker.thumbnails`` raises it too."""


PosterError = PreviewError


# -- the job ----------------------------------------------------------------------------


def poster(project_id: str, path: str) -> dict[str, Any]:
    """The job: make the poster of ``path`` (a video in the project) if it is not current."""
    return run_preview(make_poster, "poster", project_id, path)


Maker = Callable[[Settings, str, str], dict[str, Any]]


def run_preview(make: Maker, what: str, project_id: str, path: str) -> dict[str, Any]:
    """Run a preview job's ``make`` with the settings ``worker.jobs.configure`` gave this
    process, like every job here; a permanent problem is reported as ``failed``, not raised."""
    try:
        return make(jobs.current_settings(), project_id, path)
    except PreviewError as exc:  # permanent: retrying cannot help
        log.warning("no %s for %s/%s: %s", what, project_id, path, exc)
        return {"project_id": project_id, "path": path, "status": "failed", "error": str(exc)}


def make_poster(settings: Settings, project_id: str, path: str, *, ffmpeg: str | None = None) -> dict[str, Any]:
    """Make or refresh one poster; returns ``{"status": "made" | "current" | "failed", ...}``.
    A new poster is announced to the controller as a ``media.poster`` event.

    A video ffmpeg cannot read is ``failed`` at once (retrying cannot help); a timeout
    or an OS error is raised, so the queue retries.
    """
    check_media_path(path, is_video, "a video")
    folder, root, source, st = project_file(settings, project_id, path)
    result = {"project_id": project_id, "path": path, "poster": poster_relpath(path)}
    if poster_is_current(root, path):
        return {**result, "status": "current"}
    frame = scratch_file(settings, ".jpg")
    try:
        error = extract_frame(ffmpeg or find_ffmpeg(), source, frame)
        if error:
            log.warning("no poster for %s/%s: %s", project_id, path, error)
            note_failure(settings, project_id, folder, root, poster_failed_relpath(path), frame, error, st.st_mtime_ns)
            return {**result, "status": "failed", "error": error}
        os.utime(frame, ns=(st.st_mtime_ns, st.st_mtime_ns))  # ties the poster to this version of the video
        if not install(settings, project_id, folder, root, poster_relpath(path), frame, drop=poster_failed_relpath(path)):
            return {**result, "status": "gone"}
    finally:
        frame.unlink(missing_ok=True)
    announce(settings, project_id, "media.poster", {"path": path, "poster": result["poster"]})
    log.info("made the poster of %s/%s", project_id, path)
    return {**result, "status": "made"}


# -- shared with worker.thumbnails ---------------------------------------------------------


def check_media_path(relpath: str, is_kind: Callable[[str], bool], kind: str) -> None:
    """Raise PreviewError unless ``relpath`` is a plain project-relative path under
    ``assets/`` or ``outputs/`` to a file of ``kind`` (as ``is_kind`` says)."""
    try:
        parts = path_parts(relpath)
    except MalformedPath:
        raise PreviewError(f"not a project-relative path: {relpath!r}") from None
    if len(parts) < 2 or parts[0] not in TRACKED_ROOTS:
        raise PreviewError(f"{relpath!r} is not under assets/ or outputs/")
    if not is_kind(relpath):
        raise PreviewError(f"{relpath!r} is not {kind}")


def project_file(settings: Settings, project_id: str, relpath: str) -> tuple[str, Path, str, os.stat_result]:
    """The project's folder name and root, and the real path and ``lstat`` of the regular
    file ``relpath`` in it; PreviewError if the project or the file is not there."""
    owner = Owners(settings.state).get(project_id)
    if owner is None:
        raise PreviewError(f"project {project_id!r} does not exist")
    root = settings.workspace / owner.folder
    source = inside(root, relpath)
    try:
        st = os.lstat(source)
    except FileNotFoundError:
        raise PreviewError(f"{relpath!r} is not there") from None
    if not stat.S_ISREG(st.st_mode):
        raise PreviewError(f"{relpath!r} is not a regular file")
    return owner.folder, root, source, st


def inside(root: Path, relpath: str) -> str:
    """The real path of ``root/relpath``, refusing anything that leaves ``root`` (symlinks)."""
    try:
        return resolve_under(root, relpath)
    except UnsafePath:
        raise PreviewError(f"{relpath!r} leads outside the project") from None


def scratch_file(settings: Settings, suffix: str) -> Path:
    """A new name in the state folder's scratch space, where ffmpeg writes."""
    scratch = settings.state / SCRATCH_DIR
    scratch.mkdir(parents=True, exist_ok=True)
    return scratch / f"{uuid.uuid4().hex}{suffix}"


def find_ffmpeg() -> str:
    return shutil.which("ffmpeg") or "/usr/bin/ffmpeg"


def extract_frame(ffmpeg: str, source: str, target: Path) -> str:
    """Write one JPEG frame of ``source`` (1 s in, or the first for shorter clips) at most
    ``POSTER_WIDTH`` wide; returns "" on success, else what ffmpeg said."""
    said = ""
    for seek in (["-ss", "1"], []):
        said = write_frame(ffmpeg, [*seek, "-i", source], target, f"scale='min({POSTER_WIDTH},iw)':-2")
        if not said:
            return ""
    return said


def write_frame(ffmpeg: str, inputs: list[str], target: Path, scale: str) -> str:
    """Run ffmpeg on ``inputs`` (input options and ``-i``) to write the first video frame
    it decodes, through the ``scale`` filter, as a JPEG at ``target`` (fsynced); returns
    "" on success, else what ffmpeg said. One decoding thread and one frame: its memory
    is a frame or two whatever the file's size, and Python never reads the file."""
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1", *inputs, "-map", "0:v:0",
               "-frames:v", "1", "-vf", scale, "-c:v", "mjpeg", "-q:v", "4", "-f", "image2", "-y", str(target)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT, check=False)
    if done.returncode == 0 and target.exists() and target.stat().st_size > 0:
        with open(target, "rb") as handle:
            os.fsync(handle.fileno())
        return ""
    return (done.stderr.strip().splitlines() or [f"ffmpeg exited with {done.returncode}"])[-1] or "ffmpeg made no frame"


def note_failure(settings: Settings, project_id: str, folder: str, root: Path, relpath: str, scratch: Path, error: str,
                 mtime_ns: int | None = None) -> None:  # fmt: skip
    """Leave the failure note ``relpath`` (what ffmpeg said; with the source's mtime, if
    given), so nobody asks again for the same hopeless frame; best effort."""
    try:
        with open(scratch, "wb") as handle:
            handle.write(error.encode(errors="replace") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        if mtime_ns is not None:
            os.utime(scratch, ns=(mtime_ns, mtime_ns))
        install(settings, project_id, folder, root, relpath, scratch)
    except (OSError, PreviewError):
        log.warning("could not note the failure %s in %s", relpath, project_id, exc_info=True)


def install(settings: Settings, project_id: str, folder: str, root: Path, relpath: str, made: Path,
            drop: str | None = None) -> bool:  # fmt: skip
    """Rename ``made`` to ``relpath`` in the project (under ``temp/``), and remove
    ``drop`` if present, under the project's lock; False if the project went away (to
    the trash) meanwhile."""
    with project_lock(settings.state, project_id):
        owner = Owners(settings.state).get(project_id)
        if owner is None or owner.folder != folder or not os.path.isdir(root):
            return False
        target = Path(inside(root, relpath))
        target.parent.mkdir(parents=True, exist_ok=True)
        inside(root, relpath)  # again, now that the folders exist
        os.replace(made, target)
        if drop is not None:
            Path(inside(root, drop)).unlink(missing_ok=True)
        fsync_dir(target.parent)
    return True


def announce(settings: Settings, project_id: str, event: str, data: dict[str, Any]) -> None:
    """Tell the controller, which journals the event, that a frame is in place."""
    try:
        mailbox.announce(settings.state, project_id, event, data, reconcile=False)
    except OSError:  # events are a courtesy: the frame is in place
        log.warning("could not announce %s for %s", event, project_id, exc_info=True)
