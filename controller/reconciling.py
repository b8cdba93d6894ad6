"""``Reconciler``: converge one project under its lock, then report what was seen.

Called by the work queue in ``controller.workers`` (in a worker thread), by the trash
requests in ``controller.mailroom`` and by the CLI. Level-triggered: it reads the whole
spec and the whole folder every time, whatever event scheduled it. Acting is
``controller.converging.converge`` (over ``controller.steps``); reporting is
``controller.reporting`` — the Reconciler's ``StatusRecorder`` is the only writer of
status and the journal.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from auteur import logs
from auteur.events import Journal
from auteur.identity import Actor
from auteur.leases import unfenced
from auteur.names import project_id
from auteur.settings import Settings
from auteur.status import Phase, ProjectStatus, StatusStore
from controller import reporting
from controller.converging import DONE, Next, Outcome, converge
from controller.fingerprints import fingerprint
from controller.gitinit import clear_interrupted_locks
from controller.locking import project_lock
from controller.ownership import Owners
from controller.reporting import StatusRecorder
from controller.specindex import SpecIndex
from controller.steps import Attempt
from controller.trash import Trash

__all__ = ["DONE", "Next", "Outcome", "Reconciler", "known_keys"]

log = logging.getLogger("auteur.controller")


def known_keys(workspace: Path, specs: SpecIndex, owners: Owners, statuses: StatusStore) -> set[str]:
    """Every key the controller knows of: specs, owned folders, statuses, workspace folders."""
    keys = set(specs.ids()) | set(owners.ids()) | set(statuses.ids())
    for name in os.listdir(workspace):
        if not name.startswith("."):
            keys.add(project_id(name))
    return keys


class Reconciler:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time, journal: Journal | None = None,
                 cache: bool = True, fence: Callable[[], None] = unfenced) -> None:  # fmt: skip
        self.settings = settings
        self.clock = clock
        # The active controller's lease check (``auteur.leases``), before every write to a
        # project folder and to status; the CLI's reconciler writes without leading.
        self.fence = fence
        settings.specs.mkdir(parents=True, exist_ok=True)
        settings.workspace.mkdir(parents=True, exist_ok=True)
        self.state = settings.state
        self.specs = SpecIndex(settings.specs)
        self.owners = Owners(self.state)
        self.trash = Trash(self.state)
        self.journal = journal if journal is not None else Journal(self.state, clock=clock)
        self.recorder = StatusRecorder(self.state, self.journal, clock=clock, cache=cache)
        self.statuses = self.recorder.statuses

    def status_of(self, key: str) -> ProjectStatus | None:
        return self.recorder.status_of(key)

    def keys(self) -> set[str]:
        return known_keys(self.settings.workspace, self.specs, self.owners, self.statuses)

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

    def reconcile(self, key: str, *, known_oids: Mapping[str, str] | None = None, actor: Actor | None = None) -> Outcome:
        """Converge one project under its lock, and report. ``known_oids`` (project-relative
        path -> LFS oid) names files whose content is already known; ``actor`` is whom the
        reconcile acts for (else whoever ``converge`` finds)."""
        self.fence()
        with logs.bound(project_id=key), project_lock(self.state, key) as interrupted:
            if interrupted:
                self.recover(key)
            return self.reconcile_locked(key, known_oids=known_oids, actor=actor)

    def recover(self, key: str) -> None:
        """The last holder of this project's lock was killed mid-way: its git ``.lock``
        files are orphans (nobody else writes while we hold the lock) and would block
        every later commit. Everything else it left is finished or undone by the steps."""
        owner = self.owners.get(key)
        if owner is not None:
            removed = clear_interrupted_locks(self.settings.workspace / owner.folder / ".git")
            if removed:
                log.warning("%s: removed %s left by an interrupted run", key, ", ".join(removed))

    def attempt(self, key: str, *, known_oids: Mapping[str, str] | None = None, actor: Actor | None = None) -> Attempt:
        """A new convergence attempt of ``key``, on this controller's stores."""
        return Attempt(key=key, settings=self.settings, now=self.clock(), specs=self.specs, owners=self.owners,
                       trash=self.trash, known_oids=dict(known_oids or {}), actor=actor, fence=self.fence)  # fmt: skip

    def reconcile_locked(self, key: str, *, known_oids: Mapping[str, str] | None = None, actor: Actor | None = None) -> Outcome:
        """``reconcile`` for a caller that already holds the project lock."""
        attempt = self.attempt(key, known_oids=known_oids, actor=actor)
        previous = self.status_of(key)

        def show_processing(claimed: Attempt) -> None:
            nonlocal previous
            seed = reporting.processing(claimed, previous, attempt.now)
            if seed is not None:
                self.fence()
                self.recorder.record(previous, seed, claimed.actor_name)
                previous = seed

        observation = converge(attempt, previous, on_claimed=show_processing)
        self.fence()
        return self.recorder.report(observation, previous, attempt.now)
