"""Ingesting an upload: move the staged file into the project and commit it now.

Called by ``worker.jobs.ingest`` (the job the API enqueues by name for every
stored upload). Under the project's lock, like the controller itself: the staged
file is renamed into ``assets/<type>/`` or ``outputs/<type>/`` (same volume; a
file of the same name is replaced, its old bytes stay in history), then the
controller's converge (``controller.converging``) runs with the upload's oid as a
known oid, so the file is committed at once, without waiting to settle and without
being hashed again (nor copied, when the API wrote its LFS object as it arrived:
that copy is renamed into ``.git/lfs/objects`` first), as the person who uploaded
it (the record's ``actor``; nobody known: the default identity). A restore (``worker.restoring``) is ingested the same way, into a
folder below the type's folder too. The worker writes no project status and no journal: it tells
the controller (``auteur.mailbox.announce``), which reconciles the project, reports
it, and journals the upload's event.

Idempotent and crash-safe, rq style (it takes an id and re-reads the record):
a completed record is left alone; a file already moved in by a run that died is
recognised by the inode and mtime the API recorded (no hashing); a commit that
already holds the upload's oid only needs the record finished. Temporary errors
are raised for the queue to retry, up to ``MAX_ATTEMPTS``; then, or at once for
a permanent problem, the record says ``failed`` with the reason. A run that keeps
dying half-way (its worker killed each time) gives up after ``MAX_ATTEMPTS`` too.

Each step is announced to the controller as an event (``upload.processing`` when an
attempt starts, then ``upload.completed`` or ``upload.failed``; the API publishes
``upload.progress`` while the bytes arrive) and written to the shared view of uploads
(``auteur.uploadviews``; Redis mode) for every replica to see.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dulwich.errors import NotTreeError
from dulwich.objects import Blob, Commit, Tree
from dulwich.refs import Ref
from dulwich.repo import Repo

from auteur import faults, logs, mailbox
from auteur.atomic import fsync_dir
from auteur.layout import TYPE_FOLDERS
from auteur.media import stored_in_lfs
from auteur.paths import UnsafePath, asset_parts, resolve_under
from auteur.settings import Settings
from auteur.status import StatusStore
from auteur.uploads import UploadRecord, UploadState, UploadStore, filename_problem
from auteur.uploadviews import NoUploadView, UploadView
from controller import lfs
from controller.converging import converge
from controller.locking import project_lock
from controller.ownership import Owners
from controller.specindex import SpecIndex
from controller.steps import Attempt
from controller.trash import Trash

log = logging.getLogger("auteur.worker.ingest")

MAX_ATTEMPTS = 4
_POINTER_OID = re.compile(rb"\noid sha256:([0-9a-f]{64})\n")
_OID = re.compile("[0-9a-f]{64}")


class PermanentIngestError(Exception):
    """Retrying cannot help (the project is gone, the staged file is lost...)."""


def committed_oid(root: Path, relpath: str) -> tuple[str, str] | None:
    """(commit, content sha256) of ``relpath`` at ``main``'s head, or None if absent.

    An LFS pointer gives its oid; a small regular blob is hashed (it is at most the
    large-file threshold, and only read from the object store).
    """
    try:
        repo = Repo(str(root))
    except Exception:
        return None
    try:
        head = repo.refs[Ref(b"refs/heads/main")]
        commit = repo[head]
        if not isinstance(commit, Commit):
            return None
        tree = repo[commit.tree]
        assert isinstance(tree, Tree)
        _, sha = tree.lookup_path(repo.__getitem__, os.fsencode(relpath))
        blob = repo[sha]
    except (KeyError, NotTreeError):
        return None
    finally:
        repo.close()
    if not isinstance(blob, Blob):
        return None
    data = blob.as_raw_string()
    match = _POINTER_OID.search(data) if data.startswith(b"version https://git-lfs") else None
    return head.decode(), match.group(1).decode() if match else hashlib.sha256(data).hexdigest()


class Ingest:
    """One ingest run for one upload id."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time, view: UploadView | None = None) -> None:
        self.settings, self.clock = settings, clock
        self.view = view or NoUploadView()
        self.store = UploadStore(settings.state)

    def run(self, upload_id: str) -> dict[str, Any]:
        record = self.store.read(upload_id)
        if record is None:
            log.warning("ingest %s: no such upload record; nothing to do", upload_id)
            return {"upload_id": upload_id, "status": "missing"}
        if record.status in (UploadState.COMPLETED, UploadState.FAILED):
            return _summary(record)
        with logs.bound(upload_id=upload_id, project_id=record.project_id):
            return self._run(upload_id, record)

    def _run(self, upload_id: str, record: UploadRecord) -> dict[str, Any]:
        log.info("Processing upload for project %s", record.project_id)
        try:
            root = self._project_root(record)
            with project_lock(self.settings.state, record.project_id):
                return self._ingest_locked(upload_id, root)
        except PermanentIngestError as exc:
            return self._fail(upload_id, str(exc), permanent=True)
        except Exception as exc:
            summary = self._fail(upload_id, f"{type(exc).__name__}: {exc}", permanent=False)
            if summary["status"] == UploadState.FAILED.value:
                return summary  # out of attempts: recorded, nothing for the queue to retry
            raise

    def _project_root(self, record: UploadRecord) -> Path:
        problem = filename_problem(record.filename)
        folder = TYPE_FOLDERS.get(record.asset_type)
        if problem is not None or folder is None or not _placed_in(record.path, folder, record.filename):
            raise PermanentIngestError(problem or f"the record names an unknown place: {record.asset_type!r} {record.path!r}")
        owner = Owners(self.settings.state).get(record.project_id)
        if owner is None:
            raise PermanentIngestError(f"project {record.project_id!r} no longer exists")
        return self.settings.workspace / owner.folder

    def _ingest_locked(self, upload_id: str, root: Path) -> dict[str, Any]:
        record = self.store.read(upload_id)  # again: another run may have finished while we waited
        if record is None or record.status in (UploadState.COMPLETED, UploadState.FAILED):
            return _summary(record) if record else {"upload_id": upload_id, "status": "missing"}
        if record.status is UploadState.PROCESSING and record.attempts >= MAX_ATTEMPTS:
            done = committed_oid(root, record.path)
            if done is not None and done[1] == record.oid:
                return self._complete(record, done[0])  # the last run died after its commit
            raise PermanentIngestError(f"the ingest was interrupted {record.attempts} times (its worker died each time)")
        record.status, record.attempts, record.error = UploadState.PROCESSING, record.attempts + 1, None
        self.store.write(record, now=self.clock())
        log.info("upload %s: %s (%d bytes), attempt %d", upload_id, record.path, record.size, record.attempts)
        self._publish("upload.processing", record)
        target = root / record.path
        staged = self.store.staged_file(upload_id)
        if os.path.lexists(staged):
            self._move_in(record, staged, target, root)
            faults.hold("ingest.moved")
        elif not self._is_ours(record, target):
            done = committed_oid(root, record.path)
            if done is None or done[1] != record.oid:
                raise PermanentIngestError("the staged file is gone and the file in place is not the upload")
            return self._complete(record, done[0])
        self._place_lfs_copy(record, root)
        state = self.settings.state
        attempt = Attempt(key=record.project_id, settings=self.settings, now=self.clock(), specs=SpecIndex(self.settings.specs),
                          owners=Owners(state), trash=Trash(state), known_oids={record.path: record.oid}, actor=record.actor)  # fmt: skip
        observation = converge(attempt, StatusStore(state).read(record.project_id))
        done = committed_oid(root, record.path)
        if done is None or done[1] != record.oid:
            why = observation.failure.message if observation.failure else observation.outcome.kind.value
            raise RuntimeError(f"the snapshot did not commit {record.path!r}: {why}")
        return self._complete(record, done[0])

    def _move_in(self, record: UploadRecord, staged: Path, target: Path, root: Path) -> None:
        st = os.lstat(staged)
        if not stat.S_ISREG(st.st_mode) or st.st_size != record.size:
            raise PermanentIngestError(f"the staged file is damaged ({st.st_size} bytes, expected {record.size})")
        folder = target.parent
        within = record.path.rsplit("/", 1)[0]
        try:
            resolve_under(root, record.path, within=TYPE_FOLDERS[record.asset_type])  # before making any folder below it
            if not os.path.isdir(folder):
                os.makedirs(folder, exist_ok=True)  # the reconcile that follows adds its .gitkeep
            resolve_under(root, record.path, within=within)
        except UnsafePath as exc:
            raise PermanentIngestError(f"'{within}' is not a plain folder inside the project ({exc.problem})") from exc
        if os.path.isdir(target) and not os.path.islink(target):
            raise PermanentIngestError(f"a folder named {record.path!r} is in the way")
        try:
            os.replace(staged, target)  # same volume: a rename; the mtime and inode come along
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise PermanentIngestError("the uploads folder and the project are on different volumes") from exc
            raise
        fsync_dir(folder)

    def _place_lfs_copy(self, record: UploadRecord, root: Path) -> None:
        """Rename the copy the API wrote beside the staged file (``api.staging``) into the
        project's LFS store as the upload's object, so the snapshot finds it in place and
        copies nothing. Without such a copy, or with one that is not right, the snapshot
        copies the file as it always can; a wrong copy is dropped, never stored."""
        copy = self.store.staged_lfs_copy(record.upload_id)
        try:
            st = os.lstat(copy)
        except FileNotFoundError:
            return
        git_dir = root / ".git"
        usable = (stat.S_ISREG(st.st_mode) and st.st_size == record.size and _OID.fullmatch(record.oid) is not None
                  and stored_in_lfs(record.path, record.size, self.settings.large_file_bytes) and git_dir.is_dir())  # fmt: skip
        if not usable or lfs.has_object(git_dir, record.oid, record.size):  # (the same bytes uploaded before)
            copy.unlink()
            return
        try:
            lfs.install_object(git_dir, copy, record.oid)  # a rename; the API fsynced the bytes
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            copy.unlink()  # another volume: the snapshot copies the file instead
            return
        log.info("upload %s: its LFS object was written on arrival; moved into place", record.upload_id)

    @staticmethod
    def _is_ours(record: UploadRecord, target: Path) -> bool:
        """The file in place is the one a previous run moved in (same inode, mtime, size)."""
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return False
        return (
            stat.S_ISREG(st.st_mode)
            and record.staged_ino != 0
            and (st.st_ino, st.st_mtime_ns, st.st_size) == (record.staged_ino, record.staged_mtime_ns, record.size)
        )

    def _complete(self, record: UploadRecord, commit: str) -> dict[str, Any]:
        record.status, record.commit, record.error = UploadState.COMPLETED, commit, None
        self.store.write(record, now=self.clock())
        self.store.discard_staging(record.upload_id)
        self._publish("upload.completed", record)
        log.info("ingested %s into %s/%s (commit %s)", record.upload_id, record.project_id, record.path, commit[:12])
        return _summary(record)

    def _fail(self, upload_id: str, reason: str, *, permanent: bool) -> dict[str, Any]:
        record = self.store.read(upload_id)
        if record is None:
            return {"upload_id": upload_id, "status": "missing"}
        record.error = reason
        if permanent or record.attempts >= MAX_ATTEMPTS:
            record.status = UploadState.FAILED
            log.error("ingest of upload %s failed: %s", upload_id, reason)
        self.store.write(record, now=self.clock())
        if record.status is UploadState.FAILED:
            self.store.discard_staging(upload_id)
            self._publish("upload.failed", record)
        else:  # the queue retries it: only the shared view hears of the error
            self.view.update(record.project_id, upload_id, {**_summary(record), "attempts": record.attempts})
        return _summary(record)

    def _publish(self, kind: str, record: UploadRecord) -> None:
        """The same state in the shared view, and the event told to the controller, which
        reconciles the project first once the upload is finished (the record rules both)."""
        data = {k: v for k, v in _summary(record).items() if k != "project_id"}
        self.view.update(record.project_id, record.upload_id, {**data, "attempts": record.attempts})
        try:
            mailbox.announce(self.settings.state, record.project_id, kind, data, reconcile=kind != "upload.processing",
                             actor=record.actor)  # fmt: skip
        except OSError:  # the upload stands without its event; the controller's resync finds the commit
            log.warning("could not announce %s of upload %s", kind, record.upload_id, exc_info=True)


def _placed_in(path: str, folder: str, filename: str) -> bool:
    """``path`` is ``filename`` in ``folder`` (an upload), or in a plain folder below it (a
    restore puts a file back where it was)."""
    try:
        parts = asset_parts(path)
    except UnsafePath:
        return False
    return path.startswith(f"{folder}/") and parts[-1] == filename


def _summary(record: UploadRecord) -> dict[str, Any]:
    return {
        "upload_id": record.upload_id, "project_id": record.project_id, "filename": record.filename,
        "asset_type": record.asset_type, "path": record.path, "size": record.size, "oid": record.oid,
        "status": record.status.value, "commit": record.commit, "error": record.error,
    }  # fmt: skip
