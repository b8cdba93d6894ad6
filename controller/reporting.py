"""Status from observations, and the one writer of status and the journal.

``status_for`` maps what ``controller.converging.converge`` observed to a project's
status, Flux style: ``Ready`` summarises; ``<Thing>Failed`` is set when that step fails
and removed when it passes; ``observed_generation`` moves only when every step passed.
It is a pure function (table-tested in ``tests/controller/test_reporting.py``).
``StatusRecorder`` writes the result and journals the change; it belongs to the
controller's ``Reconciler``: nothing else writes status or the journal. An event names
the person the attempt acted for (``Attempt.actor``), if anyone.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from auteur.events import Event, Journal
from auteur.specs import spec_stem
from auteur.status import HIDDEN_FIELDS, Condition, MediaFinding, Phase, ProjectStatus, SpecProblem, StatusStore
from controller.converging import Absence, Observation, Outcome
from controller.integrity import describe
from controller.steps import Attempt

# Bookkeeping that changes on every pass without anything a person would see changing.
_SILENT = frozenset({"last_reconcile", *HIDDEN_FIELDS})
# A project coming (back) under management is shown as processing while its folder is worked on.
_SHOWN_PROCESSING = (Phase.PENDING, Phase.UNMANAGED, Phase.DELETING)
MEDIA_CONDITION = "MediaIntegrityFailed"


def set_condition(status: ProjectStatus, kind: str, ok: bool, reason: str, message: str, now: float) -> None:
    for cond in status.conditions:
        if cond.type == kind:
            if cond.status != ok:
                cond.last_transition = now
            cond.status, cond.reason, cond.message = ok, reason, message
            return
    status.conditions.append(Condition(type=kind, status=ok, reason=reason, message=message, last_transition=now))


def clear_condition(status: ProjectStatus, kind: str) -> None:
    status.conditions = [c for c in status.conditions if c.type != kind]


def visible(status: ProjectStatus | None) -> dict[str, object] | None:
    """The status as a reader would compare it: bookkeeping and transition times left out."""
    if status is None:
        return None
    data: dict[str, Any] = msgspec.to_builtins(status)
    for name in _SILENT:
        data.pop(name, None)
    for cond in data.get("conditions", []):
        cond.pop("last_transition", None)
    return data


def _claimed(attempt: Attempt, previous: ProjectStatus | None) -> ProjectStatus:
    """One copy of ``previous`` (never shared with it) with what the claim steps found."""
    key = attempt.key
    status = copy.deepcopy(previous) if previous is not None else ProjectStatus(id=key, name=spec_stem(attempt.spec_file or key))
    status.spec_file, status.missing_since = attempt.spec_file, None
    status.duplicates = [
        SpecProblem(file=f, field="name", message=f"duplicate: '{f}' maps to the same id '{key}' as '{attempt.spec_file}', which wins")
        for f in attempt.duplicates
    ]
    if attempt.spec is not None:
        status.name, status.quality, status.description = attempt.spec.name, attempt.spec.quality.value, attempt.spec.description
        status.generation = attempt.spec.generation()
    if attempt.owner is not None and "Ownership" in attempt.passed:
        status.folder, status.created_at = attempt.owner.folder, attempt.owner.created_at
    for thing in attempt.passed:
        clear_condition(status, f"{thing}Failed")
    return status


def processing(attempt: Attempt, previous: ProjectStatus | None, now: float) -> ProjectStatus | None:
    """The status to show while the folder steps run, for a project coming (back) under
    management (pending, unmanaged, or deleting until its spec returned); else None."""
    if previous is None or previous.status not in _SHOWN_PROCESSING:
        return None
    status = _claimed(attempt, previous)
    status.status = Phase.PROCESSING
    return status


def status_for(observation: Observation, previous: ProjectStatus | None, now: float) -> ProjectStatus | None:
    """The status ``observation`` calls for: None to forget the key, ``previous`` itself when
    nothing needs writing, otherwise a new status (``previous`` is never modified)."""
    attempt = observation.attempt
    if observation.absence is not None:
        return _absent(observation, previous, now)
    status = _claimed(attempt, previous)
    if observation.suspended:
        status.status = Phase.SUSPENDED
        spec_file = attempt.spec_file or f"{attempt.key}.yaml"
        set_condition(status, "Suspended", True, "SuspendedBySpec",
                      f"suspend: true in {spec_file}: no snapshots, no repairs until it is resumed", now)  # fmt: skip
        status.fingerprint = observation.fingerprint
        return status
    clear_condition(status, "Suspended")
    failure = observation.failure
    if failure is not None:
        if failure.thing == "Ownership":
            status.folder = None
        status.status, status.last_error = Phase.FAILED, failure.message
        set_condition(status, f"{failure.thing}Failed", False, failure.reason, failure.message, now)
        set_condition(status, "Ready", False, f"{failure.thing}Failed", failure.message, now)
        status.fingerprint = observation.fingerprint
        return status
    snap = attempt.snapshot
    if snap is None:  # requeued before the snapshot: nothing to show yet beyond the claim
        status.fingerprint = None
        return status
    status.status = Phase.READY
    status.observed_generation = status.generation
    status.current_commit = snap.commit
    status.last_commit_message, status.last_commit_at = snap.last_commit_message, snap.last_commit_at
    status.last_commit_author = snap.last_commit_author
    status.lfs_files = snap.lfs_files
    status.asset_count = sum(1 for p in attempt.sizes if not p.endswith("/.gitkeep"))
    status.pending_files = list(snap.pending)
    status.is_dirty = bool(snap.pending)
    status.stray_files = attempt.strays
    status.last_error = None
    duplicates = len(attempt.duplicates)
    message = "converged" if not duplicates else f"converged; {duplicates} duplicate spec file(s) ignored"
    set_condition(status, "Ready", True, "Converged", message, now)
    status.fingerprint = observation.fingerprint
    return status


def with_media_findings(previous: ProjectStatus, findings: list[MediaFinding], checked: str | None, now: float) -> ProjectStatus:
    """``previous`` after a media integrity check (``controller.scrubbing``): the findings, and a
    ``MediaIntegrityFailed`` condition naming each file and its problem, or neither when clean.
    ``Ready`` is left as it is: the folder converged. ``checked`` is the clean check's memo. A
    new status, or ``previous`` itself when nothing changed."""
    status = copy.deepcopy(previous)
    status.media_findings, status.integrity_checked = list(findings), checked
    if findings:
        listed = "; ".join(describe(f) for f in findings)
        set_condition(status, MEDIA_CONDITION, False, "MediaIntegrity", f"{len(findings)} file(s): {listed}", now)
    else:
        clear_condition(status, MEDIA_CONDITION)
    return previous if status == previous else status


def _absent(observation: Observation, previous: ProjectStatus | None, now: float) -> ProjectStatus | None:
    key, folder = observation.attempt.key, observation.folder or observation.attempt.key
    if observation.absence is Absence.WAITING:
        if previous is not None and previous.status is Phase.DELETING and previous.missing_since is not None:
            return previous
        base = previous or ProjectStatus(id=key, name=folder, folder=folder)
        return msgspec.structs.replace(copy.deepcopy(base), status=Phase.DELETING, missing_since=observation.missing_since,
                                       fingerprint=None)  # fmt: skip
    if observation.absence is Absence.UNMANAGED:
        status = ProjectStatus(id=key, name=folder, folder=folder, status=Phase.UNMANAGED)
        set_condition(status, "Ready", False, "Unmanaged", f"folder '{folder}' has no spec; it is left untouched", now)
        status.fingerprint = observation.fingerprint
        if previous is not None and visible(previous) == visible(status):
            status.conditions = copy.deepcopy(previous.conditions)  # unchanged: keep the transition times
        return status
    return None  # trashed, or nothing was there


class StatusRecorder:
    """Writes status files and journals what a reader would see change. The controller's
    only writer of both (``Reconciler`` holds the one instance of a process)."""

    def __init__(self, state: Path, journal: Journal, *, clock: Callable[[], float] = time.time, cache: bool = True) -> None:
        self.statuses = StatusStore(state)
        self.journal, self.clock = journal, clock
        self._cache: dict[str, ProjectStatus] = {}
        self._use_cache = cache

    def status_of(self, key: str) -> ProjectStatus | None:
        cached = self._cache.get(key)
        if cached is None:
            cached = self.statuses.read(key)
            if cached is not None and self._use_cache:
                self._cache[key] = cached
        return cached

    def forget_cached(self) -> None:
        """Read every status from the volume again (after another process changed them)."""
        self._cache.clear()

    def report(self, observation: Observation, previous: ProjectStatus | None, now: float) -> Outcome:
        """Record the status ``observation`` calls for; what the queue does next."""
        status = status_for(observation, previous, now)
        actor = observation.attempt.actor_name
        if status is None:
            self.forget(observation.attempt.key, previous, actor)
        elif status is not previous:
            self.record(previous, status, actor)
        return observation.outcome

    def record(self, previous: ProjectStatus | None, status: ProjectStatus, actor: str | None = None) -> None:
        status.last_reconcile = self.clock()
        self.statuses.write(status)
        if self._use_cache:
            self._cache[status.id] = status
        if visible(previous) != visible(status):
            if previous is None or (previous.status is Phase.UNMANAGED) != (status.status is Phase.UNMANAGED):
                kind = "project.created"
            else:
                kind = "project.updated"
            self.journal.append(kind, status.public(), actor=actor)

    def forget(self, key: str, previous: ProjectStatus | None, actor: str | None = None) -> None:
        self.statuses.delete(key)
        self._cache.pop(key, None)
        if previous is not None:
            self.journal.append("project.deleted", previous.public(), actor=actor)

    def announce(self, kind: str, project_id: str, data: dict[str, Any], actor: str | None = None) -> Event:
        """Journal what a worker did (an upload's progress, a poster frame) on ``actor``'s behalf:
        it told the controller (``auteur.mailbox``), which keeps the one ordered record of events."""
        return self.journal.append(kind, {"id": project_id}, data, actor=actor)
