"""Requests to the controller for work only it may do: restoring and purging trash.

The API (and the CLI) write a request file under ``workspace/.auteur/requests/``;
the controller watches that folder, acts under the project lock, and writes the
result next to it. Level-triggered like everything else: a request written while
no controller runs is carried out when one starts.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import msgspec

from auteur.atomic import write_atomic

REQUESTS_DIR = "requests"


class Request(msgspec.Struct, kw_only=True):
    id: str
    action: str  # "restore" | "purge"
    entry: str
    at: float = 0.0


class RequestResult(msgspec.Struct, kw_only=True):
    id: str
    ok: bool
    message: str = ""
    project_id: str | None = None


def requests_dir(state_dir: Path) -> Path:
    path = state_dir / REQUESTS_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def submit(state_dir: Path, action: str, entry: str) -> Request:
    request = Request(id=uuid.uuid4().hex[:16], action=action, entry=entry, at=time.time())
    write_atomic(requests_dir(state_dir) / f"{request.id}.request.json", msgspec.json.encode(request))
    return request


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
    folder = requests_dir(state_dir)
    write_atomic(folder / f"{result.id}.result.json", msgspec.json.encode(result))
    (folder / f"{result.id}.request.json").unlink(missing_ok=True)


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
