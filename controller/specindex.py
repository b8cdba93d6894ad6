"""An index of ``specs/``: which spec files map to which project id.

Called by ``controller.reconciling`` on every reconcile. The directory is listed
again only when its mtime changed (every create, delete or rename changes it), and
then only the names that came or went are looked at, so a reconcile among 10,000
specs costs one ``listdir``; contents are always read fresh.
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
        self._names: set[str] = set()
        self._by_id: dict[str, set[str]] = {}

    def refresh(self, force: bool = False) -> None:
        with self._lock:
            try:
                mtime = os.stat(self.root).st_mtime_ns
                if not force and mtime == self._mtime:
                    return
                names = {n for n in os.listdir(self.root) if is_spec_file(n)}
            except FileNotFoundError:
                self._names, self._by_id, self._mtime = set(), {}, None
                return
            for name in self._names - names:
                key = project_id(spec_stem(name))
                files = self._by_id.get(key)
                if files is not None:
                    files.discard(name)
                    if not files:
                        del self._by_id[key]
            for name in names - self._names:
                self._by_id.setdefault(project_id(spec_stem(name)), set()).add(name)
            self._names, self._mtime = names, mtime

    def files_for(self, key: str) -> list[str]:
        self.refresh()
        return sorted(self._by_id.get(key, ()))

    def ids(self) -> list[str]:
        self.refresh()
        return list(self._by_id)
