"""The control loop: leadership, watches, workers, resync and heartbeat.

Called by the CLI (``auteur run``: ``controller.cli`` gives it the Redis parts in
Redis mode) and by the embedded launcher. Events only enqueue keys; worker tasks run ``Reconciler.reconcile`` in
threads, one key at a time per key, different keys in parallel.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from anyio.lowlevel import EventLoopToken

from auteur import heartbeat, requests
from auteur.atomic import write_atomic
from auteur.bus import EventStream
from auteur.events import Journal
from auteur.heartbeat import CONTROLLER_BEAT_SECONDS, Heartbeat
from auteur.jobs import JobQueue
from auteur.layout import HEARTBEAT
from auteur.settings import Settings
from auteur.uploads import UploadStore
from controller.forwarding import Forwarder
from controller.locking import Leadership
from controller.queueing import HIGH, LOW, WorkQueue
from controller.reconciling import DONE, Outcome, Reconciler
from controller.restoring import REQUESTS_KEY, handle_requests
from controller.watching import Watcher

log = logging.getLogger("auteur.controller")

INGEST_JOB = "worker.jobs.ingest"


@dataclass
class Metrics:
    """Counters in the style of controller-runtime, read by ``/metrics``."""

    reconcile_total: dict[str, int] = field(default_factory=lambda: {"success": 0, "error": 0, "requeue": 0, "skipped": 0})
    reconcile_seconds_sum: float = 0.0
    reconcile_seconds_count: int = 0
    errors_total: int = 0
    resyncs_total: int = 0
    resync_last_seconds: float = 0.0


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
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.jitter = jitter or (lambda: random.uniform(-0.1, 0.1))
        self.journal = Journal(settings.state, clock=clock)
        self.reconciler = Reconciler(settings, clock=clock, journal=self.journal)
        self.queue = WorkQueue()
        self.metrics = Metrics()
        self.leadership = Leadership(settings.state)
        # Redis mode: events go on to the stream, staged uploads back onto the queue.
        self.forwarder = Forwarder(self.journal, stream) if stream is not None else None
        self.jobs = requeue
        self.watcher: Watcher | None = None
        self._stop = threading.Event()
        self._resync_now = threading.Event()  # set from the watch thread on an inotify overflow
        self.is_leader = False
        self.started = threading.Event()
        self._token: EventLoopToken | None = None
        self._inbox: set[str] = set()
        self._inbox_lock = threading.Lock()
        self._drain_scheduled = False

    # -- thread -> loop bridge ----------------------------------------------

    def _on_key(self, key: str) -> None:
        with self._inbox_lock:
            self._inbox.add(key)
            if self._drain_scheduled:
                return
            self._drain_scheduled = True
        try:
            anyio.from_thread.run_sync(self._drain, token=self._token)
        except RuntimeError:
            pass  # loop gone: shutting down

    def _drain(self) -> None:
        with self._inbox_lock:
            keys, self._inbox = self._inbox, set()
            self._drain_scheduled = False
        for key in keys:
            self.queue.add(key, HIGH)

    def request_stop(self) -> None:
        self._stop.set()

    # -- the loop -------------------------------------------------------------

    async def run(self, *, on_ready: Callable[[], None] | None = None) -> None:
        self._token = anyio.lowlevel.current_token()
        told = False
        while not self.leadership.try_acquire():
            if not told:
                log.info("standby: another controller (pid %s) holds the workspace lock", self.leadership.holder())
                told = True
            if self._stop.is_set():
                return
            await anyio.sleep(0.5)
        self.is_leader = True
        log.info("controller active on %s (specs: %s)", self.settings.workspace, self.settings.specs)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_signals, tg.cancel_scope)
                tg.start_soon(self._watch_stop)
                await anyio.to_thread.run_sync(self._start_watches)
                if self.forwarder is not None:
                    self.forwarder.start()
                for _ in range(max(1, self.settings.workers)):
                    tg.start_soon(self._worker)
                tg.start_soon(self._heartbeat)
                tg.start_soon(self._resync_loop)
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

    async def _watch_signals(self, scope: anyio.CancelScope) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("received %s: finishing in-flight work", signal.Signals(signum).name)
                self.request_stop()
                return

    async def _watch_stop(self) -> None:
        while not self._stop.is_set():
            await anyio.sleep(0.1)
        self.queue.close()
        raise _Stopping

    def _start_watches(self) -> None:
        self.watcher = Watcher(self.settings.specs, self.settings.workspace, self._on_key, self._on_overflow)
        self.watcher.is_busy = self.queue.is_active
        self.watcher.start()
        self.watcher.watch_requests(requests.requests_dir(self.settings.state), REQUESTS_KEY)
        for key in self.reconciler.owners.ids():
            owner = self.reconciler.owners.get(key)
            if owner:
                self.watcher.watch_project(key, self.settings.workspace / owner.folder)

    def _on_overflow(self) -> None:
        log.warning("inotify queue overflowed: running a full resync")
        self._resync_now.set()

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except anyio.EndOfStream:
                return
            started = time.perf_counter()
            try:
                outcome = await anyio.to_thread.run_sync(self._work, key)
            except Exception as exc:  # never let one project kill the loop
                log.exception("%s: reconcile crashed", key)
                outcome = Outcome("retry", error=str(exc))
            elapsed = time.perf_counter() - started
            self._count(outcome, elapsed)
            if outcome.kind == "retry":
                delay = self.queue.done(key, retry=True)
                log.info("%s: will retry in %.1fs: %s", key, delay or 0, outcome.error)
            elif outcome.kind == "requeue":
                self.queue.done(key, after=outcome.after)
            else:
                self.queue.done(key, stalled=outcome.kind == "stalled")

    def _work(self, key: str) -> Outcome:
        if key == REQUESTS_KEY:
            handle_requests(self.reconciler)
            return DONE
        if not self.reconciler.needs_reconcile(key):
            return Outcome("skipped")
        outcome = self.reconciler.reconcile(key)
        if self.watcher is not None:
            owner = self.reconciler.owners.get(key)
            if owner is not None:
                self.watcher.watch_project(key, self.settings.workspace / owner.folder)
        return outcome

    def _count(self, outcome: Outcome, elapsed: float) -> None:
        m = self.metrics
        if outcome.kind == "skipped":
            m.reconcile_total["skipped"] += 1
            return
        m.reconcile_seconds_sum += elapsed
        m.reconcile_seconds_count += 1
        if outcome is DONE or outcome.kind in ("done", "stalled"):
            m.reconcile_total["success"] += 1
        elif outcome.kind == "requeue":
            m.reconcile_total["requeue"] += 1
        else:
            m.reconcile_total["error"] += 1
            m.errors_total += 1

    async def resync(self) -> int:
        """Enqueue every key whose fingerprint differs from what was converged."""
        started = time.perf_counter()
        stale = await anyio.to_thread.run_sync(self._stale_keys)
        if requests.pending(self.settings.state):
            self.queue.add(REQUESTS_KEY, HIGH)
        for key in stale:
            self.queue.add(key, LOW)
        self.metrics.resyncs_total += 1
        self.metrics.resync_last_seconds = time.perf_counter() - started
        return len(stale)

    def _stale_keys(self) -> list[str]:
        self.reconciler.specs.refresh(force=True)
        self.reconciler.trash.expire(self.settings.trash_retention_seconds, now=self.clock())
        return [k for k in sorted(self.reconciler.keys()) if self.reconciler.needs_reconcile(k)]

    async def _resync_loop(self) -> None:
        while True:
            count = await self.resync()
            if self.jobs is not None:
                await anyio.to_thread.run_sync(self._requeue_staged_uploads)
            log.log(
                logging.INFO if count else logging.DEBUG,
                "resync pass in %.2fs: %d project(s) to reconcile",
                self.metrics.resync_last_seconds,
                count,
            )
            period = self.settings.resync_seconds * (1 + max(-0.1, min(0.1, self.jitter())))
            deadline = time.monotonic() + period
            while time.monotonic() < deadline:
                if self._resync_now.is_set():
                    self._resync_now.clear()
                    break
                await anyio.sleep(min(1.0, deadline - time.monotonic()))

    def _requeue_staged_uploads(self) -> None:
        """Level-triggered: every upload stored on the volume but not ingested gets its
        job again (a no-op while the job is queued or running). Covers Redis outages
        and workers killed mid-ingest."""
        assert self.jobs is not None
        try:
            for record in UploadStore(self.settings.state).unfinished():
                self.jobs.enqueue(INGEST_JOB, job_id=f"ingest-{record.upload_id}", kwargs={"upload_id": record.upload_id})
        except Exception as exc:  # Redis away: the next pass tries again
            log.info("staged uploads not re-enqueued yet: %s", exc)

    async def _heartbeat(self) -> None:
        while True:
            m = self.metrics
            beat = Heartbeat(
                at=self.clock(),
                pid=os.getpid(),
                queue=len(self.queue),
                active=self.queue.active,
                resyncs=m.resyncs_total,
                resync_last_seconds=m.resync_last_seconds,
                reconciles=m.reconcile_seconds_count,
                watches=self.watcher.count if self.watcher else 0,
            )
            await anyio.to_thread.run_sync(write_atomic, self.settings.state / HEARTBEAT, heartbeat.encode(beat))
            await anyio.sleep(CONTROLLER_BEAT_SECONDS)


class _Stopping(Exception):
    pass


async def run_controller(controller: Controller, on_ready: Callable[[], None] | None = None) -> None:
    """Run until SIGTERM/SIGINT or ``request_stop``; in-flight reconciles finish first."""
    try:
        await controller.run(on_ready=on_ready)
    except* _Stopping:
        pass
