"""Image thumbnails: which files get one, what names their version, and where they live.

Shared by the API, which serves a thumbnail and asks for a missing one by the job's
name (``api.thumbnails``), and the worker, whose ``worker.thumbnails.thumbnail`` job
makes it with ffmpeg. A thumbnail is cached by the **content key** of the bytes it was
made from: the file's LFS oid (from the pointer blob the controller committed), or the
git blob id of a file that is not stored through LFS. The key comes from what the
controller recorded in ``.git/index`` (an entry whose stat data still matches the file
means those very bytes, ``auteur.gitindex``), so nothing is hashed to find it: the same
bytes are never thumbnailed twice, and a new version gets a new thumbnail. A file not
committed yet has no key, and no thumbnail until the controller's snapshot takes it.

``<project>/temp/thumbnails/<key[:2]>/<key>.jpg`` is the thumbnail (``temp/`` is
git-ignored); ``<key>.failed`` notes that ffmpeg could not decode those bytes, so they
are not tried again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dulwich.index import IndexEntry

from auteur.gitindex import recorded_entries, same_stat
from auteur.media import Enqueuer
from auteur.versions import describe_blob, open_store

THUMBNAIL_JOB = "worker.thumbnails.thumbnail"
THUMBNAILS_DIR = ("temp", "thumbnails")
THUMBNAIL_SIZE = 640  # the box a thumbnail fits in, in pixels
# What ffmpeg decodes that studios use: web formats, camera and scan formats (TIFF, DPX,
# Cineon), VFX and paint formats (EXR, HDR, PSD, TGA, SGI), JPEG 2000, netpbm.
IMAGE_EXTENSIONS = frozenset({
    "png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "exr", "psd", "dpx", "cin", "tga", "hdr",
    "sgi", "rgb", "jp2", "j2k", "ppm", "pgm", "pnm", "pcx", "avif",
})  # fmt: skip


def is_image(relpath: str) -> bool:
    """True if ffmpeg makes a thumbnail of this kind of file (by extension, any case)."""
    _, dot, ext = relpath.rsplit("/", 1)[-1].rpartition(".")
    return bool(dot) and ext.lower() in IMAGE_EXTENSIONS


def thumbnail_relpath(key: str) -> str:
    """``ab12…`` → ``temp/thumbnails/ab/ab12….jpg``."""
    return "/".join((*THUMBNAILS_DIR, key[:2], f"{key}.jpg"))


def thumbnail_failed_relpath(key: str) -> str:
    """Where the job notes that ffmpeg could not decode the bytes named ``key``."""
    return "/".join((*THUMBNAILS_DIR, key[:2], f"{key}.failed"))


def content_key(root: Path, relpath: str, entries: dict[str, IndexEntry] | None = None) -> str | None:
    """The key of the bytes at ``root/relpath`` as the controller committed them: the LFS
    oid, or the git blob id of a plain file; None when the file is missing, not committed
    yet, or changed since. ``entries`` is ``.git/index`` already read (else it is read)."""
    if entries is None:
        entries = recorded_entries(root / ".git" / "index")
    entry = entries.get(relpath)
    if entry is None:
        return None
    try:
        st = os.lstat(root / relpath)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not same_stat(entry, st):
        return None
    stored = describe_blob(open_store(root / ".git"), entry.sha)
    return stored.oid if stored is not None else None


def thumbnail_state(root: Path, key: str) -> str:
    """``made`` (the thumbnail is there), ``failed`` (ffmpeg could not decode these bytes)
    or ``missing``: a few ``stat`` calls."""
    for state, relpath in (("made", thumbnail_relpath(key)), ("failed", thumbnail_failed_relpath(key))):
        try:
            if os.stat(root / relpath).st_size > 0 or state == "failed":
                return state
        except (FileNotFoundError, NotADirectoryError):
            continue
    return "missing"


def thumbnail_job_id(project_id: str, key: str) -> str:
    """Deterministic, so the same bytes asked for twice (or at two paths) make one thumbnail."""
    return "thumbnail-" + hashlib.sha256(f"{project_id}\0{key}".encode()).hexdigest()[:24]


def enqueue_thumbnail(queue: Enqueuer, project_id: str, relpath: str, key: str) -> str:
    """Ask for the thumbnail of the bytes ``key`` at ``relpath``, by the job's name."""
    return queue.enqueue(THUMBNAIL_JOB, job_id=thumbnail_job_id(project_id, key),
                         kwargs={"project_id": project_id, "path": relpath})  # fmt: skip
