"""A video's poster frame: ``GET``/``HEAD /api/v1/projects/{id}/posters/{video path}``.

Routed by ``api.app.create_app``; asked for by the gallery's cards (``web.pages``).
The ``worker.media.poster`` job makes ``<project>/temp/posters/<video path>.jpg``
(the assets listing enqueues it, ``api.assets.ask_for_posters``); this only serves
it, through the download code of ``api.assets``: ``image/jpeg``, revalidated on every
use (``Cache-Control: no-cache``, with an ``ETag``), 404 while there is none yet or
once the video is gone. The video path is checked like a download's (``..``,
absolute paths and symlinks out of the project are refused), and so is the way to
the poster.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import falcon
import falcon.asgi

from api.assets import ProjectFiles, resolve_asset, send_file
from api.errors import not_found
from auteur.media import POSTERS_DIR, is_video, poster_relpath
from auteur.paths import UnsafePath, resolve_under


def check_source(root: Path, relpath: str, is_kind: Callable[[str], bool], kind: str) -> None:
    """400 for a malformed path, 404 unless ``relpath`` is a regular file under ``assets/``
    or ``outputs/`` of ``kind`` (as ``is_kind`` says): what a poster or thumbnail is of."""
    source = resolve_asset(root, relpath)
    try:
        regular = stat.S_ISREG(os.lstat(source).st_mode)
    except OSError:
        regular = False
    if not regular or not is_kind(relpath):
        not_found(f"no {kind} {relpath!r}", "path")


def resolve_poster(root: Path, video_relpath: str) -> str:
    """The real path where the poster of the video ``video_relpath`` (a regular file
    under ``assets/`` or ``outputs/``) lives; 400 for a malformed path, 404 when the
    video is not there, or when the poster's path leads elsewhere (a symlink)."""
    check_source(root, video_relpath, is_video, "video")
    try:
        return resolve_under(root, poster_relpath(video_relpath), within="/".join(POSTERS_DIR))
    except UnsafePath:
        not_found(f"no poster for {video_relpath!r}", "path")


class PosterResource(ProjectFiles):
    """``GET``/``HEAD`` the poster frame of one video."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str, path: str) -> None:
        self._serve(req, resp, project_id, path, body=True)

    async def on_head(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str, path: str) -> None:
        self._serve(req, resp, project_id, path, body=False)

    def _serve(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str, path: str, *, body: bool) -> None:
        resp.cache_control = ["no-cache"]  # a newer version of the video brings a new poster
        _, root = self.project(project_id)
        if root is None:
            not_found(f"no poster for {path!r}", "path")
        real = resolve_poster(root, path)
        name = path.rsplit("/", 1)[-1] + ".jpg"
        send_file(req, resp, real, name, body=body, missing=f"no poster for {path!r} yet")  # .jpg: image/jpeg, inline
