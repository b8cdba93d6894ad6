"""Which files are media (and so always go through Git LFS), and where videos' posters live.

Shared so the API can say whether a listed asset is stored through LFS without
importing the controller: ``controller.attributes`` renders ``.gitattributes``
from ``MEDIA_EXTENSIONS`` and decides with ``is_media``; ``api.assets`` reports
with ``stored_in_lfs``.

Posters: the ``worker.media.poster`` job writes a video's poster frame to
``<project>/temp/posters/<video path>.jpg`` with the video's mtime, or, when ffmpeg
cannot read the video, a ``<video path>.failed`` marker with that mtime. So "does
this video need a poster?" is a few ``stat`` calls (:func:`poster_needed`), never a
hash; the API asks it when listing assets and enqueues the job by name
(:func:`enqueue_poster`), and serves the frame; the ingest job asks it after an upload.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Protocol

MEDIA_EXTENSIONS = (
    "mp4", "mov", "mkv", "avi", "mxf", "webm", "m4v", "r3d", "braw",
    "wav", "aif", "aiff", "flac", "mp3", "m4a", "aac", "ogg",
    "png", "jpg", "jpeg", "tif", "tiff", "exr", "dpx", "tga", "hdr", "gif", "webp", "heic",
    "psd", "kra", "blend", "fbx", "abc", "obj", "usd", "usda", "usdc", "usdz",
    "pdf", "zip",
)  # fmt: skip

# git matches the ``*.ext`` and ``*.EXT`` lines literally (cameras write CLIP.MP4).
_MEDIA = frozenset(MEDIA_EXTENSIONS) | frozenset(e.upper() for e in MEDIA_EXTENSIONS)


def is_media(relpath: str) -> bool:
    """True if git's ``*.ext``/``*.EXT`` lines route this path through LFS."""
    name = relpath.rsplit("/", 1)[-1]
    _, dot, ext = name.rpartition(".")
    return bool(dot) and ext in _MEDIA


def stored_in_lfs(relpath: str, size: int, large_file_bytes: int) -> bool:
    """True if the controller commits this file through LFS: media, or any file
    over the large-file threshold (which gets its own ``.gitattributes`` line)."""
    return is_media(relpath) or size > large_file_bytes


# -- posters --------------------------------------------------------------------------

POSTER_JOB = "worker.media.poster"
POSTERS_DIR = ("temp", "posters")
VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "m4v", "webm", "mkv", "avi", "mxf"})


class Enqueuer(Protocol):
    """The part of ``auteur.jobs.JobQueue`` that asks for a poster."""

    def enqueue(self, name: str, *, job_id: str, kwargs: dict[str, Any]) -> str: ...


def is_video(relpath: str) -> bool:
    _, dot, ext = relpath.rsplit("/", 1)[-1].rpartition(".")
    return bool(dot) and ext.lower() in VIDEO_EXTENSIONS


def poster_relpath(video_relpath: str) -> str:
    """``assets/storyboards/a.mp4`` → ``temp/posters/assets/storyboards/a.mp4.jpg``."""
    return "/".join((*POSTERS_DIR, f"{video_relpath}.jpg"))


def poster_failed_relpath(video_relpath: str) -> str:
    """Where the poster job notes that ffmpeg could not read this version of the video."""
    return "/".join((*POSTERS_DIR, f"{video_relpath}.failed"))


def _mtime_ns(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except (FileNotFoundError, NotADirectoryError):
        return None


def poster_is_current(root: Path, video_relpath: str) -> bool:
    """True if the poster exists and was made from the video as it is now."""
    try:
        video = os.stat(root / video_relpath)
        made = os.stat(root / poster_relpath(video_relpath))
    except (FileNotFoundError, NotADirectoryError):
        return False
    return made.st_mtime_ns == video.st_mtime_ns and made.st_size > 0


def poster_needed(root: Path, video_relpath: str) -> int | None:
    """The video's ``st_mtime_ns`` if its poster is missing or stale (and making it has
    not already failed for this version of the video), else None."""
    video = _mtime_ns(root / video_relpath)
    if video is None or poster_is_current(root, video_relpath):
        return None
    return None if _mtime_ns(root / poster_failed_relpath(video_relpath)) == video else video


def poster_job_id(project_id: str, video_relpath: str, mtime_ns: int) -> str:
    """Deterministic, so one version of a video enqueued twice makes one poster."""
    digest = hashlib.sha256(f"{project_id}\0{video_relpath}\0{mtime_ns}".encode()).hexdigest()[:24]
    return f"poster-{digest}"


def enqueue_poster(queue: Enqueuer, project_id: str, video_relpath: str, mtime_ns: int) -> str:
    """Ask for the poster of this version (``mtime_ns``) of a video, by the job's name."""
    return queue.enqueue(POSTER_JOB, job_id=poster_job_id(project_id, video_relpath, mtime_ns),
                         kwargs={"project_id": project_id, "path": video_relpath})  # fmt: skip
