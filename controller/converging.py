"""``converge(attempt)``: act on one project until its folder matches its spec, and say what was seen.

Called by ``controller.reconciling`` (the controller, which then reports) and by the
ingest job in ``worker.ingesting`` (under the project lock; it then tells the
controller, which looks again and reports). A short shell, like Flux's: no spec file
left means the removal path; otherwise the steps of ``controller.steps`` run in order
and the shell stops at the first requeue or error. It writes no status and journals
nothing: ``controller.reporting`` turns the ``Observation`` into status. Who the
attempt acts for, unless its caller says, comes from the API's attribution record
(``auteur.attribution``) for the spec generation it converges or the removal it carries out.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from auteur import attribution
from auteur.attribution import Action, Attribution
from auteur.identity import Actor
from auteur.leases import LeaseLost
from auteur.names import project_id
from auteur.status import Phase, ProjectStatus
from controller.changes import Change, nothing
from controller.fingerprints import digest, fingerprint, spec_lines
from controller.ownership import Owner
from controller.steps import CLAIM_STEPS, FOLDER_STEPS, Attempt, Result, Stalled, Step, carry_out
from controller.trash import TrashEntry

log = logging.getLogger("auteur.controller")


class Next(str, enum.Enum):
    """What the work queue does next with a key."""

    DONE = "done"  # converged (or gone): nothing until something changes
    REQUEUE = "requeue"  # look again after ``after`` seconds (files settling, a grace period)
    RETRY = "retry"  # a temporary failure: again, with capped backoff
    STALLED = "stalled"  # a permanent failure: nothing until the spec or the folder changes
    SKIPPED = "skipped"  # not attempted: nothing changed since the last pass (same fingerprint)


@dataclass(frozen=True)
class Outcome:
    kind: Next
    after: float | None = None
    error: str | None = None


DONE = Outcome(Next.DONE)


@dataclass(frozen=True)
class Failure:
    """The step that failed (``thing``, as in ``<Thing>Failed``), why, and whether retrying can help."""

    thing: str
    reason: str
    message: str
    permanent: bool


class Absence(str, enum.Enum):
    """What the removal path found, with no spec file left for the key."""

    WAITING = "waiting"  # an owned folder, kept through the grace period
    TRASHED = "trashed"  # the owned folder went to the trash (or was gone): forget the key
    UNMANAGED = "unmanaged"  # a folder with the key's name that is not ours: left untouched
    NOTHING = "nothing"  # no folder either: forget the key


@dataclass
class Observation:
    """What one ``converge`` saw and did; ``controller.reporting`` maps it to status."""

    attempt: Attempt
    failure: Failure | None = None
    requeue_after: float | None = None
    absence: Absence | None = None
    folder: str | None = None  # the folder the removal path looked at
    missing_since: float | None = None  # when the spec was first seen gone (WAITING)
    suspended: bool = False  # ``suspend: true``: the folder steps did not run
    # Of the spec files and the folder, when nothing is left to do: a later pass with the
    # same fingerprint may skip the work. None after a requeue or a temporary failure.
    fingerprint: str | None = None

    @property
    def passed(self) -> list[str]:
        return self.attempt.passed

    @property
    def outcome(self) -> Outcome:
        if self.failure is not None:
            return Outcome(Next.STALLED if self.failure.permanent else Next.RETRY, error=self.failure.message)
        if self.requeue_after is not None:
            return Outcome(Next.REQUEUE, after=self.requeue_after)
        return DONE


def converge(attempt: Attempt, previous: ProjectStatus | None, *,
             on_claimed: Callable[[Attempt], None] | None = None) -> Observation:  # fmt: skip
    """Converge ``attempt.key`` (the caller holds its lock). ``previous`` is the last status
    the controller reported, read only: the removal path takes the grace period's start and
    the trash entry's details from it. ``on_claimed`` is called once the spec is read and the
    folder claimed, before the folder steps (the controller shows the project as processing)."""
    attempt.spec_files = attempt.specs.files_for(attempt.key)
    attempt.owner = attempt.owners.get(attempt.key)
    if not attempt.spec_files:
        return _remove(attempt, previous)
    stopped = _run(attempt, CLAIM_STEPS)
    if stopped is not None:
        return stopped
    if attempt.wanted.suspend:  # paused: the folder is left exactly as it is until resumed
        return Observation(attempt, suspended=True, fingerprint=_fingerprint(attempt))
    if attempt.actor is None:
        attempt.actor = _requested_by(attempt, previous)
    if on_claimed is not None:
        on_claimed(attempt)
    stopped = _run(attempt, FOLDER_STEPS)
    if stopped is not None:
        return stopped
    return Observation(attempt, fingerprint=_fingerprint(attempt))


def _requested_by(attempt: Attempt, previous: ProjectStatus | None) -> Actor | None:
    """Who asked for the spec being converged: the attribution record's person, if it was
    written for this very generation and that generation has not converged yet (once it has,
    a snapshot is of files people dropped in, nobody known)."""
    generation = attempt.wanted.generation()
    if previous is not None and previous.observed_generation == generation:
        return None
    record = attribution.read(attempt.settings.state, attempt.key)
    if record is None or record.action is Action.DELETE or record.generation != generation:
        return None
    return record.actor


def _deleted_by(record: Attribution | None, previous: ProjectStatus | None) -> Actor | None:
    """Who removed the spec: the person of the API's delete record, if it removed the spec last seen."""
    if record is None or record.action is not Action.DELETE:
        return None
    if previous is not None and record.generation is not None and record.generation != previous.generation:
        return None
    return record.actor


def _run(attempt: Attempt, steps: tuple[tuple[str, Step], ...]) -> Observation | None:
    """Run ``steps`` in order; the observation to stop with, or None when all of them passed."""
    for thing, step in steps:
        attempt.fence()
        try:
            result = step(attempt)
        except LeaseLost:
            raise
        except Stalled as exc:
            failure = Failure(thing, exc.reason, str(exc), permanent=True)
            return Observation(attempt, failure=failure, fingerprint=_fingerprint(attempt))
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                log.warning("%s: %s step failed: %s", attempt.key, thing, exc, exc_info=log.isEnabledFor(logging.DEBUG))
                return Observation(attempt, failure=Failure(thing, "StepError", f"{type(exc).__name__}: {exc}", permanent=False))
            # Temporary: retried with backoff, so it goes on by itself once there is room again.
            message = f"the workspace volume is full ({exc.strerror}{f': {exc.filename}' if exc.filename else ''}); retrying"
            log.warning("%s: %s step: %s", attempt.key, thing, message)
            return Observation(attempt, failure=Failure(thing, "NoSpace", message, permanent=False))
        except Exception as exc:  # any unexpected error is temporary: retry with backoff
            log.warning("%s: %s step failed: %s", attempt.key, thing, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            return Observation(attempt, failure=Failure(thing, "StepError", f"{type(exc).__name__}: {exc}", permanent=False))
        attempt.passed.append(thing)
        if result is Result.REQUEUE:
            return Observation(attempt, requeue_after=attempt.retry_after or attempt.settings.settle_seconds)
    return None


def _fingerprint(attempt: Attempt) -> str | None:
    """The spec files' and the folder's fingerprint, or None when a spec file changed since
    it was read (the next attempt must read it again, not skip as up to date)."""
    spec_paths = [attempt.settings.specs / f for f in attempt.spec_files]
    specs_now = spec_lines(spec_paths)  # each spec file stat'ed once
    if attempt.spec_stat is not None and digest(specs_now) != attempt.spec_stat:
        return None
    folder = attempt.settings.workspace / attempt.owner.folder if attempt.owner is not None else None
    return fingerprint(spec_paths, folder, specs_seen=specs_now, content_seen=attempt.content_seen)


def _move_to_trash(attempt: Attempt, previous: ProjectStatus | None, record: Attribution | None, folder: Path, owner: Owner) -> None:
    entry = f"{attempt.key}.{int(attempt.now * 1000)}"
    attempt.fence()
    attempt.trash.move_in(folder, TrashEntry(
        entry=entry, id=attempt.key, name=previous.name if previous else owner.folder, folder=owner.folder,
        quality=(previous.quality if previous else None) or "standard",
        description=previous.description if previous else "",
        spec_file=(previous.spec_file if previous else None) or f"{owner.folder}.yaml",
        created_at=owner.created_at, deleted_at=attempt.now, actor=attempt.actor_name,
    ))  # fmt: skip
    if record is not None:  # it spoke for a project that is in the trash now
        attribution.discard(attempt.settings.state, attempt.key, record)
    log.info("%s: spec removed; folder moved to trash as %s", attempt.key, entry)
    attempt.owners.drop(attempt.key)


def _remove(attempt: Attempt, previous: ProjectStatus | None) -> Observation:
    """No spec for the key: after the grace period, send an owned folder to the trash;
    find a foreign folder of that name (unmanaged); otherwise there is nothing left."""
    workspace, owner, now = attempt.settings.workspace, attempt.owner, attempt.now
    if owner is not None:
        folder = workspace / owner.folder
        if folder.is_dir() and not folder.is_symlink():
            record = attribution.read(attempt.settings.state, attempt.key)
            if attempt.actor is None:
                attempt.actor = _deleted_by(record, previous)
            deleting = previous is not None and previous.status is Phase.DELETING and previous.missing_since is not None
            since = previous.missing_since if deleting and previous is not None and previous.missing_since is not None else now
            waited = now - since
            if waited < attempt.settings.grace_seconds:
                left = attempt.settings.grace_seconds - waited
                attempt.planned.append(Change(f"move '{owner.folder}' to the trash in {left:.1f} s (the spec is gone; "
                                              f"grace period {attempt.settings.grace_seconds:g} s)", nothing))  # fmt: skip
                return Observation(attempt, absence=Absence.WAITING, folder=owner.folder, missing_since=since, requeue_after=left)
            move = partial(_move_to_trash, attempt, previous, record, folder, owner)
            changes = [Change(f"move '{owner.folder}' to the trash now (the spec is gone)", move)]
        else:
            forget = partial(attempt.owners.drop, attempt.key)
            changes = [Change(f"forget '{owner.folder}' (its spec and its folder are both gone)", forget)]
        carry_out(attempt, changes)
        return Observation(attempt, absence=Absence.TRASHED, folder=owner.folder)
    for name in os.listdir(workspace):
        if not name.startswith(".") and project_id(name) == attempt.key and (workspace / name).is_dir():
            return Observation(attempt, absence=Absence.UNMANAGED, folder=name, fingerprint=fingerprint([], None))
    return Observation(attempt, absence=Absence.NOTHING)
