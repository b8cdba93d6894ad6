"""The worker tasks: each takes a key off the work queue, reconciles it in a thread, reports back.

Started by ``controller.running`` (``settings.workers`` of them). One key is never
held by two workers (``controller.queueing``); the blocking file and git work runs in
a thread (``anyio.to_thread``), so the loop keeps serving watches and the resync. An
unexpected exception is a temporary failure: the key is retried with backoff, and
the worker carries on with the next key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio
import anyio.to_thread

from auteur.leases import LeaseLost
from controller.mailroom import REQUESTS_KEY, handle_requests
from controller.metrics import Metrics
from controller.queueing import WorkQueue
from controller.reconciling import DONE, Next, Outcome, Reconciler

log = logging.getLogger("auteur.controller")


def reconcile_key(reconciler: Reconciler, key: str, after: Callable[[str], None] | None = None) -> Outcome:
    """One key's work, in a thread: the restore and purge requests, or one project
    (``skipped`` when its fingerprint says nothing changed since it converged), then
    ``after(key)`` once a project was reconciled."""
    if key == REQUESTS_KEY:
        handle_requests(reconciler)
        return DONE
    if not reconciler.needs_reconcile(key):
        return Outcome(Next.SKIPPED)
    outcome = reconciler.reconcile(key)
    if after is not None:
        after(key)
    return outcome


async def work(queue: WorkQueue, handle: Callable[[str], Outcome], metrics: Metrics) -> None:
    """One worker task: until the queue closes, run ``handle(key)`` in a thread and tell
    the queue what comes next (done, retry with backoff, requeue after a delay, stalled)."""
    while True:
        try:
            key = await queue.get()
        except anyio.EndOfStream:
            return
        started = time.perf_counter()
        try:
            outcome = await anyio.to_thread.run_sync(handle, key)
        except LeaseLost as exc:  # another controller leads now: it does this key's work
            log.warning("%s: not written, %s", key, exc)
            outcome = Outcome(Next.RETRY, error=str(exc))
        except Exception as exc:  # never let one project kill the loop
            log.exception("%s: reconcile crashed", key)
            outcome = Outcome(Next.RETRY, error=str(exc))
        metrics.count(outcome, time.perf_counter() - started)
        if outcome.kind is Next.RETRY:
            delay = queue.done(key, retry=True)
            log.info("%s: will retry in %.1fs: %s", key, delay or 0, outcome.error)
        elif outcome.kind is Next.REQUEUE:
            queue.done(key, after=outcome.after)
        else:
            queue.done(key, stalled=outcome.kind is Next.STALLED)
