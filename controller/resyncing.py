"""The periodic full resync: every project whose fingerprint moved goes back on the queue.

Run by ``controller.running`` as one task. Each pass re-reads the specs, purges trash
entries past their retention, enqueues (behind fresh events) every key whose files
differ from what was last converged, and the pending restore/purge requests; then
runs the pass's follow-up (Redis mode: ``controller.requeueing``). Passes come every
``resync_seconds`` with a jitter capped at ±10%, sooner after an inotify overflow
(``request``, from the watch thread), when events may have been lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import anyio
import anyio.to_thread

from auteur import mailbox
from auteur.settings import Settings
from controller.mailroom import REQUESTS_KEY
from controller.metrics import Metrics
from controller.queueing import HIGH, LOW, WorkQueue
from controller.reconciling import Reconciler

log = logging.getLogger("auteur.controller")


class Resync:
    def __init__(
        self,
        settings: Settings,
        reconciler: Reconciler,
        queue: WorkQueue,
        metrics: Metrics,
        *,
        clock: Callable[[], float],
        jitter: Callable[[], float],
        after_pass: Callable[[], None] | None = None,
    ) -> None:
        self.settings, self.reconciler, self.queue, self.metrics = settings, reconciler, queue, metrics
        self.clock, self.jitter = clock, jitter
        self.after_pass = after_pass
        self._now = threading.Event()

    def request(self) -> None:
        """From any thread: run the next pass now, not at the end of the period."""
        self._now.set()

    async def run_once(self) -> int:
        """One pass; the number of projects it enqueued."""
        started = time.perf_counter()
        stale = await anyio.to_thread.run_sync(self._stale_keys)
        if mailbox.pending(self.settings.state):
            self.queue.add(REQUESTS_KEY, HIGH)
        for key in stale:
            self.queue.add(key, LOW)
        self.metrics.count_resync(time.perf_counter() - started)
        return len(stale)

    def _stale_keys(self) -> list[str]:
        self.reconciler.specs.refresh(force=True)
        self.reconciler.fence()
        self.reconciler.trash.expire(self.settings.trash_retention_seconds, now=self.clock())
        return [k for k in sorted(self.reconciler.keys()) if self.reconciler.needs_reconcile(k)]

    async def loop(self) -> None:
        """Pass after pass until cancelled."""
        while True:
            count = await self.run_once()
            if self.after_pass is not None:
                await anyio.to_thread.run_sync(self.after_pass)
            level = logging.INFO if count else logging.DEBUG
            log.log(level, "resync pass in %.2fs: %d project(s) to reconcile", self.metrics.resync_last_seconds, count)
            period = self.settings.resync_seconds * (1 + max(-0.1, min(0.1, self.jitter())))
            deadline = time.monotonic() + period
            while time.monotonic() < deadline:
                if self._now.is_set():
                    self._now.clear()
                    break
                await anyio.sleep(min(1.0, deadline - time.monotonic()))
