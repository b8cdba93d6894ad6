"""Leadership of a workspace: one controller acts, any other stands by until the lock is free.

Called by ``controller.running`` before anything else starts. The lock itself is
``controller.locking.Leadership`` (an ``flock`` the kernel drops when its holder
dies, so a standby takes over within one poll even after a ``kill -9``).
"""

from __future__ import annotations

import logging
import threading

import anyio

from controller.locking import Leadership
from controller.shutdown import Shutdown

log = logging.getLogger("auteur.controller")


async def wait_for_leadership(leadership: Leadership, shutdown: Shutdown, standby: threading.Event, poll_seconds: float = 0.5) -> bool:
    """True once this process holds the lock; False if asked to stop first.
    ``standby`` is set while another controller holds it."""
    while not leadership.try_acquire():
        if not standby.is_set():
            log.info("standby: another controller (pid %s) holds the workspace lock", leadership.holder())
            standby.set()
        if shutdown.requested:
            return False
        await anyio.sleep(poll_seconds)
    standby.clear()
    return True
