"""Ownership records: which workspace folders the controller created or adopted.

Called by ``controller.reconciling`` and ``controller.trash``. The controller
moves or deletes only folders recorded here; everything else is foreign and
reported as ``unmanaged``.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from auteur.atomic import write_atomic
from auteur.layout import OWNERS_DIR


class Owner(msgspec.Struct, kw_only=True):
    id: str
    folder: str
    spec_file: str
    created_at: str


_decoder = msgspec.json.Decoder(Owner)


def read_owners(state_dir: Path) -> list[Owner]:
    """Every ownership record, read without creating anything (for read-only commands)."""
    try:
        names = sorted(os.listdir(state_dir / OWNERS_DIR))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if name.endswith(".json") and not name.startswith("."):
            try:
                found.append(_decoder.decode((state_dir / OWNERS_DIR / name).read_bytes()))
            except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
                continue
    return found


class Owners:
    def __init__(self, state_dir: Path, *, create: bool = True) -> None:
        """``create=False``: only read (a dry run), even where the folder does not exist yet."""
        self.root = state_dir / OWNERS_DIR
        if create:
            self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, project_id: str) -> Path:
        return self.root / f"{project_id}.json"

    def get(self, project_id: str) -> Owner | None:
        try:
            return _decoder.decode(self._path(project_id).read_bytes())
        except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    def put(self, owner: Owner) -> None:
        write_atomic(self._path(owner.id), msgspec.json.encode(owner))

    def drop(self, project_id: str) -> None:
        try:
            os.unlink(self._path(project_id))
        except FileNotFoundError:
            pass

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:  # never created: read-only, on a fresh workspace
            return []
        return [n[:-5] for n in names if n.endswith(".json") and not n.startswith(".")]
