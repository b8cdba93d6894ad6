"""The record that describes a trash entry (``workspace/.auteur/trash/<entry>.json``), and its reader.

Written by ``controller.trash`` when a project is moved to the trash; read here, by
:func:`read_entries`, for the controller (restore, purge, expiry) and for the API's
trash listing (``api.trash``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, TypeVar

import msgspec

from auteur.layout import TRASH_DIR


class TrashEntry(msgspec.Struct, kw_only=True):
    """A project in the trash: where it came from, and what its spec said."""

    entry: str
    id: str
    name: str
    folder: str
    quality: str = "standard"
    description: str = ""
    spec_file: str = ""
    created_at: str | None = None
    deleted_at: Annotated[float, msgspec.Meta(description="seconds since the epoch")] = 0.0
    actor: Annotated[str | None, msgspec.Meta(
        description="who deleted it; null when unknown (auth off, or the spec was removed by hand)")] = None  # fmt: skip


E = TypeVar("E", bound=TrashEntry)

_decoder = msgspec.json.Decoder(TrashEntry)


def read_entries(state_dir: Path) -> list[TrashEntry]:
    """Every complete trash entry (record and folder both there), newest first.

    A record without its folder (a move that a crash cut short, or a purge under way)
    and a record that cannot be read are left out: nobody can restore them.
    """
    root = state_dir / TRASH_DIR
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        try:
            record = _decoder.decode((root / name).read_bytes())
        except (OSError, msgspec.DecodeError):  # ValidationError is a DecodeError too
            continue
        if (root / record.entry).is_dir():
            found.append(record)
    return sorted(found, key=lambda r: r.deleted_at, reverse=True)


def find_entry(entries: Iterable[E], ref: str) -> E | None:
    """The first entry (newest first, as listed) whose entry name, project id or project name is ``ref``."""
    for record in entries:
        if ref in (record.entry, record.id, record.name):
            return record
    return None
