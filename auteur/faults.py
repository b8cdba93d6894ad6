"""Named points where a process can be held, so fault tests can crash it at a known moment.

Called at a few places where a ``kill -9`` is most interesting (``worker.ingesting``:
after the upload is moved into the project, before it is committed). Off unless
``AUTEUR_FAULT_HOLD`` is set, as ``<point>=<file>[,<point>=<file>...]``: the process
waits at the point while the file exists (at most ``MAX_HOLD_SECONDS``). Tests create
the file, see the process held, kill it, remove the file and start it again.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger("auteur.faults")

MAX_HOLD_SECONDS = 600.0


def hold(point: str) -> None:
    spec = os.environ.get("AUTEUR_FAULT_HOLD")
    if not spec:
        return
    for item in spec.split(","):
        name, _, path = item.partition("=")
        if name != point or not path or not os.path.exists(path):
            continue
        log.warning("held at %s while %s exists", point, path)
        deadline = time.monotonic() + MAX_HOLD_SECONDS
        while os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
