"""The trash: deleted projects wait here, restorable, until purged.

Called by ``controller.converging`` (moving a project whose spec is gone),
``controller.resyncing`` (expiring old entries), ``controller.mailroom`` and the CLI (restore, purge).
An entry is ``workspace/.auteur/trash/<entry>/`` (the project folder, moved by an
atomic rename on the same volume) plus ``<entry>.json`` describing it, written
before the move so a crash never leaves an entry nobody can explain.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import msgspec

from auteur.atomic import write_atomic
from auteur.layout import TRASH_DIR
from auteur.trash import TrashEntry, find_entry, read_entries

__all__ = ["Trash", "TrashEntry", "TrashError"]


class TrashError(Exception):
    """A trash operation that cannot be done; the message says why."""


class Trash:
    def __init__(self, state_dir: Path, *, create: bool = True) -> None:
        """``create=False``: only read (a dry run), even where the folder does not exist yet."""
        self.state_dir = state_dir
        self.root = state_dir / TRASH_DIR
        if create:
            self.root.mkdir(parents=True, exist_ok=True)

    def move_in(self, folder: Path, record: TrashEntry) -> TrashEntry:
        """Move ``folder`` into the trash under ``record.entry``."""
        write_atomic(self.root / f"{record.entry}.json", msgspec.json.encode(record))
        os.rename(folder, self.root / record.entry)
        return record

    def entries(self) -> list[TrashEntry]:
        return read_entries(self.state_dir)

    def find(self, ref: str) -> TrashEntry:
        """An entry by its entry name, project id or project name (newest first)."""
        record = find_entry(self.entries(), ref)
        if record is None:
            raise TrashError(f"nothing in the trash matches {ref!r}")
        return record

    def path(self, record: TrashEntry) -> Path:
        return self.root / record.entry

    def forget(self, record: TrashEntry) -> None:
        (self.root / f"{record.entry}.json").unlink(missing_ok=True)

    def purge(self, record: TrashEntry) -> None:
        """Delete an entry for good. It is first renamed out of sight, so a crash
        half-way through the delete never leaves a half-entry listed."""
        doomed = self.root / f".purging-{record.entry}"
        try:
            os.rename(self.root / record.entry, doomed)
        except FileNotFoundError:
            pass
        self.forget(record)
        shutil.rmtree(doomed, ignore_errors=True)

    def expire(self, retention_seconds: float, now: float | None = None) -> list[TrashEntry]:
        """Purge entries older than the retention period; finish interrupted purges."""
        now = time.time() if now is None else now
        purged = [r for r in self.entries() if now - r.deleted_at > retention_seconds]
        for record in purged:
            self.purge(record)
        for name in os.listdir(self.root):
            if name.startswith(".purging-"):
                shutil.rmtree(self.root / name, ignore_errors=True)
        return purged
