"""inotify watches that turn file events into project keys.

Called by ``controller.running``. One inotify instance (watchdog's ``InotifyFD``)
holds a watch on ``specs/``, the workspace root, and each project's ``assets/``
and ``outputs/`` trees, never ``.git``: ten watches a project, so 10,000 projects
fit in the default limits. Events only name a key; the reconciler looks at the
whole project. When the kernel refuses a watch the resync covers that project.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import cast

from watchdog.observers.inotify_c import CallbackId, InotifyEvent, InotifyFD, Mask, WatchDescriptor
from watchdog.observers.inotify_c import InotifyConstants as C

from auteur.layout import TRACKED_ROOTS
from auteur.names import project_id
from auteur.specs import is_spec_file, spec_stem

log = logging.getLogger("auteur.watching")

_DIR_MASK = C.IN_CREATE | C.IN_DELETE | C.IN_MOVED_FROM | C.IN_MOVED_TO | C.IN_CLOSE_WRITE | C.IN_ATTRIB | C.IN_DELETE_SELF | C.IN_ONLYDIR


class _Callback:
    def __init__(self, watcher: Watcher, path: bytes, key: str | None, kind: str) -> None:
        self.watcher, self.path, self.key, self.kind = watcher, path, key, kind

    def on_event(self, event: InotifyEvent) -> None:
        self.watcher._on_event(self, event)

    def on_watch_deleted(self, wd: int) -> None:
        self.watcher._forget(self.path)

    def on_queue_overflow(self) -> None:
        self.watcher.overflowed = True
        self.watcher.on_overflow()


class Watcher:
    """Maps events to keys and hands them to ``on_key`` (called from the watch thread)."""

    def __init__(self, specs: Path, workspace: Path, on_key: Callable[[str], None], on_overflow: Callable[[], None] = lambda: None) -> None:
        self.specs, self.workspace = specs, workspace
        self.on_key, self.on_overflow = on_key, on_overflow
        self.is_busy: Callable[[str], bool] = lambda key: False
        self._fd = InotifyFD()
        self._lock = threading.Lock()
        self._watched: dict[bytes, tuple[int, str | None]] = {}
        self.exhausted = 0
        self.overflowed = False

    @property
    def count(self) -> int:
        return len(self._watched)

    def start(self) -> None:
        self._fd.start()
        self._add(os.fsencode(self.specs), None, "specs")
        self._add(os.fsencode(self.workspace), None, "root")

    def stop(self) -> None:
        self._fd.stop()

    def _add(self, path: bytes, key: str | None, kind: str) -> bool:
        with self._lock:
            if path in self._watched:
                return True
        try:
            wd = self._fd.add_callback(path, Mask(_DIR_MASK), _Callback(self, path, key, kind), cast(CallbackId, path))
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                if not self.exhausted:
                    log.warning("inotify watch limit reached; the periodic resync covers the rest")
                self.exhausted += 1
            elif exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                log.warning("cannot watch %r: %s", path, exc)
            return False
        with self._lock:
            self._watched[path] = (wd, key)
        return True

    def _forget(self, path: bytes) -> None:
        with self._lock:
            self._watched.pop(path, None)

    def watch_requests(self, folder: Path, key: str) -> None:
        """Requests for the controller (restore, purge) land in ``folder``."""
        self._add(os.fsencode(folder), key, "requests")

    def watch_project(self, key: str, folder: Path) -> None:
        """Watch a project's ``assets/`` and ``outputs/`` trees (idempotent)."""
        base = os.fsencode(folder)
        for top in TRACKED_ROOTS:
            path = base + b"/" + top.encode()
            with self._lock:
                known = path in self._watched
            if not known:  # folders made later are picked up from their IN_CREATE events
                self._watch_tree(path, key)

    def _watch_tree(self, top: bytes, key: str) -> None:
        if not self._add(top, key, "project"):
            return
        try:
            entries = list(os.scandir(top))
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                self._watch_tree(entry.path, key)

    def unwatch_project(self, folder: Path) -> None:
        prefix = os.fsencode(folder) + b"/"
        with self._lock:
            doomed = [(wd, path) for path, (wd, _) in self._watched.items() if path.startswith(prefix)]
            for _, path in doomed:
                del self._watched[path]
        if doomed:
            self._fd.remove_callbacks([(WatchDescriptor(wd), cast(CallbackId, path)) for wd, path in doomed])

    def _on_event(self, callback: _Callback, event: InotifyEvent) -> None:
        name = os.fsdecode(event.name)
        if callback.kind == "specs":
            if is_spec_file(name):
                self.on_key(project_id(spec_stem(name)))
            return
        if callback.kind == "root":
            if name and not name.startswith("."):
                key = project_id(name)
                if not self.is_busy(key):  # the reconciler making or moving the folder
                    self.on_key(key)
            return
        assert callback.key is not None
        if callback.kind == "requests":
            if name.endswith(".request.json") and not name.startswith("."):
                self.on_key(callback.key)
            return
        if (event.is_create and event.is_directory) or (event.is_moved_to and event.is_directory):
            self._watch_tree(callback.path + b"/" + event.name, callback.key)
        if event.is_delete_self:
            self._forget(callback.path)
        self.on_key(callback.key)
