"""The parts that differ between the embedded default and Redis mode, as one value.

``redisbackend.backends_for(settings)`` builds it for the services of the compose
stack (``auteur run`` in ``controller.cli``, ``python -m api`` through
``api.config``, ``python -m worker``): that is the one place the mode is chosen,
from ``REDIS_URL``. The launcher (``launcher.embedded``) builds the embedded one with
``Backends.embedded``. Each entry point hands the parts down: to the API's config,
to the controller, to the jobs' context (``worker.jobs.configure``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auteur.bus import EventBus, EventStream, LocalBus
from auteur.jobs import InProcessJobs, JobQueue, JobWorker
from auteur.leases import Lease
from auteur.uploadviews import NoUploadView, UploadView


@dataclass(frozen=True)
class Backends:
    # Events for every subscriber (the API's WebSockets) from every publisher.
    bus: EventBus
    # Jobs by name (uploads to ingest, posters to make).
    jobs: JobQueue
    # Where each upload stands, for every API replica to read.
    uploads: UploadView
    # Whether Redis answers (``/health``); None where nothing uses it.
    ping: Callable[[], bool] | None = None
    # The shared stream the controller forwards its journal to, catching up after
    # outages; None where the journal's listeners publish in process.
    stream: EventStream | None = None
    # The queue the controller puts stored but unfinished uploads back on at every
    # resync, because it can lose jobs on its own (an outage, a partition, a killed
    # worker); None where jobs die with the process that runs them and its start-up
    # recovery (``worker.jobs.recover_uploads``) runs them again.
    requeue: JobQueue | None = None
    # The service that runs the jobs in a process of its own; None where they run in
    # the process that enqueues them.
    worker: JobWorker | None = None
    # Makes the active controller's lease where a file lock on the volume cannot be trusted
    # (a network filesystem shared by several machines); None: the file lock
    # (``controller.locking.Leadership``).
    lease: Callable[[], Lease] | None = None

    @classmethod
    def embedded(cls, *, bus: LocalBus | None = None, jobs: InProcessJobs | None = None) -> Backends:
        """Everything in this process: the in-process bus and job runner, no shared view of uploads."""
        return cls(bus=bus or LocalBus(), jobs=jobs or InProcessJobs(), uploads=NoUploadView())
