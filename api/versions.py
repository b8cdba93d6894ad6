"""The versions of one asset: ``GET /api/v1/projects/{id}/versions?path=`` lists the commits that
changed it, ``POST .../versions/restore`` makes an old one the current file again.

Routed by ``api.app.create_app``; the project page (``web.pages``) shows both per asset, and
``api.assets`` serves a version's bytes (``.../assets/{path}?version=``). The listing walks
first parents from the head the controller recorded, through the same per-commit entries as
``api.history`` (``CommitCache``), so a second call diffs nothing. A restore is checked here
in full — an asset path (422), a commit of the project holding that file with its bytes at
hand (409 otherwise: the request is well formed, the project's history does not allow it) — and
only then enqueued by name (``worker.jobs.restore``), which copies the old bytes back under
the project's lock and commits them as a new commit, as the person asking. It answers 202 with
the upload id the job's ``upload.*`` events carry.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import anyio.to_thread
import falcon
import falcon.asgi
import msgspec

from api.actors import actor_of, audit, audit_entry
from api.config import ApiConfig
from api.errors import ApiError, conflict, decode_json, invalid, not_found
from api.history import COMMIT_ID, COMMIT_PATTERN, CommitCache, page_params, read_entry
from api.index import ProjectIndex
from api.projects import find_project, read_json_body
from api.schemas import Strict
from auteur.jobs import RESTORE_JOB
from auteur.layout import TYPE_FOLDERS, asset_type_of
from auteur.paths import UnsafePath, asset_parts
from auteur.uploads import new_upload_id
from auteur.versions import Version, find_version, lfs_object, open_store

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
_NO_RESTORES = {"unmanaged": "it is not managed by Auteur", "deleting": "it is being deleted"}
_encode = msgspec.json.Encoder().encode

# What asset_parts (the one enforcer, whose messages say what is wrong) accepts, as a JSON Schema
# pattern for the document: segments that are not empty, '.', '..' or '.git' (any case), without
# '/' or NUL, under assets/ or outputs/ (RESTORABLE: inside a type folder).
_SEGMENT = (r"(?:[^/\x00.][^/\x00]*|\.[^/\x00.gG][^/\x00]*|\.\.[^/\x00]+|\.[gG](?:[^/\x00iI][^/\x00]*)?"
            r"|\.[gG][iI](?:[^/\x00tT][^/\x00]*)?|\.[gG][iI][tT][^/\x00]+)")  # fmt: skip
ASSET_PATH_PATTERN = rf"^(?:assets|outputs)/{_SEGMENT}(?:/{_SEGMENT})*$"
RESTORABLE_PATTERN = rf"^(?:{'|'.join(TYPE_FOLDERS.values())})/{_SEGMENT}(?:/{_SEGMENT})*$"

Refusal = Callable[[str, str], NoReturn]
CommitId = Annotated[str, msgspec.Meta(pattern=COMMIT_PATTERN, description="a commit id (40 hexadecimal digits)")]


class VersionItem(msgspec.Struct, kw_only=True):
    commit: str
    time: Annotated[int, msgspec.Meta(description="the author's time (seconds since the epoch)")]
    author: Annotated[str, msgspec.Meta(description="'Name <email>', as git shows it")]
    change: Literal["added", "modified", "deleted"]
    size: Annotated[int | None, msgspec.Meta(description="bytes of this version (an LFS file's real size); null when deleted")]
    oid: Annotated[str | None, msgspec.Meta(description="an LFS file's sha256 oid, else the git blob id; null when deleted")]


class VersionsPage(msgspec.Struct, kw_only=True):
    items: list[VersionItem]
    next: Annotated[str | None, msgspec.Meta(description="pass as before= for older versions; null once history is walked")]


class RestoreRequest(Strict):
    """Body of ``POST .../versions/restore``."""

    path: Annotated[
        str,
        msgspec.Meta(
            description="the asset, inside a type folder: e.g. assets/audio/take.wav", extra_json_schema={"pattern": RESTORABLE_PATTERN}
        ),
    ]
    version: CommitId


class RestoreAccepted(msgspec.Struct, kw_only=True):
    """``POST .../versions/restore`` answers 202: the job is queued; its ``upload.*`` events carry ``upload_id``."""

    upload_id: str
    job_id: str
    path: str
    version: str
    size: int
    oid: str
    status: Literal["queued"] = "queued"


def asset_path(relpath: str, field: str = "path") -> str:
    """``relpath`` if it names an asset (under assets/ or outputs/, plain, no .git); 422 otherwise."""
    try:
        asset_parts(relpath)
    except UnsafePath as exc:
        invalid(f"{relpath!r} is not an asset path: {exc.problem}", field)
    return relpath


def version_param(req: falcon.asgi.Request) -> str | None:
    """``?version=``: None when absent, 422 unless it is a commit id."""
    version = req.get_param("version")
    if version is not None and not COMMIT_ID.match(version):
        invalid(f"version must be a commit id (40 hexadecimal digits), not {version!r}", "version")
    return version


def read_versions(git_dir: Path, head: str, relpath: str, before: str | None, limit: int, cache: CommitCache) -> VersionsPage | None:
    """Up to ``limit`` commits changing ``relpath``, from ``head`` (or from just before
    ``before``) along first parents; None if ``before`` is not a commit of this repository."""
    store = open_store(git_dir)
    current: bytes | None = head.encode()
    if before is not None:
        found = read_entry(store, before.encode(), cache)
        if found is None:
            return None
        current = found.parent
    items: list[VersionItem] = []
    while current is not None and len(items) < limit:
        entry = read_entry(store, current, cache)
        if entry is None:
            break  # history cut short (objects missing): what there is
        if relpath in entry.changed:
            stored = entry.changed[relpath]
            change = next(f.change for f in entry.item.files if f.path == relpath)
            items.append(VersionItem(commit=entry.item.commit, time=entry.item.time, author=entry.item.author, change=change,
                                     size=stored.size if stored else None, oid=stored.oid if stored else None))  # fmt: skip
        current = entry.parent
    return VersionsPage(items=items, next=items[-1].commit if items and current is not None else None)


def project_git(config: ApiConfig, project: dict[str, Any]) -> tuple[Path, str] | None:
    """The project's git folder and the head the controller recorded, if it has both."""
    head, folder = project.get("current_commit"), project.get("folder")
    if not isinstance(head, str) or not isinstance(folder, str) or not folder:
        return None
    return config.settings.workspace / folder / ".git", head


def find_asset_version(git_dir: Path, version: str, relpath: str, refuse: Refusal = not_found) -> Version:
    """``relpath`` at ``version`` with its bytes at hand; else ``refuse`` (404 for a download,
    409 for a restore: what the project holds does not allow it)."""
    found = find_version(git_dir, version, relpath)
    if found is None:
        refuse(f"{relpath!r} has no version {version}: not a commit of this project, or the file is not in it", "version")
    if found.stored.lfs and not os.path.isfile(lfs_object(git_dir, found.stored.oid)):
        refuse(f"the bytes of {relpath!r} at {version} are not in the project's LFS store", "version")
    return found


class VersionsResource:
    """``GET`` lists an asset's versions; ``POST`` (suffix ``restore``) restores one."""

    def __init__(self, config: ApiConfig, index: ProjectIndex, cache: CommitCache) -> None:
        self.config, self.index, self.cache = config, index, cache

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        limit, before = page_params(req, DEFAULT_LIMIT, MAX_LIMIT)
        relpath = req.get_param("path")
        if relpath is None:
            invalid("path is required: the asset's path inside the project", "path")
        asset_path(relpath)
        key, project = find_project(self.index, project_id)
        repo = project_git(self.config, project)
        page = None
        if repo is not None:
            page = await anyio.to_thread.run_sync(read_versions, repo[0], repo[1], relpath, before, limit, self.cache)
        if page is None and before is not None:
            not_found(f"{before} is not a commit of project {key!r}", "before")
        if page is None or (not page.items and before is None):
            not_found(f"{relpath!r} has no versions in project {key!r}", "path")
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _encode(page)

    async def on_post_restore(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        key, project = find_project(self.index, project_id)
        asked = decode_json(await read_json_body(req, self.config), RestoreRequest)
        relpath = asset_path(asked.path)
        if asset_type_of(relpath) is None:
            invalid(f"{relpath!r} is not inside a type folder ({', '.join(TYPE_FOLDERS.values())}): it cannot be restored", "path")
        phase = str(project.get("status"))
        if phase in _NO_RESTORES:
            conflict(f"cannot restore into project {key!r}: {_NO_RESTORES[phase]}", "project_id")
        repo = project_git(self.config, project)
        if repo is None:
            conflict(f"project {key!r} has no repository yet (status {phase}); try again when it is ready", "project_id")
        found = await anyio.to_thread.run_sync(find_asset_version, repo[0], asked.version, relpath, conflict)
        actor = actor_of(req)
        upload_id = new_upload_id(self.config.clock())
        job_id = f"restore-{upload_id}"
        kwargs = {"project_id": key, "path": relpath, "version": asked.version, "upload_id": upload_id,
                  "actor": msgspec.to_builtins(actor) if actor is not None else None}  # fmt: skip
        try:
            await anyio.to_thread.run_sync(lambda: self.config.jobs.enqueue(RESTORE_JOB, job_id=job_id, kwargs=kwargs))
        except Exception as exc:  # nothing is stored yet: the person asks again once the queue is back
            raise ApiError(503, f"the job queue is unavailable ({type(exc).__name__}); nothing was restored",
                           code="queue_unavailable") from None  # fmt: skip
        await audit(self.config, audit_entry(self.config, actor, "asset.restore", key, path=relpath, version=asked.version,
                                             upload_id=upload_id))  # fmt: skip
        resp.status = falcon.HTTP_202
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _encode(RestoreAccepted(upload_id=upload_id, job_id=job_id, path=relpath, version=asked.version,
                                            size=found.stored.size, oid=found.stored.oid))  # fmt: skip
