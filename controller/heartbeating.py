"""The controller's heartbeats: the workspace's, and the process's own.

``HeartbeatWriter`` is run by ``controller.running`` as one task while this process leads:
``workspace/.auteur/heartbeat.json``, rewritten every 5 s, an ``auteur.heartbeat.Heartbeat``
(when, pid, the queue, the last resync, the watches), written atomically; ``/health``,
``auteur health`` and the compose health check read it. ``beat_process`` touches the
process's own beat file (``AUTEUR_CONTROLLER_BEAT_FILE``, in the container) every 5 s,
standing by or leading: with several controller replicas (Swarm), a standby is healthy
while the workspace's heartbeat is its leader's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_thread

from auteur import heartbeat
from auteur.atomic import write_atomic
from auteur.heartbeat import CONTROLLER_BEAT_SECONDS, Heartbeat
from auteur.layout import HEARTBEAT
from controller.metrics import Metrics
from controller.queueing import WorkQueue


class HeartbeatWriter:
    def __init__(
        self,
        state: Path,
        queue: WorkQueue,
        metrics: Metrics,
        *,
        clock: Callable[[], float],
        watches: Callable[[], int],
        period: float = CONTROLLER_BEAT_SECONDS,
    ) -> None:
        self.path = state / HEARTBEAT
        self.queue, self.metrics, self.clock, self.watches, self.period = queue, metrics, clock, watches, period

    def snapshot(self) -> Heartbeat:
        m = self.metrics
        return Heartbeat(
            at=self.clock(),
            pid=os.getpid(),
            queue=len(self.queue),
            active=self.queue.active,
            resyncs=m.resyncs_total,
            resync_last_seconds=m.resync_last_seconds,
            reconciles=m.reconcile_seconds_count,
            watches=self.watches(),
        )

    async def run(self) -> None:
        """Beat until cancelled."""
        while True:
            await anyio.to_thread.run_sync(write_atomic, self.path, heartbeat.encode(self.snapshot()))
            await anyio.sleep(self.period)


async def beat_process(path: Path | None, period: float = CONTROLLER_BEAT_SECONDS) -> None:
    """Touch ``path`` every ``period`` seconds until cancelled (nothing when it is None)."""
    if path is None:
        return
    while True:
        await anyio.to_thread.run_sync(heartbeat.touch, path)
        await anyio.sleep(period)
