"""Image thumbnails: one JPEG per version of an image, at most 640 pixels on its longer side.

``thumbnail(project_id=..., path=...)`` is a job, enqueued by name
(``"worker.thumbnails.thumbnail"``, see ``auteur.thumbnails.enqueue_thumbnail``) by the
API when a thumbnail it is asked for is not there yet (``api.thumbnails``) and by the
ingest job once an image upload is committed, so ffmpeg never runs on a request path.
Any image ffmpeg decodes gets one: PNG, JPEG, TIFF, EXR (tone-mapped from linear light
to sRGB), PSD, DPX and the rest of ``auteur.thumbnails.IMAGE_EXTENSIONS``.

The thumbnail is cached by the content key of the committed bytes (their LFS oid, or
the blob id of a plain file): ``<project>/temp/thumbnails/<key[:2]>/<key>.jpg``. The
same bytes are never thumbnailed twice, whatever their path; bytes ffmpeg cannot
decode get a ``<key>.failed`` note instead, so they are not tried again. A file the
controller has not committed yet (or that changed since) has no key: nothing is done
until it has one. The key is checked again once ffmpeg is done, so a thumbnail never
names bytes it was not made from. ffmpeg decodes one frame with one thread and Python
never reads the image; the result is renamed into the project under its lock
(``worker.media.install``), then a ``media.thumbnail`` event is announced to the
controller, on which the project page reloads the picture.
"""

from __future__ import annotations

import logging
from typing import Any

from auteur.settings import Settings
from auteur.thumbnails import (
    THUMBNAIL_JOB,
    THUMBNAIL_SIZE,
    content_key,
    is_image,
    thumbnail_failed_relpath,
    thumbnail_relpath,
    thumbnail_state,
)
from worker.media import (
    announce,
    check_media_path,
    find_ffmpeg,
    install,
    note_failure,
    project_file,
    run_preview,
    scratch_file,
    write_frame,
)

__all__ = ["THUMBNAIL_JOB", "make_thumbnail", "thumbnail"]

log = logging.getLogger("auteur.worker.thumbnails")

# Fit the box, keep the aspect ratio, never enlarge; JPEG wants no odd chroma, so round to even.
SCALE = (f"scale='min({THUMBNAIL_SIZE},iw)':'min({THUMBNAIL_SIZE},ih)':force_original_aspect_ratio=decrease"
         ":force_divisible_by=2")  # fmt: skip
# Input options by extension: EXR holds linear light, which looks dark unless mapped to sRGB.
DECODER_OPTIONS = {"exr": ["-apply_trc", "iec61966_2_1"]}


def thumbnail(project_id: str, path: str) -> dict[str, Any]:
    """The job: make the thumbnail of the image at ``path`` as committed, if it has none."""
    return run_preview(make_thumbnail, "thumbnail", project_id, path)


def make_thumbnail(settings: Settings, project_id: str, path: str, *, ffmpeg: str | None = None) -> dict[str, Any]:
    """Make one thumbnail; returns ``{"status": ..., "key": ...}`` with status ``made``,
    ``current`` (there already), ``failed`` (ffmpeg cannot decode these bytes, now or
    before), ``uncommitted`` (no key yet), ``changed`` (the file changed while ffmpeg ran)
    or ``gone`` (the project went to the trash). A timeout or an OS error is raised, so
    the queue retries."""
    check_media_path(path, is_image, "an image")
    folder, root, source, _ = project_file(settings, project_id, path)
    key = content_key(root, path)
    result: dict[str, Any] = {"project_id": project_id, "path": path, "key": key}
    if key is None:
        return {**result, "status": "uncommitted"}
    state = thumbnail_state(root, key)
    if state != "missing":
        return {**result, "status": "current" if state == "made" else "failed"}
    frame = scratch_file(settings, ".jpg")
    try:
        ext = path.rsplit(".", 1)[-1].lower()
        error = write_frame(ffmpeg or find_ffmpeg(), [*DECODER_OPTIONS.get(ext, []), "-i", source], frame, SCALE)
        if content_key(root, path) != key:  # ffmpeg may have read other bytes: name none
            return {**result, "status": "changed"}
        if error:
            log.warning("no thumbnail for %s/%s: %s", project_id, path, error)
            note_failure(settings, project_id, folder, root, thumbnail_failed_relpath(key), frame, error)
            return {**result, "status": "failed", "error": error}
        if not install(settings, project_id, folder, root, thumbnail_relpath(key), frame):
            return {**result, "status": "gone"}
    finally:
        frame.unlink(missing_ok=True)
    announce(settings, project_id, "media.thumbnail", {"path": path, "key": key})
    log.info("made the thumbnail of %s/%s (%s)", project_id, path, key)
    return {**result, "status": "made"}
