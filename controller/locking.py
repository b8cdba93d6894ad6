"""File locks on the volume: one per project, and one for the active controller.

Called by ``controller.reconciling`` (the project lock, also taken by the CLI and
by workers running controller steps) and ``controller.running`` (leadership).
``flock`` locks vanish with their process, so a ``kill -9`` never leaves one held.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from auteur.layout import CONTROLLER_LOCK, LOCKS_DIR

_BUSY, _IDLE = b"busy", b"idle"


@contextlib.contextmanager
def project_lock(state_dir: Path, project_id: str) -> Iterator[bool]:
    """Hold the project's lock. Yields True when the previous holder died while holding
    it (a ``kill -9``): the caller should clear what it may have left (git ``.lock`` files)."""
    path = state_dir / LOCKS_DIR / f"{project_id}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        interrupted = os.pread(fd, 4, 0) == _BUSY
        os.pwrite(fd, _BUSY, 0)
        try:
            yield interrupted
        finally:
            os.pwrite(fd, _IDLE, 0)
    finally:
        os.close(fd)


class Leadership:
    """The controller lock: whoever holds it reconciles; others wait as standby."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / CONTROLLER_LOCK
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
