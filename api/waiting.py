"""Waiting for the controller, like ``kubectl apply --wait``: poll one project's status file.

Called by ``api.projects`` and ``api.trash`` after they write or remove a spec or hand
a request to the controller. It needs nothing but the volume, so it works while Redis
is down; the file is decoded only when its stat changes, so many waiters stay cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable

import msgspec

from auteur.status import ProjectStatus, StatusStore

Signature = tuple[int, int, int]

_decoder = msgspec.json.Decoder(ProjectStatus)


def signature(path: str) -> Signature | None:
    """What changes whenever the file is replaced (status files are renamed into place)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_ino, st.st_size


async def wait_for_status(store: StatusStore, key: str, done: Callable[[ProjectStatus | None], bool], timeout: float,
                          interval: float = 0.005) -> tuple[bool, ProjectStatus | None]:  # fmt: skip
    """Poll ``key``'s status until ``done(status)`` (``None``: no status file).

    Returns ``(True, status)`` when done, ``(False, last status seen)`` on timeout.
    """
    path = str(store.path(key))
    deadline = time.monotonic() + timeout
    last: Signature | None = None
    status: ProjectStatus | None = None
    first = True
    while True:
        sig = signature(path)
        if first or sig != last:
            first, last, status = False, sig, None
            if sig is not None:
                with contextlib.suppress(OSError, msgspec.DecodeError), open(path, "rb") as handle:
                    status = _decoder.decode(handle.read())
        if done(status):
            return True, status
        if time.monotonic() >= deadline:
            return False, status
        await asyncio.sleep(interval)
