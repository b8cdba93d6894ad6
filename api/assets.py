"""The files of a project: list them, download one, upload new ones.

Routed by ``api.app.create_app``: ``AssetsResource`` at
``/api/v1/projects/{id}/assets`` (GET list, POST upload, handed to
``api.uploads``) and ``AssetFileResource`` at ``.../assets/{path}`` (GET/HEAD
download with ``Range``, inline or as an attachment as ``api.safety`` says; with
``?version=<commit>`` the file as that commit holds it, from the object or LFS store;
``send_file`` also serves ``api.posters``). Nothing here writes to a project folder
or hashes a file: whether a file is committed comes from the stat data the
controller left in ``.git/index``, and whether it goes through LFS from the shared
rule in ``auteur.media``. The listing asks the worker, by job name,
for the poster frame of every video whose poster is missing or stale (a few
``stat`` calls; ffmpeg never runs here). No path from a request leaves the project's
``assets/`` or ``outputs/`` (``..``, absolute paths and symlinks are refused).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import re
import stat
import time
from pathlib import Path
from typing import Any

import anyio.to_thread
import falcon
import falcon.asgi
import msgspec
from dulwich.index import IndexEntry

from api.actors import actor_of
from api.config import ApiConfig
from api.errors import ApiError, bad_request, conflict, invalid, not_found
from api.index import ProjectIndex
from api.safety import served_as
from api.uploads import UploadMetrics, UploadReceiver, UploadResponse, result_of, too_large
from api.versions import find_asset_version, project_git, version_param
from auteur.events import IdMaker
from auteur.gitindex import recorded_entries, same_stat
from auteur.jobs import JobQueue
from auteur.layout import KEEP, TRACKED_ROOTS, TYPE_FOLDERS, asset_type_of
from auteur.media import enqueue_poster, is_video, poster_needed, stored_in_lfs
from auteur.paths import MalformedPath, UnsafePath, asset_parts, path_parts, resolve_under
from auteur.versions import Version, blob_bytes, lfs_object

log = logging.getLogger("auteur.api.assets")

CHUNK = 1 << 20
_NO_UPLOADS = {"unmanaged": "it is not managed by Auteur", "deleting": "it is being deleted",
               "suspended": "it is suspended (suspend: true in its spec); resume it first"}  # fmt: skip
_NO_POSTERS = frozenset({"unmanaged", "deleting"})  # no owner for the worker to find
_encoder = msgspec.json.Encoder()


class AssetInfo(msgspec.Struct, kw_only=True):
    """One file under ``assets/`` or ``outputs/`` (``GET .../assets`` answers a list)."""

    path: str
    asset_type: str | None
    size: int
    mtime: float
    lfs: bool
    committed: bool


# -- listing ------------------------------------------------------------------------


def list_assets(root: Path, large_file_bytes: int, committed: dict[str, IndexEntry]) -> list[AssetInfo]:
    """Every regular file under ``root``'s tracked folders, sorted by path (no symlink followed)."""
    found: list[AssetInfo] = []
    stack = [top for top in TRACKED_ROOTS]
    while stack:
        rel = stack.pop()
        try:
            entries = list(os.scandir(root / rel))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            path = f"{rel}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if entry.name.lower() != ".git":
                    stack.append(path)
                continue
            if entry.name == KEEP or not entry.is_file(follow_symlinks=False):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            recorded = committed.get(path)
            found.append(AssetInfo(
                path=path, asset_type=asset_type_of(path), size=st.st_size, mtime=st.st_mtime,
                lfs=stored_in_lfs(path, st.st_size, large_file_bytes),
                committed=recorded is not None and same_stat(recorded, st),
            ))  # fmt: skip
    found.sort(key=lambda a: a.path)
    return found


def ask_for_posters(jobs: JobQueue, project_id: str, root: Path, assets: list[AssetInfo]) -> int:
    """Enqueue ``worker.media.poster`` (by name, with an id naming the video's version,
    so asking again while it is queued does nothing) for every listed video whose
    poster is missing or stale; returns how many were asked for. Never fails the
    listing: the next one asks again."""
    asked = 0
    for asset in assets:
        if not is_video(asset.path):
            continue
        mtime_ns = poster_needed(root, asset.path)
        if mtime_ns is None:
            continue
        try:
            enqueue_poster(jobs, project_id, asset.path, mtime_ns)
        except Exception:  # the queue is down (Redis): no point trying the others now
            log.warning("could not enqueue the poster of %s/%s", project_id, asset.path, exc_info=True)
            break
        asked += 1
    return asked


# -- downloading ----------------------------------------------------------------------


def resolve_asset(root: Path, relpath: str) -> str:
    """The real path of a file under ``root``'s ``assets/`` or ``outputs/``; 400 for a
    malformed path, 404 for one that is missing or leads elsewhere (e.g. a symlink)."""
    try:
        parts = path_parts(relpath)
    except MalformedPath:
        bad_request(f"invalid asset path {relpath!r}: use the project-relative path the listing shows", "path")
    if len(parts) < 2 or parts[0] not in TRACKED_ROOTS:
        not_found(f"no asset {relpath!r}: assets live under assets/ or outputs/", "path")
    try:
        return resolve_under(root, relpath, within=parts[0])
    except UnsafePath:
        not_found(f"no asset {relpath!r}", "path")


_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte of a single ``Range: bytes=...``; None to send everything
    (no header, several ranges, or a malformed one, which RFC 9110 says to ignore).
    Raises 416 when the range lies outside the file."""
    match = _RANGE.fullmatch(header or "")
    if match is None or not (match[1] or match[2]):
        return None
    if not match[1]:  # the last n bytes
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size - 1
    first = int(match[1])
    if match[2] and int(match[2]) < first:
        return None
    if first >= size:
        raise _unsatisfiable(size)
    return first, min(int(match[2]), size - 1) if match[2] else size - 1


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(416, f"the range lies outside the file ({size} bytes)", code="range_not_satisfiable",
                    field="Range", headers={"Content-Range": f"bytes */{size}"})  # fmt: skip


class FileStream:
    """The body of a download: ``length`` bytes from ``offset``, read 1 MiB at a time
    in a worker thread; falcon closes it when the response ends or the client leaves."""

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self.fd, self.offset, self.remaining = fd, offset, length

    def __aiter__(self) -> FileStream:
        return self

    async def __anext__(self) -> bytes:
        if self.remaining <= 0 or self.fd < 0:
            raise StopAsyncIteration
        data = await asyncio.get_running_loop().run_in_executor(None, os.pread, self.fd, min(CHUNK, self.remaining), self.offset)
        if not data:  # the file shrank under us: end the body early rather than pad it
            raise StopAsyncIteration
        self.offset += len(data)
        self.remaining -= len(data)
        return data

    async def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


# -- resources --------------------------------------------------------------------------


class ProjectFiles:
    """What the file resources share (here and in ``api.posters``): the project and its folder."""

    def __init__(self, config: ApiConfig, index: ProjectIndex) -> None:
        self.config, self.index = config, index
        self.ids = IdMaker(config.clock)

    def project(self, project_id: str) -> tuple[dict[str, Any], Path | None]:
        """The project (404 if unknown) and its folder, if it has one yet."""
        project = self.index.get(project_id)
        if project is None:
            not_found(f"project {project_id!r} not found", "project_id")
        folder = project.get("folder")
        if not isinstance(folder, str) or not folder:
            return project, None
        root = self.config.settings.workspace / folder
        try:
            if not stat.S_ISDIR(os.lstat(root).st_mode):
                return project, None
        except FileNotFoundError:
            return project, None
        return project, root


class AssetsResource(ProjectFiles):
    """``GET`` lists a project's files; ``POST`` uploads into ``asset_type``'s folder."""

    def __init__(self, config: ApiConfig, index: ProjectIndex, uploads: UploadMetrics) -> None:
        super().__init__(config, index)
        self.uploads = uploads

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        project, root = self.project(project_id)
        if root is None:
            resp.data = b"[]"
            return
        threshold = self.config.settings.large_file_bytes
        posters = project.get("status") not in _NO_POSTERS

        def scan() -> list[AssetInfo]:
            assets = list_assets(root, threshold, recorded_entries(root / ".git" / "index"))
            if posters:
                ask_for_posters(self.config.jobs, str(project["id"]), root, assets)
            return assets

        resp.data = _encoder.encode(await anyio.to_thread.run_sync(scan))
        resp.content_type = falcon.MEDIA_JSON

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        started, status = time.monotonic(), 500
        try:
            receiver = self._receiver(req, project_id)
            accepted = await receiver.receive(req)
            resp.data = _encoder.encode(UploadResponse(uploads=accepted))
            resp.content_type = falcon.MEDIA_JSON
            status = 200
        except falcon.HTTPError as exc:
            status = exc.status_code
            raise
        finally:
            self.uploads.observe(result_of(status), time.monotonic() - started)

    def _receiver(self, req: falcon.asgi.Request, project_id: str) -> UploadReceiver:
        """Every check that needs no body: project, asset_type, content type, size, space."""
        project, root = self.project(project_id)
        phase = str(project.get("status"))
        if phase in _NO_UPLOADS:
            conflict(f"cannot upload to project {project_id!r}: {_NO_UPLOADS[phase]}", "project_id")
        if root is None:
            conflict(f"project {project_id!r} has no folder yet (status {phase}); try again when it is ready", "project_id")
        asset_type = req.get_param("asset_type")
        if asset_type not in TYPE_FOLDERS:
            allowed = ", ".join(TYPE_FOLDERS)
            what = "asset_type is required" if not asset_type else f"unknown asset_type {asset_type!r}"
            invalid(f"{what}; expected one of {allowed}", "asset_type")
        if not (req.content_type or "").lower().startswith("multipart/form-data"):
            raise ApiError(415, f"send the files as multipart/form-data in the field 'files' (got {req.content_type!r})",
                           code="unsupported_media_type", field="Content-Type")  # fmt: skip
        receiver = UploadReceiver(self.config, self.ids, project_id, asset_type, total=req.content_length, metrics=self.uploads,
                                  actor=actor_of(req))  # fmt: skip
        limit = self.config.max_upload_bytes
        if req.content_length is not None:
            if req.content_length > limit:
                raise too_large(limit)
            receiver.check_space(req.content_length)
        return receiver


class AssetFileResource(ProjectFiles):
    """``GET``/``HEAD`` one file, streamed, with single ``Range`` requests (206/416)."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str, path: str) -> None:
        await self._serve(req, resp, project_id, path, body=True)

    async def on_head(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str, path: str) -> None:
        await self._serve(req, resp, project_id, path, body=False)

    async def _serve(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str, path: str, *, body: bool) -> None:
        version = version_param(req)
        project, root = self.project(project_id)
        if version is not None:
            await self._serve_version(req, resp, project, path, version, body=body)
            return
        if root is None:
            not_found(f"no asset {path!r}", "path")
        send_file(req, resp, resolve_asset(root, path), path.rsplit("/", 1)[-1], body=body, missing=f"no asset {path!r}")

    async def _serve_version(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: dict[str, Any], path: str,
                             version: str, *, body: bool) -> None:  # fmt: skip
        """``?version=<commit>``: the file as that commit holds it (404 if it holds none)."""
        try:
            asset_parts(path)
        except MalformedPath:
            bad_request(f"invalid asset path {path!r}: use the project-relative path the listing shows", "path")
        except UnsafePath:
            not_found(f"no asset {path!r}: assets live under assets/ or outputs/", "path")
        repo = project_git(self.config, project)
        if repo is None:
            not_found(f"{path!r} has no version {version}: the project has no commits yet", "version")
        git_dir, name = repo[0], path.rsplit("/", 1)[-1]
        found = await anyio.to_thread.run_sync(find_asset_version, git_dir, version, path)
        await anyio.to_thread.run_sync(lambda: send_version(req, resp, git_dir, found, name, body=body))


def send_file(req: falcon.asgi.Request, resp: falcon.asgi.Response, real: str, name: str, *, body: bool, missing: str) -> None:
    """Answer with the regular file at ``real`` (never through a final symlink), streamed,
    with a single ``Range`` (206/416) and ``If-None-Match`` (304); 404 saying ``missing``
    if it is not there. Its type and disposition come from ``name`` (``api.safety.served_as``):
    images, video and audio inline, anything else an attachment of octet-stream."""
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        not_found(missing, "path")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            not_found(missing, "path")
        sending = _answer(req, resp, name, size=st.st_size, etag=f'"{st.st_mtime_ns:x}-{st.st_size:x}"', mtime=st.st_mtime)
    except BaseException:
        os.close(fd)
        raise
    _send_fd(resp, fd, sending, body=body)


def send_version(req: falcon.asgi.Request, resp: falcon.asgi.Response, git_dir: Path, version: Version, name: str, *,
                 body: bool) -> None:  # fmt: skip
    """Answer with the bytes of an old ``version`` of a file (its ETag is its oid, its
    Last-Modified its commit's time), as ``send_file`` answers with a current one: an LFS
    object streamed from the LFS store, a plain blob (small: larger files go through LFS)
    from the object store."""
    stored, etag = version.stored, f'"{version.stored.oid}"'
    if not stored.lfs:
        data = blob_bytes(git_dir, stored)
        sending = _answer(req, resp, name, size=len(data), etag=etag, mtime=version.time)
        if sending is not None:
            first, length = sending
            if body:
                resp.data = data[first : first + length]
            else:
                resp.content_length = length
        return
    missing = f"the bytes of {name!r} at {version.commit} are not in the project's LFS store"
    try:
        fd = os.open(lfs_object(git_dir, stored.oid), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        not_found(missing, "version")
    try:
        sending = _answer(req, resp, name, size=os.fstat(fd).st_size, etag=etag, mtime=version.time)
    except BaseException:
        os.close(fd)
        raise
    _send_fd(resp, fd, sending, body=body)


def _answer(req: falcon.asgi.Request, resp: falcon.asgi.Response, name: str, *, size: int, etag: str,
            mtime: float) -> tuple[int, int] | None:  # fmt: skip
    """Set the status and headers of a download of ``size`` bytes; the (offset, length) of
    the body to send, or None when the copy held is current (304). Raises 416."""
    fresh = etag in [t.strip() for t in (req.get_header("If-None-Match") or "").split(",")]
    span = None if fresh else parse_range(req.get_header("Range"), size)
    served = served_as(name)
    resp.content_type = served.content_type
    resp.set_header("ETag", etag)
    resp.set_header("Accept-Ranges", "bytes")
    resp.set_header("Last-Modified", email.utils.formatdate(mtime, usegmt=True))
    resp.set_header("Content-Disposition", served.disposition)
    resp.set_header("Content-Security-Policy", served.policy)
    if fresh:
        resp.status = falcon.HTTP_304
        return None
    first, last = span if span is not None else (0, size - 1)
    if span is not None:
        resp.status = falcon.HTTP_206
        resp.set_header("Content-Range", f"bytes {first}-{last}/{size}")
    return first, last - first + 1


def _send_fd(resp: falcon.asgi.Response, fd: int, sending: tuple[int, int] | None, *, body: bool) -> None:
    """Stream ``sending`` (offset, length) of ``fd`` as the body; ``fd`` is closed either way."""
    if sending is not None and body and sending[1] > 0:
        resp.set_stream(FileStream(fd, *sending), sending[1])
        return
    os.close(fd)
    if sending is not None:
        resp.content_length = sending[1]
