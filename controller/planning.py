"""``auteur diff``: what a reconcile would do to each project, worked out without writing.

Called by the CLI (``auteur diff [NAME]``, behind ``make reconcile DRY_RUN=1``). Each
key goes through ``controller.converging.converge`` as a dry run: the very steps a
reconcile runs decide, and none of them writes (``controller.changes``). The stores are
opened read-only and the project lock is not taken, so a plan leaves no status, journal,
heartbeat, lock file, ``.git/index`` refresh or LFS object behind: it is a look, which a
running controller may overtake at any moment (``terraform plan -lock=false``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from auteur.settings import Settings
from auteur.status import StatusStore
from controller.changes import Change
from controller.converging import Absence, converge
from controller.ownership import Owners
from controller.reconciling import known_keys
from controller.repository import SnapshotFile, SnapshotResult
from controller.specindex import SpecIndex
from controller.steps import Attempt
from controller.trash import Trash

# ``auteur diff`` exits like ``terraform plan -detailed-exitcode``.
NOTHING_TO_DO, FAILED, CHANGES_PENDING = 0, 1, 2


class PlanError(Exception):
    """The workspace cannot be looked at (missing, not a folder, unreadable)."""


@dataclass
class ProjectPlan:
    """What a reconcile would do to one key."""

    key: str
    name: str
    changes: list[Change] = field(default_factory=list)
    snapshot: SnapshotResult | None = None
    foreign: str | None = None  # a folder that is not ours: left alone
    suspended: bool = False
    unknown: bool = False  # no spec, no folder: nothing by that name
    error: str | None = None

    @property
    def commit(self) -> list[SnapshotFile]:
        return self.snapshot.files if self.snapshot is not None else []

    @property
    def settling(self) -> list[str]:
        return self.snapshot.pending if self.snapshot is not None else []

    @property
    def pending(self) -> bool:
        return bool(self.changes or self.commit or self.settling)


@dataclass(frozen=True)
class _Stores:
    specs: SpecIndex
    owners: Owners
    trash: Trash
    statuses: StatusStore


def plan(settings: Settings, keys: Iterable[str] | None = None, *, now: float | None = None) -> list[ProjectPlan]:
    """The plan of every key (``keys``, else every key the controller knows of), sorted by key."""
    try:
        os.listdir(settings.workspace)
    except OSError as exc:
        raise PlanError(f"cannot read the workspace {settings.workspace}: {exc.strerror or exc}") from exc
    state = settings.state
    stores = _Stores(SpecIndex(settings.specs), Owners(state, create=False), Trash(state, create=False), StatusStore(state, create=False))
    wanted = sorted(keys if keys is not None else known_keys(settings.workspace, stores.specs, stores.owners, stores.statuses))
    at = time.time() if now is None else now
    return [plan_key(settings, stores, key, at) for key in wanted]


def plan_key(settings: Settings, stores: _Stores, key: str, now: float) -> ProjectPlan:
    """One key's plan: ``converge`` as a dry run, and what it found."""
    attempt = Attempt(key=key, settings=settings, now=now, specs=stores.specs, owners=stores.owners, trash=stores.trash, dry_run=True)
    observation = converge(attempt, stores.statuses.read(key))
    name = attempt.spec.name if attempt.spec is not None else observation.folder or key
    found = ProjectPlan(key=key, name=name, changes=attempt.planned, suspended=observation.suspended)
    if observation.failure is not None:
        found.error = f"{observation.failure.thing}Failed: {observation.failure.message}"
    elif observation.absence is Absence.UNMANAGED:
        found.foreign = observation.folder
    elif observation.absence is Absence.NOTHING:
        found.unknown = True
    elif attempt.snapshot is not None and (attempt.snapshot.changed or attempt.snapshot.pending):
        found.snapshot = attempt.snapshot
    return found


def render(plans: list[ProjectPlan]) -> list[str]:
    """The printout: a block per project, then a summary line."""
    lines: list[str] = []
    for found in plans:
        lines += _render_one(found)
    lines.append(summary(plans))
    return lines


def _render_one(found: ProjectPlan) -> list[str]:
    title = found.key if found.name == found.key else f"{found.key} ({found.name})"
    if found.error is not None:
        return [f"{title}: error: {found.error}", *(f"  {c.summary}" for c in found.changes)]
    if found.foreign is not None:
        return [f"{title}: foreign folder '{found.foreign}': left alone"]
    if found.suspended:
        return [f"{title}: suspended: left alone"]
    if found.unknown:
        return [f"{title}: no spec and no folder: nothing to do"]
    if not found.pending:
        return [f"{title}: up to date"]
    lines = [f"{title}:"]
    for change in found.changes:
        lines.append(f"  {change.summary}")
        lines += (f"      {line}" for line in change.diff)
    snapshot = found.snapshot
    if snapshot is not None and snapshot.files:
        lines.append(f"  commit {len(snapshot.files)} file(s): {snapshot.message}")
        lines += (_render_file(f) for f in snapshot.files)
    if snapshot is not None and snapshot.pending:
        lines.append(f"  files still settling (committed in {snapshot.retry_after or 0:.1f} s): {', '.join(snapshot.pending)}")
    return lines


def _render_file(item: SnapshotFile) -> str:
    size = "" if item.size is None else f"  {item.size:,} bytes"
    return f"      {item.action:<6}  {item.path}{size}{'  (LFS)' if item.lfs else ''}"


def summary(plans: list[ProjectPlan]) -> str:
    changing = sum(1 for p in plans if p.pending and p.error is None)
    errors = sum(1 for p in plans if p.error is not None)
    foreign = sum(1 for p in plans if p.foreign is not None)
    steady = len(plans) - changing - errors - foreign
    return f"Plan: {changing} project(s) to change, {steady} up to date, {foreign} foreign folder(s) left alone, {errors} error(s)"


def exit_code(plans: list[ProjectPlan]) -> int:
    """0 nothing to do, 2 changes pending, 1 an error (as ``terraform plan -detailed-exitcode``)."""
    if any(p.error is not None for p in plans):
        return FAILED
    return CHANGES_PENDING if any(p.pending for p in plans) else NOTHING_TO_DO
