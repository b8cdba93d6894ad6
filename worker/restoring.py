"""Restoring an old version of an asset: its bytes become the current file again, in a new commit.

Called by ``worker.jobs.restore``, which the API enqueues by name (``api.versions``) once it
has checked that the version holds the file. The old bytes — an LFS object or a small blob,
read from the repository, never the working tree — are copied 1 MiB at a time into a staging
folder, checked against their oid on the way, and recorded as an upload (``auteur.uploads``)
naming the person who asked. From there it is an upload: ``worker.ingesting.Ingest`` moves the
file into place under the project's lock and commits it as that person, with the same events
(``upload.processing``, ``upload.completed``) and the same crash safety (once the record
exists, a retry or the controller's resync only ingests it). History is never rewritten: the
restored bytes are a new commit, and the version they replace stays in history.
A restore that cannot start (the project or the version gone) is announced as ``restore.failed``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import msgspec

from auteur import mailbox
from auteur.atomic import fsync_dir
from auteur.identity import Actor
from auteur.layout import asset_type_of
from auteur.paths import UnsafePath, asset_parts
from auteur.settings import Settings
from auteur.uploads import UploadRecord, UploadState, UploadStore
from auteur.uploadviews import UploadView
from auteur.versions import Version, blob_bytes, find_version, lfs_object
from controller.ownership import Owners
from worker.ingesting import Ingest

log = logging.getLogger("auteur.worker.restore")

CHUNK = 1 << 20


class PermanentRestoreError(Exception):
    """Retrying cannot help: the project, the file or its old bytes are gone."""


class Restore:
    """One restore job: stage the old bytes as an upload once, then ingest it."""

    def __init__(self, settings: Settings, *, view: UploadView | None = None) -> None:
        self.settings, self.view = settings, view
        self.store = UploadStore(settings.state)

    def run(self, project_id: str, path: str, version: str, upload_id: str, actor: Actor | None) -> dict[str, Any]:
        if self.store.read(upload_id) is None:
            try:
                self._stage(project_id, path, version, upload_id, actor)
            except PermanentRestoreError as exc:
                self.store.discard_staging(upload_id)
                log.error("restore of %s/%s at %s failed: %s", project_id, path, version, exc)
                data = {"upload_id": upload_id, "path": path, "version": version, "status": "failed", "error": str(exc)}
                mailbox.announce(self.settings.state, project_id, "restore.failed", data, reconcile=False, actor=actor)
                return data
        return Ingest(self.settings, view=self.view).run(upload_id)

    def _stage(self, project_id: str, path: str, version: str, upload_id: str, actor: Actor | None) -> None:
        asset_type = asset_type_of(path)
        try:
            asset_parts(path)
        except UnsafePath as exc:
            raise PermanentRestoreError(f"{path!r} is not an asset path: {exc.problem}") from exc
        if asset_type is None:
            raise PermanentRestoreError(f"{path!r} is not inside a type folder")
        owner = Owners(self.settings.state).get(project_id)
        if owner is None:
            raise PermanentRestoreError(f"project {project_id!r} no longer exists")
        git_dir = self.settings.workspace / owner.folder / ".git"
        found = find_version(git_dir, version, path)
        if found is None:
            raise PermanentRestoreError(f"{path!r} is not in commit {version}")
        self.store.discard_staging(upload_id)  # what a run that died half-way copied
        content = self.store.create_staging(upload_id)
        sha256 = _copy(git_dir, found, content)
        fsync_dir(content.parent)
        st = os.stat(content)
        self.store.write(UploadRecord(
            upload_id=upload_id, project_id=project_id, asset_type=asset_type, filename=path.rsplit("/", 1)[-1], path=path,
            size=st.st_size, oid=sha256, status=UploadState.STORED, job_id=f"ingest-{upload_id}",
            staged_ino=st.st_ino, staged_mtime_ns=st.st_mtime_ns, actor=actor,
        ))  # fmt: skip
        log.info("restore %s: %s at %s staged (%d bytes)", upload_id, path, version[:12], st.st_size)


def _copy(git_dir: Path, found: Version, content: Path) -> str:
    """Copy the bytes of ``found`` to ``content`` (fsynced); their sha256, which must be the
    oid an LFS pointer names."""
    digest = hashlib.sha256()
    with open(content, "xb") as out:
        if found.stored.lfs:
            try:
                fd = os.open(lfs_object(git_dir, found.stored.oid), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError as exc:
                raise PermanentRestoreError(f"the LFS object {found.stored.oid} is not in the project's store") from exc
            with os.fdopen(fd, "rb") as source:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        else:
            data = blob_bytes(git_dir, found.stored)
            digest.update(data)
            out.write(data)
        out.flush()
        os.fsync(out.fileno())
    if found.stored.lfs and digest.hexdigest() != found.stored.oid:
        raise PermanentRestoreError(f"the LFS object {found.stored.oid} is damaged (its bytes hash otherwise)")
    return digest.hexdigest()


def actor_from(value: dict[str, Any] | None) -> Actor | None:
    """The job's ``actor`` argument (plain values, as the queue carries them) as an Actor."""
    return msgspec.convert(value, Actor) if value is not None else None
