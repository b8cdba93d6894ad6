"""Process trees on Linux, read from ``/proc``: is a pid alive, kill it and its children.

Used by the tests that start a worker process themselves: they ``kill -9`` it the way a
crashed container dies, whole (a killed rq worker would otherwise leave its work horse
running, since the horse has a process group of its own).
"""

from __future__ import annotations

import os
import signal


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _parents() -> dict[int, int]:
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                found[int(entry)] = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, parents first."""
    parents = _parents()
    out, frontier = [pid], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier and child not in out]
        out += children
        frontier = children
    return out


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> list[int]:
    """Signal ``pid`` and every descendant, found before any of them is signalled."""
    pids = tree(pid)
    for member in pids:
        try:
            os.kill(member, sig)
        except ProcessLookupError:
            pass
    return pids
