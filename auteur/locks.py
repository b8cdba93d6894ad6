"""File locks on the volume (``flock``): the one way any process here takes a lock.

Called by ``auteur.specstore`` (the specs lock around a create), and by
``controller.locking`` (each project's lock, the active controller's lock). An
``flock`` goes with its process, so a ``kill -9`` never leaves a lock held, and it
works between containers sharing the volume.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except FileNotFoundError:  # the first lock of a new volume: make its folder once
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


@contextlib.contextmanager
def hold_lock(path: Path) -> Iterator[int]:
    """Wait for the exclusive lock on ``path`` (created if missing) and hold it for the
    block; yields the lock file's descriptor, which the holder may read and write."""
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def try_lock(path: Path) -> int | None:
    """Take the exclusive lock on ``path`` without waiting: the descriptor that holds it
    (close it to let go), or None while another process holds it."""
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
