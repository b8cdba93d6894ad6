"""An index of ``specs/``: which spec files map to which project id.

Called by ``controller.reconciling`` on every reconcile. The directory is rescanned
only when its mtime changed (every create, delete or rename changes it), so a
reconcile does not list 10,000 files; contents are always read fresh.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from auteur.names import project_id
from auteur.specs import is_spec_file, spec_stem


class SpecIndex:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._mtime: int | None = None
        self._by_id: dict[str, list[str]] = {}

    def refresh(self, force: bool = False) -> None:
        with self._lock:
            try:
                mtime = os.stat(self.root).st_mtime_ns
            except FileNotFoundError:
                self._by_id, self._mtime = {}, None
                return
            if not force and mtime == self._mtime:
                return
            by_id: dict[str, list[str]] = {}
            for entry in os.scandir(self.root):
                if is_spec_file(entry.name) and entry.is_file(follow_symlinks=False):
                    by_id.setdefault(project_id(spec_stem(entry.name)), []).append(entry.name)
            self._by_id, self._mtime = by_id, mtime

    def files_for(self, key: str) -> list[str]:
        self.refresh()
        return sorted(self._by_id.get(key, ()))

    def ids(self) -> list[str]:
        self.refresh()
        return list(self._by_id)
