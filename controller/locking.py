"""File locks on the volume: one per project, and one for the active controller.

Called by ``controller.reconciling`` (the project lock, also taken by the CLI and
by the ingest job, which converges under it) and ``controller.standby`` (leadership in
the embedded mode: ``auteur.leases.Lease`` over a file lock; Redis mode's lease is
``redisbackend.lease``). Both are ``auteur.locks`` file locks, so a ``kill -9`` never
leaves one held.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from auteur.layout import CONTROLLER_LOCK, LOCKS_DIR
from auteur.locks import hold_lock, try_lock

_BUSY, _IDLE = b"busy", b"idle"


@contextlib.contextmanager
def project_lock(state_dir: Path, project_id: str) -> Iterator[bool]:
    """Hold the project's lock. Yields True when the previous holder died while holding
    it (a ``kill -9``): the caller should clear what it may have left (git ``.lock`` files)."""
    with hold_lock(state_dir / LOCKS_DIR / f"{project_id}.lock") as fd:
        interrupted = os.pread(fd, 4, 0) == _BUSY
        os.pwrite(fd, _BUSY, 0)
        try:
            yield interrupted
        finally:
            os.pwrite(fd, _IDLE, 0)


class Leadership:
    """The controller lock: whoever holds it reconciles; others wait as standby. The kernel
    keeps it for its holder until the process ends, so it never expires and needs no fence."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / CONTROLLER_LOCK
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        fd = try_lock(self.path)
        if fd is None:
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return True

    def holder(self) -> str:
        try:
            return f"pid {self.path.read_text().strip() or 'unknown'}"
        except OSError:
            return "unknown"

    def retry_seconds(self) -> float:
        return 0.5

    def keep(self, on_lost: Callable[[], None]) -> None:
        """Nothing to renew: the lock is this process's until it ends."""

    def check(self) -> None:
        """Never lost while the process runs."""

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
