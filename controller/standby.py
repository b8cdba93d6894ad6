"""Leadership of a workspace: one controller acts, any other stands by until the lease is free.

Called by ``controller.running`` before anything else starts. The lease is an
``auteur.leases.Lease``: ``controller.locking.Leadership`` (an ``flock`` the kernel drops
when its holder dies, so a standby takes over within one poll even after a ``kill -9``),
or in Redis mode ``redisbackend.lease.RedisLease`` (taken over once it expires, at most
its duration after its holder's last renewal).
"""

from __future__ import annotations

import logging
import threading

import anyio

from auteur.leases import Lease
from controller.shutdown import Shutdown

log = logging.getLogger("auteur.controller")


async def wait_for_leadership(lease: Lease, shutdown: Shutdown, standby: threading.Event, poll_seconds: float = 0.1) -> bool:
    """True once this process holds the lease; False if asked to stop first.
    ``standby`` is set while another controller holds it. The lease says how long to wait
    between tries; the wait is cut in ``poll_seconds`` slices so a stop is seen at once."""
    while not await anyio.to_thread.run_sync(lease.try_acquire):
        if not standby.is_set():
            log.info("standby: the lease is not free (holder: %s)", await anyio.to_thread.run_sync(lease.holder))
            standby.set()
        wait = await anyio.to_thread.run_sync(lease.retry_seconds)
        with anyio.move_on_after(wait):
            while not shutdown.requested:
                await anyio.sleep(poll_seconds)
        if shutdown.requested:
            return False
    standby.clear()
    return True
