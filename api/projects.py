"""``/api/v1/projects``: list, create, show, change and delete projects; their git status.

Routed by ``api.app.create_app``. The API never shapes the workspace: it writes or
removes spec files (``auteur.specstore``) and then waits for the controller, like
``kubectl apply --wait``, by polling the project's status file on the volume
(``ProjectIndex.wait``); after ``wait_timeout`` it answers 202 with the status so far.

Contract decisions (also in the OpenAPI document):

* Create answers 201 once the project is ``ready``. If the controller fails it
  *permanently* (a folder of that name exists and is not Auteur's, or it rejects
  the spec), the spec is removed again so nothing is left changed, and the answer is
  409 (foreign folder) or 422 (spec rejected) with the controller's message. A
  *temporary* failure is retried by the controller, so create keeps waiting and, if
  the retries outlast the timeout, answers 202 with the failed status and its error.
* PATCH waits until ``observed_generation`` equals the new spec's generation.
* DELETE answers 204 once the status is gone and the folder has left the workspace
  (or the controller reports the folder as unmanaged: it is not Auteur's to move).

Before a spec is written, edited or removed on someone's behalf, the attribution record
naming them is (``api.actors``): the controller commits that change as them. Each change
that stands is appended to the audit log.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from pathlib import Path

import anyio.to_thread
import falcon
import falcon.asgi
import msgspec
from dulwich.object_store import DiskObjectStore
from dulwich.objects import Commit, ObjectID

from api.actors import actor_of, attribute, attribution_for, audit, audit_entry
from api.auth import require
from api.config import ApiConfig
from api.errors import ApiError, conflict, count_param, decode_json, invalid, not_found, strict_bool
from api.index import SORTS, ProjectIndex, ProjectJson, processing_project
from api.schemas import GitStatus, ProjectCreate, ProjectPatch, RequestPending
from api.trash import carry_out, trash_records
from api.waiting import wait_for_status
from auteur.attribution import Action
from auteur.identity import Actor, Role
from auteur.names import InvalidName, check_name, project_id
from auteur.specs import Spec, SpecError, read_spec
from auteur.specstore import SpecExists, create_spec, remove_spec, replace_spec, spec_files_for
from auteur.status import Phase, ProjectStatus

# Failures the controller does not retry (``Ready``'s reason names the failed condition).
PERMANENT = {"OwnershipFailed": 409, "SpecFailed": 422}
PHASES = tuple(p.value for p in Phase)
# Bounds of the list's query parameters (documented in api.routes): a page holds at most as many
# projects as the design's scale (leave limit out for all of them); an offset past the end is [].
MAX_LIMIT = 10_000
MAX_OFFSET = 999_999_999
MAX_QUERY = 100  # a search longer than the longest name matches nothing
_encoder = msgspec.json.Encoder()


async def read_json_body(req: falcon.asgi.Request, config: ApiConfig) -> bytes:
    """The raw body of a JSON request: 415 for another type, 413 past ``max_json_bytes``."""
    media = (req.content_type or "").split(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise ApiError(415, f"send a JSON body with Content-Type: application/json (got {media or 'none'})")
    limit = config.max_json_bytes
    too_big = ApiError(413, f"the JSON body is larger than {limit} bytes")
    if req.content_length is not None and req.content_length > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in req.stream:
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def find_project(index: ProjectIndex, ref: str) -> tuple[str, ProjectJson]:
    """The project named in the URL: its id, or a name mapped to one; 404 otherwise."""
    for key in dict.fromkeys((ref, project_id(ref))):
        # Only an id names a status file: anything else (a name, a NUL byte, '..') is only looked up.
        project = index.get(key) or (index.refresh_one(key) if key == project_id(key) else None)
        if project is not None:
            return key, project
    not_found(f"no project with id {ref!r}", "project_id")


def respond_project(resp: falcon.asgi.Response, project: ProjectJson, status: int = 200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = _encoder.encode(project)


def _permanent_failure(status: ProjectStatus) -> str | None:
    if status.status is not Phase.FAILED:
        return None
    ready = status.condition("Ready")
    return ready.reason if ready is not None and ready.reason in PERMANENT else None


class ProjectsResource:
    """``/api/v1/projects`` and ``/api/v1/projects/{project_id}`` (suffix ``item``)."""

    def __init__(self, config: ApiConfig, index: ProjectIndex) -> None:
        self.config, self.index = config, index
        self.settings = config.settings
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # -- collection ------------------------------------------------------------------

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        status = req.get_param("status")
        if status is not None and status not in PHASES:
            invalid(f"unknown status {status!r}; expected one of {', '.join(PHASES)}", "status")
        sort = req.get_param("sort") or "newest"
        if sort not in SORTS:
            invalid(f"unknown sort {sort!r}; expected one of {', '.join(SORTS)}", "sort")
        q = req.get_param("q") or ""
        if len(q) > MAX_QUERY:
            invalid(f"q is at most {MAX_QUERY} characters (got {len(q)})", "q")
        limit = count_param(req, "limit", MAX_LIMIT)
        offset = count_param(req, "offset", MAX_OFFSET) or 0
        body, total, counts = self.index.list_json(status, limit, offset, sort=sort, q=q)
        resp.set_header("X-Total-Count", str(total))
        resp.set_header("X-Status-Counts", _encoder.encode(counts).decode())
        resp.content_type = falcon.MEDIA_JSON
        resp.data = body

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        create = decode_json(await read_json_body(req, self.config), ProjectCreate)
        if not create.name.strip():
            invalid("name is required", "name")
        try:
            name = check_name(create.name)
        except InvalidName as exc:
            invalid(f"Invalid name: {exc}", "name")
        spec = Spec(name=name, quality=create.quality, description=create.description)
        key, generation, actor = spec.id, spec.generation(), actor_of(req)
        asked_by = attribution_for(self.config, actor, Action.CREATE, generation)
        try:
            path = await anyio.to_thread.run_sync(create_spec, self.settings.specs, self.settings.state, spec, asked_by)
        except SpecExists as exc:
            conflict(str(exc), "name")
        project = processing_project(key, path.name, name=name, quality=spec.quality.value,
                                     description=spec.description, generation=generation)  # fmt: skip
        self.index.put(project)
        if create.process_async:
            await audit(self.config, audit_entry(self.config, actor, "project.create", key, name=name))
            resp.location = f"/api/v1/projects/{key}"
            return respond_project(resp, project, 201)

        def settled(status: ProjectStatus | None) -> bool:
            if status is None:
                return False
            if status.status is Phase.READY:
                return status.observed_generation == generation
            return _permanent_failure(status) is not None and status.spec_file == path.name

        done, status = await wait_for_status(self.index.store, key, settled, self.config.wait_timeout)
        reason = _permanent_failure(status) if done and status is not None else None
        if reason is None:
            await audit(self.config, audit_entry(self.config, actor, "project.create", key, name=name))
        if not done or status is None:
            resp.location = f"/api/v1/projects/{key}"
            return respond_project(resp, status.public() if status else project, 202)
        if reason is None:
            self.index.put(status.public())
            resp.location = f"/api/v1/projects/{key}"
            return respond_project(resp, status.public(), 201)
        await self._undo_create(key, path)
        raise ApiError(PERMANENT[reason], status.last_error or "the controller rejected the project", field="name")

    async def _undo_create(self, key: str, path: Path) -> None:
        """Remove the spec this request wrote, so a rejected create leaves nothing behind."""
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

        def released(status: ProjectStatus | None) -> bool:
            return status is None or status.spec_file != path.name or status.status is Phase.UNMANAGED

        await wait_for_status(self.index.store, key, released, min(self.config.wait_timeout, 5.0))
        self.index.refresh_one(key)

    # -- one project -------------------------------------------------------------------

    async def on_get_item(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        respond_project(resp, find_project(self.index, project_id)[1])

    async def on_patch_item(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        key, project = find_project(self.index, project_id)
        patch = decode_json(await read_json_body(req, self.config), ProjectPatch)
        changes = {f: getattr(patch, f) for f in ("quality", "description") if getattr(patch, f) is not msgspec.UNSET}
        # One PATCH per project at a time in this process: read, change, write the spec.
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            spec = await self._edit_spec(key, project, changes, actor_of(req))
        generation = spec.generation()
        project = {**project, "quality": spec.quality.value, "description": spec.description, "generation": generation}
        self.index.put(project)

        def converged(status: ProjectStatus | None) -> bool:
            return status is not None and status.status is Phase.READY and status.observed_generation == generation

        done, status = await wait_for_status(self.index.store, key, converged, self.config.wait_timeout)
        if done and status is not None:
            self.index.put(status.public())
            return respond_project(resp, status.public())
        respond_project(resp, project, 202)

    async def _edit_spec(self, key: str, project: ProjectJson, changes: dict[str, object], actor: Actor | None) -> Spec:
        files = await anyio.to_thread.run_sync(spec_files_for, self.settings.specs, key)
        if not files:
            conflict(f"project {key!r} has no spec file (status {project.get('status')}); there is nothing to change")
        spec_file = project.get("spec_file")
        path = self.settings.specs / (spec_file if spec_file in files else files[0])
        try:
            old = await anyio.to_thread.run_sync(read_spec, path)
        except SpecError as exc:
            conflict(f"the spec file cannot be used, fix it first: {exc}", exc.field)
        new = msgspec.structs.replace(old, **changes)
        if new.generation() != old.generation():
            await attribute(self.config, key, attribution_for(self.config, actor, Action.UPDATE, new.generation()))
            await anyio.to_thread.run_sync(replace_spec, path, new)
            changed = sorted(f for f in changes if getattr(new, f) != getattr(old, f))
            await audit(self.config, audit_entry(self.config, actor, "project.update", key, fields=changed))
        return new

    async def on_delete_item(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        purge = strict_bool(req, "purge")
        if purge:
            require(req, Role.ADMIN)
        key, project = find_project(self.index, project_id)
        if project.get("status") == Phase.UNMANAGED.value:
            conflict(f"{project.get('folder')!r} is a folder Auteur does not manage; it is never deleted through the API")
        if project.get("status") == Phase.PROCESSING.value:
            # The controller may be converging the spec it has just read (a create with process_async):
            # with the spec removed and no status nor folder yet, this would answer 204 while it goes on
            # to make the folder. Its first report comes first; the delete then goes as for any project.
            reported, status = await wait_for_status(self.index.store, key, lambda s: s is not None, self.config.wait_timeout)
            if reported and status is not None:
                project = status.public()
        actor, generation = actor_of(req), project.get("generation")
        generation = generation if isinstance(generation, str) else None
        await attribute(self.config, key, attribution_for(self.config, actor, Action.DELETE, generation))
        removed = await anyio.to_thread.run_sync(remove_spec, self.settings.specs, key)
        if removed:
            await audit(self.config, audit_entry(self.config, actor, "project.delete", key, spec_files=removed))
        self.index.put({**project, "status": Phase.DELETING.value})
        folder = self.settings.workspace / str(project["folder"]) if project.get("folder") else None

        def gone(status: ProjectStatus | None) -> bool:
            if status is not None:
                return status.status is Phase.UNMANAGED
            return folder is None or not os.path.lexists(folder)

        timeout = self.config.wait_timeout + self.settings.grace_seconds
        done, status = await wait_for_status(self.index.store, key, gone, timeout)
        if not done:
            return respond_project(resp, status.public() if status else {**project, "status": Phase.DELETING.value}, 202)
        if status is None:
            self.index.remove(key)
        else:
            self.index.refresh_one(key)
        resp.status = 204
        if purge:
            await self._purge(key, resp, actor)

    async def _purge(self, key: str, resp: falcon.asgi.Response, actor: Actor | None) -> None:
        records = await anyio.to_thread.run_sync(trash_records, self.settings.state)
        for record in records:  # newest first: the entry this delete just made
            if record.id == key:
                answer = await carry_out(self.config, "purge", record, actor)
                if isinstance(answer, RequestPending):
                    resp.status = 202
                    resp.content_type = falcon.MEDIA_JSON
                    resp.data = _encoder.encode(answer)
                elif not answer.ok:
                    conflict(f"the project was deleted, but purging it failed: {answer.message}")
                return


class GitStatusResource:
    """``/api/v1/projects/{project_id}/git/status``: what the controller recorded; never hashes media."""

    def __init__(self, config: ApiConfig, index: ProjectIndex) -> None:
        self.config, self.index = config, index

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        key, project = find_project(self.index, project_id)
        fields = {f: project[f] for f in ("current_commit", "is_dirty", "branch", "last_commit_message", "last_commit_at",
                                          "last_commit_author", "lfs_files", "pending_files") if f in project}  # fmt: skip
        commit, folder = project.get("current_commit"), project.get("folder")
        if fields.get("last_commit_author") is None and isinstance(commit, str) and isinstance(folder, str):
            # A status recorded before the controller recorded authors: one object read, never a walk.
            git_dir = self.config.settings.workspace / folder / ".git"
            fields["last_commit_author"] = await anyio.to_thread.run_sync(commit_author, git_dir, commit)
        respond_project(resp, msgspec.to_builtins(GitStatus(id=key, **fields)))


def commit_author(git_dir: Path, commit: str) -> str | None:
    """The author (``Name <email>``) of ``commit`` in ``git_dir``; None if it cannot be read."""
    try:
        found = DiskObjectStore(str(git_dir / "objects"))[ObjectID(commit.encode("ascii"))]
    except (KeyError, OSError, ValueError):  # not there (history lost, a folder in the trash), or not a sha
        return None
    return found.author.decode("utf-8", "replace") if isinstance(found, Commit) else None
