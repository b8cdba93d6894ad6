"""Receiving uploads: a multipart body streamed to staging files, hashed on the way.

Called by ``api.assets.AssetsResource.on_post``. Each file in the field ``files``
goes to ``workspace/.auteur/uploads/<upload_id>/content`` while its sha256 is
computed in the same pass (``api.staging``), so memory stays flat whatever the
size; a filename given twice keeps its later part. The request is all or nothing:
a bad filename, a size over the limit, a full disk or a cut connection removes
every staged file of the request, and no record is written. Once every file is
fsynced, each gets its record (``stored``) and an ingest job enqueued by name;
``worker.jobs.ingest`` takes it from there.
If the queue is unreachable (Redis down) the upload still succeeds: its record says
``stored`` and the controller enqueues it again on its next resync. The record names the
uploader (``api.actors``), whom the ingest commits as, and each stored file is appended to
the audit log.

Progress is published as ``upload.progress`` events and written to the shared view
of uploads (``ApiConfig.uploads``: a Redis hash per project in Redis mode).

What uploads measure (``UploadMetrics``) goes on the app's registry, to ``/metrics``.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import falcon
import falcon.asgi
import falcon.media
import msgspec
from prometheus_client import CollectorRegistry, Counter, Summary

from api.actors import audit, audit_entry, name_of
from api.config import ApiConfig
from api.errors import ApiError, invalid
from api.staging import StagedFile
from auteur.atomic import fsync_dir
from auteur.events import Event, IdMaker
from auteur.identity import Actor
from auteur.jobs import INGEST_JOB
from auteur.layout import TYPE_FOLDERS
from auteur.media import stored_in_lfs
from auteur.uploads import UploadRecord, UploadState, UploadStore, filename_problem, new_upload_id, shares_blocks

log = logging.getLogger("auteur.api.uploads")

FIELD = "files"
# Parts of one multipart body at most (falcon answers 400 past it; documented in api.routes). Each
# file is fsynced before the answer: measured about 5 ms a part here, so 100 parts answer within a
# second or two while 1000 took over 10 s. The gallery sends one file per request.
MAX_PARTS = 100
# Progress events: at most one per interval, unless this fraction of the body arrived since the last.
_PROGRESS_SECONDS = 0.25
_PROGRESS_FRACTION = 0.05
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class AcceptedUpload(msgspec.Struct, kw_only=True):
    """One file of ``POST .../assets``: safely stored; the ingest job commits it."""

    upload_id: str
    job_id: str
    filename: str
    asset_type: str
    path: str
    size: int
    oid: str
    status: str


class UploadResponse(msgspec.Struct, kw_only=True):
    """``POST .../assets`` answers 200 with every accepted file."""

    uploads: list[AcceptedUpload]


class UploadMetrics:
    """For ``/metrics``: bytes received, requests by result, time taken; registered on
    the app's registry by ``api.app.create_app``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.bytes = Counter("auteur_upload_bytes_total", "Bytes of file content received by uploads.", registry=registry)
        self.results = Counter("auteur_uploads_total", "Upload requests by result.", ["result"], registry=registry)
        self.seconds = Summary("auteur_upload_duration_seconds", "Time from the start of an upload request to its answer.",
                               registry=registry)  # fmt: skip

    def add_bytes(self, count: int) -> None:
        self.bytes.inc(count)

    def observe(self, result: str, seconds: float) -> None:
        self.results.labels(result=result).inc()
        self.seconds.observe(seconds)


def result_of(status: int) -> str:
    """The ``result`` label of an upload request that ended with ``status``."""
    return {200: "stored", 413: "too_large", 507: "insufficient_storage"}.get(status, "rejected" if status < 500 else "error")


def no_space(message: str) -> ApiError:
    return ApiError(507, message, code="insufficient_storage")


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"the upload is larger than the limit of {limit} bytes", code="payload_too_large")


@dataclass
class _Staged:
    upload_id: str
    filename: str
    file: StagedFile
    oid: str = ""
    stat: os.stat_result | None = None


@dataclass
class UploadReceiver:
    """One ``POST .../assets`` request: parse, stage, record, enqueue."""

    config: ApiConfig
    ids: IdMaker
    project_id: str
    asset_type: str
    total: int | None = None
    metrics: UploadMetrics | None = None  # None: not counted (unit tests)
    actor: Actor | None = None  # who uploads (None: nobody known)
    received: int = 0
    staged: list[_Staged] = field(default_factory=list)
    store: UploadStore = field(init=False)
    _last_progress: tuple[float, int] = (0.0, 0)

    def __post_init__(self) -> None:
        self.store = UploadStore(self.config.settings.state)

    def check_space(self, needed: int) -> None:
        """507 unless the volume has room for ``needed`` bytes twice: the staged file,
        and the copy the ingest puts in the project's LFS store."""
        free = self.config.free_bytes(self.store.root)
        if 2 * needed > free:
            raise no_space(f"not enough free space for this upload: it needs {2 * needed} bytes (the file and its LFS copy), "
                            f"{free} are free")  # fmt: skip
        warning = self.config.settings.disk_warning_bytes
        if free - 2 * needed < warning:
            raise no_space(f"this upload would leave {max(0, free - 2 * needed)} bytes free on the workspace volume, under its "
                           f"warning threshold of {warning} bytes (AUTEUR_DISK_WARNING_BYTES); make room first")  # fmt: skip

    async def receive(self, req: falcon.asgi.Request) -> list[AcceptedUpload]:
        """Stage every file of the body; on any failure remove them all and re-raise."""
        try:
            await self._receive_parts(req)
            if not self.staged:
                invalid(f"no files: send them in the multipart field '{FIELD}'", FIELD)
            return await self._record_all()
        except BaseException as exc:
            self.discard(exc)
            raise

    async def _receive_parts(self, req: falcon.asgi.Request) -> None:
        handler = falcon.media.MultipartFormHandler()
        handler.parse_options.max_body_part_count = MAX_PARTS
        form = await handler.deserialize_async(req.stream, req.content_type, req.content_length)
        async for part in form:
            if part.name != FIELD:
                invalid(f"unexpected form field {part.name!r}: send files in the field '{FIELD}'", FIELD)
            try:
                filename = part.filename
            except UnicodeDecodeError:
                invalid("a filename is not valid UTF-8", FIELD)
            problem = filename_problem(filename)
            if problem is not None:
                invalid(problem, FIELD)
            assert filename is not None
            await self._replace_earlier(filename)
            upload_id = new_upload_id(self.config.clock())
            staged = _Staged(upload_id, filename, await anyio.to_thread.run_sync(self._open_staging, upload_id, filename))
            self.staged.append(staged)
            await self._stream_part(part.stream, staged)

    async def _replace_earlier(self, filename: str) -> None:
        """A filename given twice in one body: the later part replaces the earlier, as a second
        upload would (one file per path, and no order between two ingest jobs to rely on)."""
        for earlier in [s for s in self.staged if s.filename == filename]:
            self.staged.remove(earlier)
            earlier.file.abort()
            await anyio.to_thread.run_sync(self.store.discard_staging, earlier.upload_id)
            replaced = f"replaced by a later file named {filename!r} in the same upload"
            self._show(earlier.upload_id, {"status": UploadState.FAILED.value, "filename": filename, "error": replaced})

    def _open_staging(self, upload_id: str, filename: str) -> StagedFile:
        try:
            content = self.store.create_staging(upload_id)
            return StagedFile(content, self.store.staged_lfs_copy(upload_id) if self._copy_for_lfs(filename) else None)
        except OSError as exc:
            self.store.discard_staging(upload_id)
            if exc.errno in _NO_SPACE:
                raise no_space("the volume has no room left for uploads") from None
            raise

    def _copy_for_lfs(self, filename: str) -> bool:
        """Write the file's LFS object as it arrives (``api.staging``)? For a file that may go
        through LFS (media, or a body over the large-file threshold), where a copy is not free."""
        maybe_lfs = stored_in_lfs(filename, self.total or 0, self.config.settings.large_file_bytes)
        return maybe_lfs and not shares_blocks(self.store.root)

    async def _stream_part(self, stream: Any, staged: _Staged) -> None:
        limit = self.config.max_upload_bytes
        try:
            async for chunk in stream:
                self.received += len(chunk)
                if self.received > limit:
                    raise too_large(limit)
                await staged.file.write(chunk)
                if self.metrics is not None:
                    self.metrics.add_bytes(len(chunk))
                self._progress(staged)
            staged.oid = await staged.file.finish()
        except OSError as exc:
            if exc.errno in _NO_SPACE:
                raise no_space(f"the volume ran out of space while storing {staged.filename!r}") from None
            raise
        staged.stat = await anyio.to_thread.run_sync(os.stat, self.store.staged_file(staged.upload_id))
        copy = staged.file.lfs_copy
        if copy is not None and not stored_in_lfs(staged.filename, staged.file.size, self.config.settings.large_file_bytes):
            await anyio.to_thread.run_sync(copy.unlink)  # the body was large, this file is not: git keeps it
        self._progress(staged, force=True)

    def _progress(self, staged: _Staged, force: bool = False) -> None:
        now = time.monotonic()
        last_at, last_bytes = self._last_progress
        step = self.total * _PROGRESS_FRACTION if self.total else None
        if not force and now - last_at < _PROGRESS_SECONDS and (step is None or self.received - last_bytes < step):
            return
        self._last_progress = (now, self.received)
        data = {"upload_id": staged.upload_id, "filename": staged.filename, "received": self.received, "total": self.total}
        self._publish("upload.progress", data)
        self._show(staged.upload_id, {**data, "status": UploadState.UPLOADING.value, "asset_type": self.asset_type})

    def _show(self, upload_id: str, state: dict[str, Any]) -> None:
        try:
            self.config.uploads.update(self.project_id, upload_id, state)
        except Exception:  # a courtesy, like events
            log.warning("could not record the state of upload %s", upload_id, exc_info=True)

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        try:
            self.config.bus.publish(Event(id=self.ids(), type=kind, project={"id": self.project_id}, at=self.config.clock(), data=data,
                                          actor=name_of(self.actor)))  # fmt: skip
        except Exception:  # events are a courtesy; the upload itself must not fail for them
            log.warning("could not publish %s", kind, exc_info=True)

    async def _record_all(self) -> list[AcceptedUpload]:
        folder = TYPE_FOLDERS[self.asset_type]
        records = []
        for staged in self.staged:
            assert staged.stat is not None
            records.append(UploadRecord(
                upload_id=staged.upload_id, project_id=self.project_id, asset_type=self.asset_type,
                filename=staged.filename, path=f"{folder}/{staged.filename}", size=staged.file.size, oid=staged.oid,
                status=UploadState.STORED, job_id=f"ingest-{staged.upload_id}",
                staged_ino=staged.stat.st_ino, staged_mtime_ns=staged.stat.st_mtime_ns, actor=self.actor,
            ))  # fmt: skip
        await anyio.to_thread.run_sync(self._write_records, records)
        self.staged = []  # stored for good: nothing to discard any more
        accepted = []
        for record in records:
            assert record.job_id is not None
            try:
                await anyio.to_thread.run_sync(self._enqueue, record)
            except Exception as exc:  # stored is stored: the controller's resync enqueues it again
                log.warning("upload %s stored; its ingest is not enqueued yet (%s: %s)", record.upload_id, type(exc).__name__, exc)
            accepted.append(AcceptedUpload(
                upload_id=record.upload_id, job_id=record.job_id, filename=record.filename, asset_type=record.asset_type,
                path=record.path, size=record.size, oid=record.oid, status=record.status.value,
            ))  # fmt: skip
        await audit(self.config, *(audit_entry(self.config, self.actor, "asset.upload", self.project_id, path=r.path,
                                               size=r.size, upload_id=r.upload_id) for r in records))  # fmt: skip
        return accepted

    def _enqueue(self, record: UploadRecord) -> None:
        assert record.job_id is not None
        state = {"status": record.status.value, "filename": record.filename, "asset_type": record.asset_type,
                 "path": record.path, "size": record.size, "oid": record.oid, "job_id": record.job_id}  # fmt: skip
        self._show(record.upload_id, state)
        self.config.jobs.enqueue(INGEST_JOB, job_id=record.job_id, kwargs={"upload_id": record.upload_id})

    def _write_records(self, records: list[UploadRecord]) -> None:
        """All the records, or none: a record promises its staged bytes, which a failure removes."""
        store = self.store
        try:
            for record in records:
                fsync_dir(store.staging_dir(record.upload_id))  # the content's name is durable too
                store.write(record, now=self.config.clock())
        except BaseException:
            for record in records:
                store.record_path(record.upload_id).unlink(missing_ok=True)
            raise

    def discard(self, exc: BaseException) -> None:
        """Remove every staged file of this request and say so on the bus."""
        reason = exc.description if isinstance(exc, falcon.HTTPError) and exc.description else type(exc).__name__
        store = self.store
        for staged in self.staged:
            staged.file.abort()
            store.discard_staging(staged.upload_id)
            self._publish("upload.failed", {"upload_id": staged.upload_id, "filename": staged.filename, "error": reason})
            self._show(staged.upload_id, {"status": UploadState.FAILED.value, "filename": staged.filename, "error": reason})
        self.staged = []
