"""The controller's mailbox: requests for what only the controller may do.

* ``restore`` and ``purge`` a trash entry: the API (and the CLI) ``submit`` them and
  ``wait_result``;
* ``announce``: a worker that changed a project (an ingest, a poster frame) tells the
  controller what it did; the controller journals the event (it keeps the one ordered
  record of events) and, if asked, reconciles the project and reports its status.

A request is a file under ``workspace/.auteur/requests/``, named so that names sort in
the order they were written; the controller watches that folder and carries them out
in that order (``controller.mailroom``). Level-triggered like everything else: a
request written while no controller runs is carried out when one starts.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

from auteur.atomic import write_atomic
from auteur.identity import Actor

REQUESTS_DIR = "requests"


class Request(msgspec.Struct, kw_only=True):
    id: str
    action: str  # "restore" | "purge" | "announce"
    entry: str = ""  # the trash entry (restore, purge)
    at: float = 0.0
    # announce: the event to journal for a project, and whether to reconcile it first
    project_id: str = ""
    event: str = ""
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    reconcile: bool = False
    # Whose request it carries out (a restore's, a purge's, an upload's): a restore commits as
    # them, and the events name them. None: nobody known.
    actor: Actor | None = None


class RequestResult(msgspec.Struct, kw_only=True):
    id: str
    ok: bool
    message: str = ""
    project_id: str | None = None


def requests_dir(state_dir: Path) -> Path:
    path = state_dir / REQUESTS_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def _new_id() -> str:
    """Sorts in the order of writing (the clock first), unique without coordination."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


def _post(state_dir: Path, request: Request) -> Request:
    write_atomic(requests_dir(state_dir) / f"{request.id}.request.json", msgspec.json.encode(request))
    return request


def submit(state_dir: Path, action: str, entry: str, actor: Actor | None = None) -> Request:
    """Ask for a trash ``restore`` or ``purge`` on ``actor``'s behalf; ``wait_result`` gives the answer."""
    return _post(state_dir, Request(id=_new_id(), action=action, entry=entry, at=time.time(), actor=actor))


def announce(state_dir: Path, project_id: str, event: str, data: dict[str, Any], *, reconcile: bool,
             actor: Actor | None = None) -> Request:  # fmt: skip
    """Tell the controller what a worker did to ``project_id`` on ``actor``'s behalf: it journals
    ``event`` with ``data`` (after reconciling the project first when ``reconcile``). Nobody waits for it."""
    request = Request(id=_new_id(), action="announce", at=time.time(), project_id=project_id, event=event, data=data,
                      reconcile=reconcile, actor=actor)  # fmt: skip
    return _post(state_dir, request)


def pending(state_dir: Path) -> list[Request]:
    found = []
    folder = requests_dir(state_dir)
    for name in sorted(os.listdir(folder)):
        if name.endswith(".request.json") and not name.startswith("."):
            try:
                found.append(msgspec.json.decode((folder / name).read_bytes(), type=Request))
            except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                (folder / name).unlink(missing_ok=True)
    return found


def finish(state_dir: Path, result: RequestResult) -> None:
    """Answer a request (the result file first, so an answer is never lost) and remove it."""
    folder = requests_dir(state_dir)
    write_atomic(folder / f"{result.id}.result.json", msgspec.json.encode(result))
    (folder / f"{result.id}.request.json").unlink(missing_ok=True)


def discard(state_dir: Path, request_id: str) -> None:
    """Remove a request nobody waits an answer for (an announcement, once carried out)."""
    (requests_dir(state_dir) / f"{request_id}.request.json").unlink(missing_ok=True)


def wait_result(state_dir: Path, request_id: str, timeout: float, interval: float = 0.02) -> RequestResult | None:
    """Poll for a request's result; None if the controller did not answer in time."""
    path = requests_dir(state_dir) / f"{request_id}.result.json"
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = msgspec.json.decode(path.read_bytes(), type=RequestResult)
            path.unlink(missing_ok=True)
            return result
        except FileNotFoundError:
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)
