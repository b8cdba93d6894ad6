"""Who leads a workspace: the interface of the active controller's lease, and its fence.

Two implementations: ``controller.locking.Leadership`` (a file lock on the volume, the
embedded default: the kernel drops it when its holder dies) and
``redisbackend.lease.RedisLease`` (Redis mode, where the workspace may be a network
filesystem shared by several machines and a file lock cannot be trusted: a lease with an
expiry, renewed by its holder, and a fencing token). ``controller.standby`` waits for one,
``controller.running`` keeps it, and the reconciler calls ``check`` before every write to a
project folder (``controller.converging``, ``controller.repository``): a controller that lost
its lease — paused past the expiry, cut off from Redis — stops before it writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class LeaseLost(Exception):
    """This process no longer leads: another controller may be writing. Nothing more may be written."""


class Lease(Protocol):
    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True when this process leads now."""
        ...

    def holder(self) -> str:
        """Who holds it, for the standby's log line."""
        ...

    def retry_seconds(self) -> float:
        """How long a standby waits before trying again."""
        ...

    def keep(self, on_lost: Callable[[], None]) -> None:
        """Hold on to the lease from now on (renew it where it expires); ``on_lost`` is called
        once, from any thread, when it is gone."""
        ...

    def check(self) -> None:
        """The fence: raise ``LeaseLost`` unless this process still leads."""
        ...

    def release(self) -> None:
        """Let go, so a standby takes over at once (a clean stop)."""
        ...


def unfenced() -> None:
    """The fence of a process that writes without leading (the CLI, the worker's ingest under the project lock)."""
