"""How the control loop stops: SIGTERM/SIGINT or ``Controller.request_stop``, in-flight work first.

Called by ``controller.running``. Asking to stop only sets a flag (from any thread:
a signal, the launcher, a test); one task on the loop watches it, closes the work
queue (each worker finishes its key, then finds the queue closed and returns) and
ends the task group by raising ``Stopping``, which ``run_controller`` swallows.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import NoReturn

import anyio

from controller.queueing import WorkQueue

log = logging.getLogger("auteur.controller")


class Stopping(Exception):
    """Raised inside the task group once the queue is closed: everything else is cancelled."""


class Shutdown:
    def __init__(self, poll_seconds: float = 0.1) -> None:
        self.poll_seconds = poll_seconds
        self._requested = threading.Event()

    def request(self) -> None:
        self._requested.set()

    @property
    def requested(self) -> bool:
        return self._requested.is_set()

    async def watch_signals(self) -> None:
        """SIGTERM or SIGINT asks to stop; only the main thread can receive them (not under the launcher's tests)."""
        if threading.current_thread() is not threading.main_thread():
            return
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("received %s: finishing in-flight work", signal.Signals(signum).name)
                self.request()
                return

    async def wait(self, queue: WorkQueue) -> NoReturn:
        """Once asked to stop: close the queue, so workers finish their key and return, then raise ``Stopping``."""
        while not self._requested.is_set():
            await anyio.sleep(self.poll_seconds)
        queue.close()
        raise Stopping
