"""The audit log: who did what through the API, one JSON line per action, in ``workspace/.auteur/audit.log``.

Appended by the API (``api.actors.audit``: creates, edits, uploads, deletes, restores and
purges; the auth layer's user and token changes go through the same ``append``) and read by
``GET /api/v1/audit`` (``api.audit``). Append-only and never rewritten: each ``append`` is
one ``write`` on a descriptor opened with ``O_APPEND``, so the lines of API replicas writing
at once never interleave, and a line cut short by a crash is skipped by readers, as the event
journal's are. ``read`` goes backwards from the end (or from a cursor) one block at a time and
stops as soon as a page is full, so a page costs the same whatever the size of the log.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import msgspec

from auteur.layout import AUDIT_LOG

BLOCK = 64 * 1024


class AuditEntry(msgspec.Struct, kw_only=True):
    """One action someone took."""

    at: Annotated[float, msgspec.Meta(description="when (seconds since the epoch)")]
    actor: Annotated[str | None, msgspec.Meta(description="who: the person's name; null when nobody signed in (auth off)")]
    action: Annotated[str, msgspec.Meta(
        description="what: project.create, project.update, project.delete, asset.upload, trash.restore, trash.purge, ...")]  # fmt: skip
    project: Annotated[str | None, msgspec.Meta(description="the project's id, when the action was on one")] = None
    details: Annotated[dict[str, Any], msgspec.Meta(description="a few facts about it, e.g. the path of an upload")] = {}


class AuditPage(msgspec.Struct, kw_only=True):
    """Entries newest first, and where the next (older) page starts."""

    items: list[AuditEntry]
    next: Annotated[int | None, msgspec.Meta(
        description="pass as before= for the older entries; null once the start of the log is reached")] = None  # fmt: skip


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AuditEntry)


def path_of(state_dir: Path) -> Path:
    return state_dir / AUDIT_LOG


def append(state_dir: Path, *entries: AuditEntry) -> None:
    """Add ``entries`` at the end of the log, in one write (their lines stay together)."""
    data = b"".join(_encoder.encode(entry) + b"\n" for entry in entries)
    fd = os.open(path_of(state_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:  # a short write happens only on a full disk, which the next write reports
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def read(state_dir: Path, *, project: str | None = None, actor: str | None = None, limit: int = 100,
         before: int | None = None) -> AuditPage:  # fmt: skip
    """Up to ``limit`` entries, newest first, of ``project`` and by ``actor`` (either may be
    None: any), among those written wholly before byte ``before`` of the log (None: all).
    ``next`` is the offset to pass as ``before`` for the following page."""
    try:
        fd = os.open(path_of(state_dir), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return AuditPage(items=[])
    try:
        end = os.fstat(fd).st_size if before is None else min(before, os.fstat(fd).st_size)
        items: list[AuditEntry] = []
        for offset, line in _lines_backwards(fd, end):
            if len(items) == limit:
                return AuditPage(items=items, next=offset + len(line) + 1)
            try:
                entry = _decoder.decode(line)
            except msgspec.DecodeError:  # a line torn by a crash, or not an entry
                continue
            if (project is None or entry.project == project) and (actor is None or entry.actor == actor):
                items.append(entry)
        return AuditPage(items=items)
    finally:
        os.close(fd)


def _lines_backwards(fd: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of every line that ends (with its newline) by ``end``, last first. What
    follows the last newline before ``end`` is left out: a line still being written, or the
    rest of a line a cursor cut."""
    pos, tail = end, b""
    started = False
    while pos > 0:
        step = min(BLOCK, pos)
        pos -= step
        data = os.pread(fd, step, pos) + tail
        if not started:
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                continue  # all of it belongs to the unfinished line
            data, started = data[:cut], True
        stop = len(data)  # data[stop - 1] is a newline
        while (newline := data.rfind(b"\n", 0, stop - 1)) >= 0:
            yield pos + newline + 1, data[newline + 1 : stop - 1]
            stop = newline + 1
        tail = data[:stop]
    if tail:
        yield 0, tail[:-1]
