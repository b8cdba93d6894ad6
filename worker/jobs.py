"""The jobs the API enqueues by name: ``"worker.jobs.ingest"``, ``"worker.jobs.recover_uploads"``.

Run by the job queue (``auteur.jobs.InProcessJobs`` in the embedded default, an
RQ worker with Redis). Plain module-level functions taking ids, as rq wants: they
re-read everything from the volume. Settings and the event bus come from
``configure`` (called by ``launcher.embedded``); a worker process that was not
configured reads the environment and publishes nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from auteur.events import Event
from auteur.settings import Settings, from_env
from auteur.uploads import FINISHED, UploadStore
from worker.ingesting import Ingest, Publisher

log = logging.getLogger("auteur.worker")

# A staging folder with no record and no new bytes for this long was cut off.
ORPHAN_SECONDS = 15 * 60.0
# Finished records are kept this long (for people asking what became of an upload).
KEEP_FINISHED_SECONDS = 7 * 24 * 3600.0


class _NoBus:
    def publish(self, event: Event) -> None:
        pass


_settings: Settings | None = None
_bus: Publisher = _NoBus()


def configure(settings: Settings, bus: Publisher) -> None:
    """Give the jobs of this process their settings and event bus."""
    global _settings, _bus
    _settings, _bus = settings, bus


def _current_settings() -> Settings:
    return _settings if _settings is not None else from_env()


def ingest(upload_id: str) -> dict[str, Any]:
    """Move a stored upload into its project and commit it; returns the record's summary."""
    return Ingest(_current_settings(), _bus).run(upload_id)


def recover_uploads(older_than: float = ORPHAN_SECONDS) -> dict[str, Any]:
    """Finish what a crash interrupted: ingest every stored or half-ingested upload again,
    remove staging folders of uploads that never completed, forget old finished records."""
    settings = _current_settings()
    store = UploadStore(settings.state)
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
