"""Putting uploads stored on the volume but not yet ingested back on the job queue.

Run by ``controller.resyncing`` after every pass, in Redis mode only (the
``requeue`` queue of ``auteur.backends.Backends``): a queue in Redis can lose a job on
its own (an outage, a partition, a worker killed mid-ingest), the upload record on
the volume cannot. Level-triggered: every unfinished record gets its job again,
which is a no-op while that job is queued or running (deterministic job ids).
"""

from __future__ import annotations

import logging
from pathlib import Path

from auteur.jobs import INGEST_JOB, JobQueue
from auteur.uploads import UploadStore

log = logging.getLogger("auteur.controller")


def requeue_staged_uploads(state: Path, jobs: JobQueue) -> None:
    """Enqueue the ingest job of every unfinished upload under ``state``; never raises
    (Redis away: the next pass tries again)."""
    try:
        for record in UploadStore(state).unfinished():
            jobs.enqueue(INGEST_JOB, job_id=f"ingest-{record.upload_id}", kwargs={"upload_id": record.upload_id})
    except Exception as exc:
        log.info("staged uploads not re-enqueued yet: %s", exc)
