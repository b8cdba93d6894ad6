"""Process trees, through psutil: is a pid alive, kill it and its children.

Used by the tests that start a worker process themselves: they ``kill -9`` it the way a
crashed container dies, whole (a killed rq worker would otherwise leave its work horse
running, since the horse has a process group of its own).
"""

from __future__ import annotations

import signal

import psutil


def alive(pid: int | None) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped) counts as dead."""
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's process: it exists
        return True


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, parents first."""
    try:
        return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return [pid]


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> list[int]:
    """Signal ``pid`` and every descendant, found before any of them is signalled."""
    pids = tree(pid)
    for member in pids:
        try:
            psutil.Process(member).send_signal(sig)
        except psutil.NoSuchProcess:
            pass
    return pids
