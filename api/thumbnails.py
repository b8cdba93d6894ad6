"""An image's thumbnail: ``GET``/``HEAD /api/v1/projects/{id}/thumbnails/{image path}``.

Routed by ``api.app.create_app``; the project page's previews ask for it (``web``'s
``_preview.html``). The ``worker.thumbnails.thumbnail`` job makes it, cached by the
content key of the committed bytes (``auteur.thumbnails``): this finds the key from what
the controller recorded in ``.git/index`` (a read of that file, kept while it does not
change, and of one small pointer blob; never a hash of the image) and serves
``temp/thumbnails/<key[:2]>/<key>.jpg`` through ``api.assets.send_file``: ``image/jpeg``,
revalidated on every use (``Cache-Control: no-cache``, with an ``ETag``). When there is
none yet it enqueues the job by name and answers 404 with the code ``not_ready`` and a
``Retry-After``; bytes ffmpeg could not decode answer 404 with the code
``undecodable``, and are never tried again. The image path is checked like a
download's (``..``, absolute paths and symlinks out of the project are refused), and
so is the way to the thumbnail.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, NoReturn

import anyio.to_thread
import falcon
import falcon.asgi
from dulwich.index import IndexEntry

from api.assets import ProjectFiles, send_file
from api.config import ApiConfig
from api.errors import ApiError, not_found
from api.index import ProjectIndex
from api.posters import check_source
from auteur.gitindex import recorded_entries
from auteur.paths import UnsafePath, resolve_under
from auteur.thumbnails import (
    THUMBNAILS_DIR,
    content_key,
    enqueue_thumbnail,
    is_image,
    thumbnail_failed_relpath,
    thumbnail_relpath,
    thumbnail_state,
)

log = logging.getLogger("auteur.api.thumbnails")

RETRY_SECONDS = 2
_NO_JOBS = frozenset({"unmanaged", "deleting"})  # no owner for the worker to find
_KEPT_INDEXES = 64


class IndexCache:
    """The entries of recently read ``.git/index`` files, each kept while the file's stat
    is unchanged (the controller replaces it atomically), so a page of thumbnails reads
    a project's index once."""

    def __init__(self, size: int = _KEPT_INDEXES) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._kept: OrderedDict[Path, tuple[tuple[int, int, int], dict[str, IndexEntry]]] = OrderedDict()

    def entries(self, root: Path) -> dict[str, IndexEntry]:
        path = root / ".git" / "index"
        try:
            st = os.stat(path)
        except OSError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            kept = self._kept.get(path)
            if kept is not None and kept[0] == stamp:
                self._kept.move_to_end(path)
                return kept[1]
        entries = recorded_entries(path)
        with self._lock:
            self._kept[path] = (stamp, entries)
            self._kept.move_to_end(path)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return entries


def not_ready(message: str) -> NoReturn:
    raise ApiError(404, message, code="not_ready", field="path", headers={"Retry-After": str(RETRY_SECONDS)})


def failure_of(root: Path, key: str) -> str:
    """What ffmpeg said when it could not decode the bytes ``key`` (the note's first line)."""
    try:
        with open(resolve_under(root, thumbnail_failed_relpath(key), within="/".join(THUMBNAILS_DIR)), "rb") as note:
            return note.read(500).decode(errors="replace").strip().split("\n")[0]
    except (OSError, UnsafePath):
        return ""


class ThumbnailResource(ProjectFiles):
    """``GET``/``HEAD`` the thumbnail of one image, asking for it when it is not there yet."""

    def __init__(self, config: ApiConfig, index: ProjectIndex) -> None:
        super().__init__(config, index)
        self.indexes = IndexCache()

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str, path: str) -> None:
        await self._serve(req, resp, project_id, path, body=True)

    async def on_head(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str, path: str) -> None:
        await self._serve(req, resp, project_id, path, body=False)

    async def _serve(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str, path: str, *, body: bool) -> None:
        resp.cache_control = ["no-cache"]  # a new version of the image brings a new thumbnail
        project, root = self.project(project_id)
        if root is None:
            not_found(f"no thumbnail for {path!r}", "path")
        real = await anyio.to_thread.run_sync(self._find, project, root, path)
        send_file(req, resp, real, path.rsplit("/", 1)[-1] + ".jpg", body=body, missing=f"no thumbnail for {path!r} yet")

    def _find(self, project: dict[str, Any], root: Path, path: str) -> str:
        """The real path of the thumbnail of the image at ``path`` (in a worker thread); the
        job is asked for when it is missing."""
        check_source(root, path, is_image, "image")
        key = content_key(root, path, self.indexes.entries(root))
        if key is None:
            not_ready(f"{path!r} is not committed yet: its thumbnail is made once it is")
        state = thumbnail_state(root, key)
        if state == "failed":
            said = failure_of(root, key)
            raise ApiError(404, f"{path!r} has no thumbnail: ffmpeg cannot decode it" + (f" ({said})" if said else ""),
                           code="undecodable", field="path")  # fmt: skip
        if state == "missing":
            self._ask(project, path, key)
            not_ready(f"the thumbnail of {path!r} is being made")
        try:
            return resolve_under(root, thumbnail_relpath(key), within="/".join(THUMBNAILS_DIR))
        except UnsafePath:
            not_found(f"no thumbnail for {path!r}", "path")

    def _ask(self, project: dict[str, Any], path: str, key: str) -> None:
        """Enqueue the job (by name, with an id naming the bytes: asking again while it is
        queued does nothing). Never fails the answer: the next request asks again."""
        if project.get("status") in _NO_JOBS:
            return
        try:
            enqueue_thumbnail(self.config.jobs, str(project["id"]), path, key)
        except Exception:  # the queue is down (Redis)
            log.warning("could not enqueue the thumbnail of %s/%s", project.get("id"), path, exc_info=True)
