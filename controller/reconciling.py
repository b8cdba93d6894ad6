"""``reconcile(key)``: make one project folder match its spec, and record status.

Called by the work queue in ``controller.running`` (in a worker thread) and by the
CLI. Level-triggered: it reads the whole spec and the whole folder every time,
whatever event scheduled it. A short shell: find the spec, handle deletion and
foreign folders, then run ``controller.steps.STEPS`` in order.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import msgspec

from auteur.events import Journal
from auteur.layout import MANIFEST
from auteur.names import project_id
from auteur.settings import Settings
from auteur.specs import Spec, SpecError, read_spec, spec_stem
from auteur.status import Condition, Phase, ProjectStatus, SpecProblem, StatusStore
from controller import steps
from controller.fingerprints import fingerprint
from controller.gitinit import clear_interrupted_locks
from controller.locking import project_lock
from controller.ownership import Owner, Owners
from controller.specindex import SpecIndex
from controller.trash import Trash, TrashEntry

log = logging.getLogger("auteur.controller")


@dataclass(frozen=True)
class Outcome:
    """What the queue should do next with a key."""

    kind: str  # "done" | "requeue" | "stalled"
    after: float | None = None
    error: str | None = None


DONE = Outcome("done")


class EventSink(Protocol):
    """Where status changes go: the journal, or a collector in a pool process."""

    def append(self, kind: str, project: dict[str, Any], data: dict[str, Any] | None = None) -> Any: ...


class PermanentError(Exception):
    """Nothing will change until the spec (or the folder) does: do not retry."""


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _set_condition(status: ProjectStatus, kind: str, ok: bool, reason: str, message: str, now: float) -> None:
    for cond in status.conditions:
        if cond.type == kind:
            if cond.status != ok:
                cond.last_transition = now
            cond.status, cond.reason, cond.message = ok, reason, message
            return
    status.conditions.append(Condition(type=kind, status=ok, reason=reason, message=message, last_transition=now))


def _clear_condition(status: ProjectStatus, kind: str) -> None:
    status.conditions = [c for c in status.conditions if c.type != kind]


_SILENT = frozenset({"last_reconcile", "fingerprint", "missing_since"})


def _visible(status: ProjectStatus | None) -> dict[str, object] | None:
    if status is None:
        return None
    data: dict[str, Any] = msgspec.to_builtins(status)
    for name in _SILENT:
        data.pop(name, None)
    for cond in data.get("conditions", []):
        cond.pop("last_transition", None)
    return data


class Reconciler:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time, journal: EventSink | None = None,
                 cache: bool = True) -> None:  # fmt: skip
        self.settings = settings
        self.clock = clock
        settings.specs.mkdir(parents=True, exist_ok=True)
        settings.workspace.mkdir(parents=True, exist_ok=True)
        self.state = settings.state
        self.specs = SpecIndex(settings.specs)
        self.statuses = StatusStore(self.state)
        self.owners = Owners(self.state)
        self.trash = Trash(self.state)
        self.journal: EventSink = journal if journal is not None else Journal(self.state, clock=clock)
        self._cache: dict[str, ProjectStatus] = {}
        self._use_cache = cache

    # -- status -------------------------------------------------------------

    def status_of(self, key: str) -> ProjectStatus | None:
        cached = self._cache.get(key)
        if cached is None:
            cached = self.statuses.read(key)
            if cached is not None and self._use_cache:
                self._cache[key] = cached
        return cached

    def _record(self, previous: ProjectStatus | None, status: ProjectStatus) -> None:
        status.last_reconcile = self.clock()
        self.statuses.write(status)
        if self._use_cache:
            self._cache[status.id] = status
        before, after = _visible(previous), _visible(status)
        if before != after:
            if previous is None or (previous.status is Phase.UNMANAGED) != (status.status is Phase.UNMANAGED):
                kind = "project.created"
            else:
                kind = "project.updated"
            self.journal.append(kind, status.public())

    def _forget(self, key: str, previous: ProjectStatus | None) -> None:
        self.statuses.delete(key)
        self._cache.pop(key, None)
        if previous is not None:
            self.journal.append("project.deleted", previous.public())

    # -- the shell ----------------------------------------------------------

    def keys(self) -> set[str]:
        """Every key the controller knows of: specs, owned folders, statuses, workspace folders."""
        keys = set(self.specs.ids()) | set(self.owners.ids()) | set(self.statuses.ids())
        for name in os.listdir(self.settings.workspace):
            if not name.startswith("."):
                keys.add(project_id(name))
        return keys

    def current_fingerprint(self, key: str) -> str:
        owner = self.owners.get(key)
        spec_paths = [self.settings.specs / f for f in self.specs.files_for(key)]
        folder = self.settings.workspace / owner.folder if owner else None
        return fingerprint(spec_paths, folder)

    def needs_reconcile(self, key: str) -> bool:
        status = self.status_of(key)
        if status is None or status.fingerprint is None or status.status not in (Phase.READY, Phase.FAILED, Phase.UNMANAGED):
            return True
        return self.current_fingerprint(key) != status.fingerprint

    def reconcile(self, key: str, *, known_oids: Mapping[str, str] | None = None) -> Outcome:
        """Converge one project under its lock. ``known_oids`` (project-relative path ->
        LFS oid) names files whose content is already known: an ingested upload."""
        with project_lock(self.state, key) as interrupted:
            if interrupted:
                self.recover(key)
            return self.reconcile_locked(key, known_oids=known_oids)

    def recover(self, key: str) -> None:
        """The last holder of this project's lock was killed mid-way: its git ``.lock``
        files are orphans (nobody else writes while we hold the lock) and would block
        every later commit. Everything else it left is finished or undone by the steps."""
        owner = self.owners.get(key)
        if owner is not None:
            removed = clear_interrupted_locks(self.settings.workspace / owner.folder / ".git")
            if removed:
                log.warning("%s: removed %s left by an interrupted run", key, ", ".join(removed))

    def reconcile_locked(self, key: str, *, known_oids: Mapping[str, str] | None = None) -> Outcome:
        """``reconcile`` for a caller that already holds the project lock (the ingest job,
        which moves a file in and commits it in one critical section)."""
        now = self.clock()
        previous = self.status_of(key)
        files = self.specs.files_for(key)
        if not files:
            return self._handle_missing(key, previous, now)
        owner = self.owners.get(key)
        winner, losers = self._pick(files, owner)
        duplicates = [
            SpecProblem(file=f, field="name", message=f"duplicate: '{f}' maps to the same id '{key}' as '{winner}', which wins")
            for f in losers
        ]
        # The spec files as they were when read: one replaced later (a PATCH racing this run) must not be
        # recorded as converged, or the run it queues would find the fingerprint current and skip.
        spec_paths = [self.settings.specs / f for f in files]
        read_as = fingerprint(spec_paths, None)
        try:
            spec: Spec | None = read_spec(self.settings.specs / winner)
            problem: SpecError | None = None
        except SpecError as exc:
            spec, problem = None, exc
        status = msgspec.structs.replace(previous) if previous else ProjectStatus(id=key, name=spec_stem(winner))
        status.conditions = [msgspec.structs.replace(c) for c in status.conditions]
        status.spec_file, status.duplicates, status.missing_since = winner, duplicates, None
        if spec is None:
            assert problem is not None
            return self._fail(previous, status, "SpecFailed", "InvalidSpec", str(problem), now, permanent=True, key=key,
                              read_as=read_as)  # fmt: skip
        _clear_condition(status, "SpecFailed")
        status.name, status.quality, status.description = spec.name, spec.quality.value, spec.description
        status.generation = spec.generation()
        folder = self.settings.workspace / spec.name
        try:
            owner = self._claim(key, spec, winner, folder, owner, now)
        except PermanentError as exc:
            status.folder = None
            return self._fail(previous, status, "OwnershipFailed", "ForeignFolder", str(exc), now, permanent=True, key=key,
                              read_as=read_as)  # fmt: skip
        _clear_condition(status, "OwnershipFailed")
        status.folder, status.created_at = owner.folder, owner.created_at
        # A new project is shown as processing by readers until its first status lands.
        if previous is not None and previous.status in (Phase.PENDING, Phase.UNMANAGED, Phase.DELETING):
            status.status = Phase.PROCESSING
            self._record(previous, status)
            previous = msgspec.structs.replace(status, conditions=list(status.conditions))
        project = steps.Project(id=key, spec=spec, root=folder, created_at=owner.created_at, settings=self.settings, now=now,
                                known_oids=dict(known_oids or {}))  # fmt: skip
        outcome = DONE
        for thing, step in steps.STEPS:
            try:
                result = step(project)
            except Exception as exc:  # any unexpected error is temporary: retry with backoff
                log.warning("%s: %s step failed: %s", key, thing, exc, exc_info=log.isEnabledFor(logging.DEBUG))
                return self._fail(previous, status, f"{thing}Failed", "StepError", f"{type(exc).__name__}: {exc}", now, key=key)
            _clear_condition(status, f"{thing}Failed")
            if result is steps.Result.REQUEUE:
                outcome = Outcome("requeue", after=project.retry_after or self.settings.settle_seconds)
        snap = project.snapshot
        assert snap is not None
        status.status = Phase.READY
        status.observed_generation = status.generation
        status.current_commit = snap.commit
        status.last_commit_message, status.last_commit_at = snap.last_commit_message, snap.last_commit_at
        status.lfs_files = snap.lfs_files
        status.asset_count = sum(1 for p in project.sizes if not p.endswith("/.gitkeep"))
        status.pending_files = list(snap.pending)
        status.is_dirty = bool(snap.pending)
        status.stray_files = project.strays
        status.last_error = None
        message = "converged" if not duplicates else f"converged; {len(duplicates)} duplicate spec file(s) ignored"
        _set_condition(status, "Ready", True, "Converged", message, now)
        current = outcome is DONE and fingerprint(spec_paths, None) == read_as
        status.fingerprint = fingerprint(spec_paths, folder) if current else None
        self._record(previous, status)
        return outcome

    def _pick(self, files: list[str], owner: Owner | None) -> tuple[str, list[str]]:
        if len(files) == 1:
            return files[0], []
        if owner is not None and owner.spec_file in files:
            winner = owner.spec_file
        else:

            def age(name: str) -> tuple[int, str]:
                try:
                    return os.stat(self.settings.specs / name).st_mtime_ns, name
                except FileNotFoundError:
                    return 1 << 62, name

            winner = min(files, key=age)
        return winner, [f for f in files if f != winner]

    def _claim(self, key: str, spec: Spec, spec_file: str, folder: Path, owner: Owner | None, now: float) -> Owner:
        """Make sure the controller owns ``folder``: create, follow a rename, or adopt."""
        if owner is not None:
            if owner.folder != spec.name:
                old = self.settings.workspace / owner.folder
                if old.is_dir() and not folder.exists():
                    os.rename(old, folder)
            if owner.folder != spec.name or owner.spec_file != spec_file:
                owner = Owner(id=key, folder=spec.name, spec_file=spec_file, created_at=owner.created_at)
                self.owners.put(owner)
            return owner
        created_at = _iso(now)
        if folder.exists() or folder.is_symlink():
            if folder.is_symlink() or not folder.is_dir():
                raise PermanentError(f"'{spec.name}' exists in the workspace and is not a project folder; it is left untouched")
            found = self._foreign_id(folder)
            if found != key:
                why = "has no project.json" if found is None else f"belongs to project id {found!r}"
                raise PermanentError(
                    f"folder '{spec.name}' already exists and is not managed by Auteur ({why}); "
                    "it is left untouched: move it away or rename the spec"
                )
            try:
                manifest = msgspec.json.decode((folder / MANIFEST).read_bytes())
                created_at = str(manifest.get("created_at") or created_at)
            except (OSError, msgspec.DecodeError, AttributeError):
                pass
            log.info("%s: adopting existing folder '%s'", key, spec.name)
        owner = Owner(id=key, folder=spec.name, spec_file=spec_file, created_at=created_at)
        self.owners.put(owner)
        return owner

    @staticmethod
    def _foreign_id(folder: Path) -> str | None:
        try:
            manifest = msgspec.json.decode((folder / MANIFEST).read_bytes())
        except (OSError, msgspec.DecodeError):
            return None
        found = manifest.get("id") if isinstance(manifest, dict) else None
        return found if isinstance(found, str) else None

    def _fail(self, previous: ProjectStatus | None, status: ProjectStatus, kind: str, reason: str, message: str,
              now: float, *, key: str, permanent: bool = False, read_as: str | None = None) -> Outcome:  # fmt: skip
        status.status = Phase.FAILED
        status.last_error = message
        _set_condition(status, kind, False, reason, message, now)
        _set_condition(status, "Ready", False, kind, message, now)
        files = self.specs.files_for(key)
        owner = self.owners.get(key)
        folder = self.settings.workspace / owner.folder if owner else None
        spec_paths = [self.settings.specs / f for f in files]
        current = permanent and (read_as is None or fingerprint(spec_paths, None) == read_as)
        status.fingerprint = fingerprint(spec_paths, folder) if current else None
        self._record(previous, status)
        return Outcome("stalled" if permanent else "retry", error=message)

    def _handle_missing(self, key: str, previous: ProjectStatus | None, now: float) -> Outcome:
        """No spec for ``key``: after the grace period, send an owned folder to the trash;
        report a foreign folder as unmanaged; otherwise forget the key."""
        owner = self.owners.get(key)
        if owner is not None:
            folder = self.settings.workspace / owner.folder
            if folder.is_dir() and not folder.is_symlink():
                status = previous or ProjectStatus(id=key, name=owner.folder, folder=owner.folder)
                if status.missing_since is None or status.status is not Phase.DELETING:
                    status = msgspec.structs.replace(status, status=Phase.DELETING, missing_since=now, fingerprint=None)
                    self._record(previous, status)
                waited = now - (status.missing_since or now)
                if waited < self.settings.grace_seconds:
                    return Outcome("requeue", after=self.settings.grace_seconds - waited)
                entry = f"{key}.{int(now * 1000)}"
                self.trash.move_in(folder, TrashEntry(
                    entry=entry, id=key, name=status.name, folder=owner.folder,
                    quality=status.quality or "standard", description=status.description,
                    spec_file=status.spec_file or f"{owner.folder}.yaml", created_at=owner.created_at, deleted_at=now,
                ))  # fmt: skip
                log.info("%s: spec removed; folder moved to trash as %s", key, entry)
            self.owners.drop(key)
            self._forget(key, previous)
            return DONE
        for name in os.listdir(self.settings.workspace):
            if not name.startswith(".") and project_id(name) == key and (self.settings.workspace / name).is_dir():
                status = ProjectStatus(id=key, name=name, folder=name, status=Phase.UNMANAGED)
                status.stray_files = []
                _set_condition(status, "Ready", False, "Unmanaged", f"folder '{name}' has no spec; it is left untouched", now)
                status.fingerprint = fingerprint([], None)
                if previous is not None:
                    status.conditions = previous.conditions if _visible(previous) == _visible(status) else status.conditions
                self._record(previous, status)
                return DONE
        if previous is not None:
            self._forget(key, previous)
        return DONE
