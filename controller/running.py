"""The control loop, composed: leadership, watches, workers, resync, heartbeat, shutdown.

Called by the CLI (``auteur run``, ``python -m controller run``: ``controller.cli``
gives it the Redis parts in Redis mode), by the embedded launcher and by tests.
Events only enqueue keys; worker tasks run ``Reconciler.reconcile`` in threads, one
at a time per key, different keys in parallel. Each job has its module:

* ``controller.standby``: wait until this process leads the workspace (the file lock,
  or Redis mode's lease: ``auteur.leases``); once it leads, it keeps the lease, and the
  reconciler checks it before every write. A lost lease stops the loop at once, with
  nothing more written, and ``lease_lost`` says so (``auteur run`` exits 3, and the
  container restarts as a standby);
* ``controller.shutdown``: SIGTERM/SIGINT or ``request_stop``, in-flight work first;
* ``controller.inbox``: keys from the watcher's thread onto the loop's queue;
* ``controller.workers``: the worker tasks, and ``controller.metrics`` their counters;
* ``controller.resyncing``: the periodic full resync and trash expiry;
* ``controller.scrubbing``: the background media integrity pass;
* ``controller.requeueing``: unfinished uploads back on the job queue (Redis mode);
* ``controller.forwarding``: the journal onto the shared event stream (Redis mode);
* ``controller.heartbeating``: the heartbeat file.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable

import anyio
import anyio.to_thread

from auteur import mailbox
from auteur.bus import EventStream
from auteur.events import Journal
from auteur.jobs import JobQueue
from auteur.leases import Lease, LeaseLost
from auteur.settings import Settings
from controller.forwarding import Forwarder
from controller.heartbeating import HeartbeatWriter, beat_process
from controller.inbox import Inbox
from controller.locking import Leadership
from controller.mailroom import REQUESTS_KEY
from controller.metrics import Metrics
from controller.queueing import WorkQueue
from controller.reconciling import Outcome, Reconciler
from controller.requeueing import requeue_staged_uploads
from controller.resyncing import Resync
from controller.scrubbing import Scrub
from controller.shutdown import Shutdown, Stopping
from controller.standby import wait_for_leadership
from controller.watching import Watcher
from controller.workers import reconcile_key, work

log = logging.getLogger("auteur.controller")


class Controller:
    """One controller process's loop. ``stream`` and ``requeue`` are Redis mode's
    (``auteur.backends.Backends``): where the journal is forwarded, and where unfinished
    uploads go back at every resync; without them, journal listeners publish in process."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] | None = None,
        stream: EventStream | None = None,
        requeue: JobQueue | None = None,
        lease: Lease | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.leadership: Lease = lease if lease is not None else Leadership(settings.state)
        self.journal = Journal(settings.state, clock=clock)
        self.reconciler = Reconciler(settings, clock=clock, journal=self.journal, fence=self.leadership.check)
        self.queue = WorkQueue()
        self.metrics = Metrics()
        self.forwarder = Forwarder(self.journal, stream) if stream is not None else None
        after_pass = functools.partial(requeue_staged_uploads, settings.state, requeue) if requeue is not None else None
        jitter = jitter or (lambda: random.uniform(-0.1, 0.1))
        self.resyncing = Resync(settings, self.reconciler, self.queue, self.metrics, clock=clock, jitter=jitter, after_pass=after_pass)
        self.scrubbing = Scrub(settings, self.reconciler, self.queue, self.metrics, clock=clock)
        self.inbox = Inbox(self.queue)
        self.shutdown = Shutdown()
        self.watcher: Watcher | None = None
        self.heartbeat = HeartbeatWriter(
            settings.state, self.queue, self.metrics, clock=clock, watches=lambda: self.watcher.count if self.watcher else 0
        )
        self.is_leader = False
        self.standby = threading.Event()  # set while another controller leads
        self.lease_lost = threading.Event()  # set once this controller led and lost the lease
        self.started = threading.Event()

    def request_stop(self) -> None:
        self.shutdown.request()

    async def resync(self) -> int:
        """One full resync pass now; the number of projects it enqueued."""
        return await self.resyncing.run_once()

    async def run(self, *, on_ready: Callable[[], None] | None = None) -> None:
        """Stand by until this process leads, then run the loop until asked to stop. The
        process's own beat file (``controller_beat_file``: the container's health check) is
        touched all along, standing by or leading."""
        async with anyio.create_task_group() as beating:
            beating.start_soon(beat_process, self.settings.controller_beat_file)
            try:
                await self._lead(on_ready)
            finally:
                beating.cancel_scope.cancel()

    async def _lead(self, on_ready: Callable[[], None] | None) -> None:
        if not await wait_for_leadership(self.leadership, self.shutdown, self.standby):
            return
        self.is_leader = True
        log.info("controller active on %s (specs: %s)", self.settings.workspace, self.settings.specs)
        self.leadership.keep(self._on_lease_lost)
        self.inbox.open()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.shutdown.watch_signals)
                tg.start_soon(self.shutdown.wait, self.queue)
                await anyio.to_thread.run_sync(self._start_watches)
                if self.forwarder is not None:
                    self.forwarder.start()
                for _ in range(max(1, self.settings.workers)):
                    tg.start_soon(work, self.queue, self._handle, self.metrics)
                tg.start_soon(self.heartbeat.run)
                tg.start_soon(self.resyncing.loop)
                tg.start_soon(self.scrubbing.loop)
                self.started.set()
                if on_ready:
                    on_ready()
        finally:
            if self.watcher:
                self.watcher.stop()
            if self.forwarder is not None:
                self.forwarder.stop()
            self.journal.close()
            self.leadership.release()
            self.is_leader = False
            log.info("controller stopped")

    def _on_lease_lost(self) -> None:
        """From the lease's renewal thread: another controller may lead already, so stop now;
        the fence keeps the reconciles still running from writing anything more."""
        self.lease_lost.set()
        self.request_stop()

    def _start_watches(self) -> None:
        self.watcher = Watcher(self.settings.specs, self.settings.workspace, self.inbox.put, self._on_overflow)
        self.watcher.is_busy = self.queue.is_active
        self.watcher.start()
        self.watcher.watch_requests(mailbox.requests_dir(self.settings.state), REQUESTS_KEY)
        for key in self.reconciler.owners.ids():
            self._watch(key)

    def _on_overflow(self) -> None:
        log.warning("inotify queue overflowed: running a full resync")
        self.resyncing.request()

    def _handle(self, key: str) -> Outcome:
        """A worker's unit of work (in a thread); a project it reconciled gets its folders watched."""
        return reconcile_key(self.reconciler, key, after=self._watch)

    def _watch(self, key: str) -> None:
        owner = self.reconciler.owners.get(key)
        if self.watcher is not None and owner is not None:
            self.watcher.watch_project(key, self.settings.workspace / owner.folder)


async def run_controller(controller: Controller, on_ready: Callable[[], None] | None = None) -> None:
    """Run until SIGTERM/SIGINT or ``request_stop``; in-flight reconciles finish first."""
    try:
        await controller.run(on_ready=on_ready)
    except* Stopping:
        pass
    except* LeaseLost as group:
        controller.lease_lost.set()
        log.error("controller stopped: %s", group.exceptions[0])
