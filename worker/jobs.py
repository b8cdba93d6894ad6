"""The jobs the API enqueues by name: ``"worker.jobs.ingest"``, ``"worker.jobs.restore"``, ``"worker.jobs.recover_uploads"``
(and ``"worker.media.poster"``, in ``worker.media``; ``"worker.thumbnails.thumbnail"``, in ``worker.thumbnails``).

Run by the job queue (``auteur.jobs.InProcessJobs`` in the embedded default, an
RQ worker with Redis). Plain module-level functions taking ids, as rq wants: they
re-read everything from the volume. What they need besides (settings, the shared
view of uploads, the queue for follow-up work) is one ``JobContext`` per process,
given once by its entry point through ``configure`` (``launcher.embedded``,
``python -m worker``; tests ``reset`` after their own). In a process that was not
configured, jobs read the settings from the environment, keep no shared view and do
follow-up work at once. Jobs publish nothing: they tell the controller what they did
(``auteur.mailbox``). A video's ingest asks for its poster
frame, an image's for its thumbnail, through the context's queue, else makes it at once.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auteur.jobs import JobQueue, resolve
from auteur.media import POSTER_JOB, enqueue_poster, is_video, poster_needed
from auteur.settings import Settings, from_env
from auteur.thumbnails import THUMBNAIL_JOB, content_key, enqueue_thumbnail, is_image, thumbnail_state
from auteur.uploads import FINISHED, UploadStore
from auteur.uploadviews import NoUploadView, UploadView
from controller.ownership import Owners
from worker.ingesting import Ingest
from worker.restoring import Restore, actor_from

log = logging.getLogger("auteur.worker")

# A staging folder with no record and no new bytes for this long was cut off.
ORPHAN_SECONDS = 15 * 60.0
# Finished records are kept this long (for people asking what became of an upload).
KEEP_FINISHED_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True)
class JobContext:
    """What the jobs of one process share; built by its entry point from its backends."""

    settings: Settings
    uploads: UploadView = field(default_factory=NoUploadView)
    # Where follow-up work (posters) is enqueued; None: this is a worker already, do it at once.
    queue: JobQueue | None = None


# Set by ``configure`` and ``reset`` only: the one piece of process state the jobs share. The
# context variable holds the same for the code running on behalf of one embedded stack (an
# in-process job runs in the context it was enqueued from), so that two stacks in one process
# (tests) each run their jobs with their own.
_context: JobContext | None = None
_bound: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar("job_context", default=None)


def configure(settings: Settings, view: UploadView | None = None, *, queue: JobQueue | None = None) -> JobContext:
    """Give the jobs of this process their settings, view of uploads, and the queue they
    enqueue follow-up work on (posters); the context is also bound to the caller's context."""
    global _context
    _context = JobContext(settings, view or NoUploadView(), queue)
    _bound.set(_context)
    return _context


def bind(ctx: JobContext) -> None:
    """Bind ``ctx`` for the code running in the caller's context (an embedded stack's own thread)."""
    _bound.set(ctx)


def reset() -> None:
    """Forget what ``configure`` gave (tests): jobs read the environment again."""
    global _context
    _context = None
    _bound.set(None)


def context() -> JobContext:
    """The context bound here, else what ``configure`` gave, else the environment's settings."""
    bound = _bound.get()
    if bound is not None:
        return bound
    return _context if _context is not None else JobContext(from_env())


def current_settings() -> Settings:
    return context().settings


def ingest(upload_id: str) -> dict[str, Any]:
    """Move a stored upload into its project and commit it; returns the record's summary.
    A video that is in gets its poster frame asked for, an image its thumbnail."""
    ctx = context()
    summary = Ingest(ctx.settings, view=ctx.uploads).run(upload_id)
    if summary.get("status") == "completed" and isinstance(summary.get("path"), str):
        _ask_for_preview(ctx, str(summary["project_id"]), summary["path"])
    return summary


def restore(project_id: str, path: str, version: str, upload_id: str, actor: dict[str, Any] | None = None) -> dict[str, Any]:
    """Make ``path`` at commit ``version`` the current file again (a new commit, as ``actor``);
    returns the summary of the upload it becomes."""
    ctx = context()
    summary = Restore(ctx.settings, view=ctx.uploads).run(project_id, path, version, upload_id, actor_from(actor))
    if summary.get("status") == "completed":
        _ask_for_preview(ctx, project_id, path)
    return summary


def _ask_for_preview(ctx: JobContext, project_id: str, path: str) -> None:
    """Ask for what ``path`` is missing: a video's poster, an image's thumbnail; on the
    context's queue, else made now (this is a worker already). Never fails the ingest."""
    try:
        owner = Owners(ctx.settings.state).get(project_id)
        wanted = _preview_wanted(ctx.settings.workspace / owner.folder, project_id, path) if owner is not None else None
        if wanted is None:
            return
        name, enqueue = wanted
        if ctx.queue is not None:
            enqueue(ctx.queue)
        else:
            resolve(name)(project_id=project_id, path=path)
    except Exception:  # a preview is a nicety: the upload stands without it (the page asks again)
        log.warning("could not ask for the preview of %s/%s", project_id, path, exc_info=True)


def _preview_wanted(root: Path, project_id: str, path: str) -> tuple[str, Callable[[JobQueue], str]] | None:
    """The job that would make ``path``'s missing preview, and how to enqueue it; None if
    it has what it needs: the poster of this version of a video (by mtime), the
    thumbnail of an image's committed bytes (by content key)."""
    if is_video(path):
        mtime_ns = poster_needed(root, path)
        return None if mtime_ns is None else (POSTER_JOB, lambda queue: enqueue_poster(queue, project_id, path, mtime_ns))
    key = content_key(root, path) if is_image(path) else None
    if key is None or thumbnail_state(root, key) != "missing":
        return None
    return THUMBNAIL_JOB, lambda queue: enqueue_thumbnail(queue, project_id, path, key)


def recover_uploads(older_than: float = ORPHAN_SECONDS) -> dict[str, Any]:
    """Finish what a crash interrupted: ingest every stored or half-ingested upload again,
    remove staging folders of uploads that never completed, forget old finished records."""
    store = UploadStore(context().settings.state)
    now = time.time()
    ingested = []
    for record in store.unfinished():
        try:
            ingested.append(ingest(record.upload_id)["status"])
        except Exception:  # recorded on the upload; the next recovery tries again
            log.warning("re-ingesting upload %s failed", record.upload_id, exc_info=True)
    orphans = store.orphans(older_than, now=now)
    for upload_id in orphans:
        store.discard_staging(upload_id)
    forgotten = 0
    for upload_id in store.ids():
        finished = store.read(upload_id)
        if finished is not None and finished.status in FINISHED and now - finished.updated_at > KEEP_FINISHED_SECONDS:
            store.record_path(upload_id).unlink(missing_ok=True)
            store.discard_staging(upload_id)
            forgotten += 1
    if ingested or orphans or forgotten:
        log.info("upload recovery: %d re-ingested, %d orphaned staging folders removed, %d old records forgotten",
                 len(ingested), len(orphans), forgotten)  # fmt: skip
    return {"ingested": len(ingested), "orphans": len(orphans), "forgotten": forgotten}
