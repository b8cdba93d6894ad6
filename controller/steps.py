"""The convergence steps, run in order by ``controller.converging.converge``.

Each step is ``ensure_<thing>(attempt) -> Result``: it checks before acting, so a
second run returns ``UNCHANGED`` and writes nothing. What a step would do is a list of
``controller.changes.Change``, kept in ``attempt.planned`` and carried out — unless
the attempt is a dry run (``auteur diff``), which writes nothing at all. A step that fails raises:
``Stalled`` when nothing will change until the spec or the folder does, anything
else for a temporary failure; ``controller.reporting`` turns either into a
``<Thing>Failed`` condition. Steps never write status.
"""

from __future__ import annotations

import datetime
import enum
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import msgspec

from auteur.atomic import write_atomic
from auteur.identity import Actor, parse_author
from auteur.layout import FOLDERS, GITATTRIBUTES, GITIGNORE, KEEP, LEAF_FOLDERS, MANIFEST, MANIFEST_VERSION, TRACKED_ROOTS
from auteur.leases import unfenced
from auteur.settings import Settings
from auteur.specs import Spec, SpecError, read_spec
from controller import attributes, repository
from controller.changes import Change, file_diff
from controller.fingerprints import content_lines, fingerprint
from controller.ownership import Owner, Owners
from controller.specindex import SpecIndex
from controller.trash import Trash

log = logging.getLogger("auteur.controller")


def iso(ts: float) -> str:
    """A UTC timestamp as ``2026-12-01T21:30:00Z`` (the manifest's ``created_at``)."""
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Result(enum.Enum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    REQUEUE = "requeue"


class Stalled(Exception):
    """Nothing will change until the spec (or the folder) does: do not retry. ``reason``
    is the condition's reason (``InvalidSpec``, ``ForeignFolder``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Attempt:
    """One attempt at converging one project: what it starts from, and what the steps
    find on the way (the observation ``controller.reporting`` turns into status)."""

    key: str
    settings: Settings
    now: float
    specs: SpecIndex
    owners: Owners
    trash: Trash  # where a project whose spec went away is sent
    known_oids: dict[str, str] = field(default_factory=dict)
    # Who this attempt acts for, given by the caller (an upload's, a restore's) or found by
    # ``converge`` (the person whose request wrote the spec): their name goes with the events and
    # the commits are theirs. None: nobody known, so the configured default identity.
    actor: Actor | None = None
    # Called before every write to the folder (``auteur.leases``): raises ``LeaseLost`` once
    # this controller no longer leads. The CLI's and the worker's attempts write without leading.
    fence: Callable[[], None] = unfenced
    spec_files: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)  # the steps that ran without error, in order
    # Found by the steps, in order.
    spec_file: str | None = None
    duplicates: list[str] = field(default_factory=list)
    spec: Spec | None = None
    # The spec files' stat when the spec was read: if it differs at the end (a PATCH raced
    # this attempt), the attempt is not recorded as converged, and the next one reads again.
    spec_stat: str | None = None
    content_seen: list[bytes] | None = None  # the folder's content_lines, before the steps listed it
    owner: Owner | None = None
    sizes: dict[str, int] = field(default_factory=dict)
    strays: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    snapshot: repository.SnapshotResult | None = None
    retry_after: float | None = None
    # A dry run (``auteur diff``) works everything out and writes nothing; either way
    # ``planned`` lists, in order, what the steps did or would do.
    dry_run: bool = False
    planned: list[Change] = field(default_factory=list)
    renamed_from: str | None = None  # a dry run's folder that the reconcile would rename first

    @property
    def wanted(self) -> Spec:
        """The spec ``ensure_spec`` read (the folder steps run only after it)."""
        if self.spec is None:
            raise RuntimeError("no spec has been read yet: ensure_spec runs first")
        return self.spec

    @property
    def root(self) -> Path:
        # A dry run that would rename the folder looks at it where it still is.
        return self.settings.workspace / (self.renamed_from or self.wanted.name)

    @property
    def created_at(self) -> str:
        return self.owner.created_at if self.owner is not None else iso(self.now)

    @property
    def committer(self) -> bytes:
        """The identity the controller commits as (``AUTEUR_GIT_AUTHOR``)."""
        return parse_author(self.settings.git_author)

    @property
    def author(self) -> bytes:
        """Whose change a commit of this attempt is: the actor's, else the default identity."""
        return self.actor.author(self.settings.email_domain) if self.actor is not None else self.committer

    @property
    def actor_name(self) -> str | None:
        return self.actor.name if self.actor is not None else None


def carry_out(attempt: Attempt, changes: list[Change]) -> Result:
    """Note ``changes`` in the attempt's plan and make them, unless it is a dry run."""
    attempt.planned.extend(changes)
    if not attempt.dry_run:
        for change in changes:
            change.apply()
    return Result.CHANGED if changes else Result.UNCHANGED


def pick_spec(files: list[str], owner: Owner | None, specs_dir: Path) -> tuple[str, list[str]]:
    """The spec file that speaks for a key, and the duplicates it beats: the owner's file
    keeps winning; otherwise the oldest file (then the first name)."""
    if len(files) == 1:
        return files[0], []
    if owner is not None and owner.spec_file in files:
        winner = owner.spec_file
    else:

        def age(name: str) -> tuple[int, str]:
            try:
                return os.stat(specs_dir / name).st_mtime_ns, name
            except FileNotFoundError:
                return 1 << 62, name

        winner = min(files, key=age)
    return winner, [f for f in files if f != winner]


def ensure_spec(attempt: Attempt) -> Result:
    """Ensures one valid spec speaks for the key (duplicates are noted, not used).
    Sets ``SpecFailed`` (permanent: ``InvalidSpec``) when the chosen file does not parse."""
    attempt.spec_file, attempt.duplicates = pick_spec(attempt.spec_files, attempt.owner, attempt.settings.specs)
    attempt.spec_stat = fingerprint([attempt.settings.specs / f for f in attempt.spec_files], None)
    try:
        attempt.spec = read_spec(attempt.settings.specs / attempt.spec_file)
    except SpecError as exc:
        raise Stalled("InvalidSpec", str(exc)) from exc
    return Result.UNCHANGED


def _foreign_id(folder: Path) -> str | None:
    try:
        manifest = msgspec.json.decode((folder / MANIFEST).read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    found = manifest.get("id") if isinstance(manifest, dict) else None
    return found if isinstance(found, str) else None


def ensure_ownership(attempt: Attempt) -> Result:
    """Ensures the controller owns the spec's folder: creates the record, follows a
    rename of the spec, or adopts a folder whose ``project.json`` has this id. Sets
    ``OwnershipFailed`` (permanent: ``ForeignFolder``) for a folder that is not ours."""
    spec, spec_file, folder, owner = attempt.wanted, attempt.spec_file or "", attempt.root, attempt.owner
    if owner is not None:
        changes = []
        if owner.folder != spec.name:
            old = attempt.settings.workspace / owner.folder
            if old.is_dir() and not folder.exists():
                changes.append(Change(f"rename the folder '{owner.folder}' to '{spec.name}'", partial(os.rename, old, folder)))
                attempt.renamed_from = owner.folder if attempt.dry_run else None
        if owner.folder != spec.name or owner.spec_file != spec_file:
            attempt.owner = Owner(id=attempt.key, folder=spec.name, spec_file=spec_file, created_at=owner.created_at)
            changes.append(Change(f"record the folder '{spec.name}' as owned, for {spec_file}", partial(attempt.owners.put, attempt.owner)))
        return carry_out(attempt, changes)
    created_at = iso(attempt.now)
    claim = f"take the new folder '{spec.name}' under management"
    if folder.exists() or folder.is_symlink():
        if folder.is_symlink() or not folder.is_dir():
            raise Stalled("ForeignFolder", f"'{spec.name}' exists in the workspace and is not a project folder; it is left untouched")
        found = _foreign_id(folder)
        if found != attempt.key:
            why = "has no project.json" if found is None else f"belongs to project id {found!r}"
            raise Stalled("ForeignFolder", f"folder '{spec.name}' already exists and is not managed by Auteur ({why}); "
                          "it is left untouched: move it away or rename the spec")  # fmt: skip
        try:
            manifest = msgspec.json.decode((folder / MANIFEST).read_bytes())
            created_at = str(manifest.get("created_at") or created_at)
        except (OSError, msgspec.DecodeError, AttributeError):
            pass
        claim = f"adopt the existing folder '{spec.name}' (its project.json has this id)"
        if not attempt.dry_run:
            log.info("%s: adopting existing folder '%s'", attempt.key, spec.name)
    attempt.owner = Owner(id=attempt.key, folder=spec.name, spec_file=spec_file, created_at=created_at)
    return carry_out(attempt, [Change(claim, partial(attempt.owners.put, attempt.owner))])


_KNOWN_ROOT = frozenset({MANIFEST, GITIGNORE, GITATTRIBUTES, ".git", "assets", "outputs", "temp"})


def _scan(attempt: Attempt) -> None:
    """Sizes of the tracked files and names of stray root entries (no contents read)."""
    sizes: dict[str, int] = {}
    stack = list(TRACKED_ROOTS)
    while stack:
        rel = stack.pop()
        try:
            entries = list(os.scandir(attempt.root / rel))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            path = f"{rel}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                stack.append(path)
            elif entry.is_file(follow_symlinks=False):
                sizes[path] = entry.stat(follow_symlinks=False).st_size
    attempt.sizes = sizes
    try:
        attempt.strays = sorted(n for n in os.listdir(attempt.root) if n not in _KNOWN_ROOT)
    except FileNotFoundError:  # a dry run's folder still to create
        attempt.strays = []


def ensure_layout(attempt: Attempt) -> Result:
    """Ensures the folder layout, with a ``.gitkeep`` in each asset and output folder.

    Sets ``LayoutFailed`` when a folder cannot be made (e.g. a file in its way)."""
    result = carry_out(attempt, plan_layout(attempt))
    if result is Result.CHANGED:
        attempt.changes.append("layout")
    # The assets and outputs as they are before the steps first list them: a file dropped in
    # after this (say, once the snapshot listed the folder) leaves the recorded fingerprint
    # behind, so that its event, or the next resync, converges the project again.
    attempt.content_seen = content_lines(attempt.root)
    _scan(attempt)
    return result


def plan_layout(attempt: Attempt) -> list[Change]:
    """The folders and ``.gitkeep`` files the layout lacks, in the order they are made."""
    root = str(attempt.root)
    changes = []
    if not os.path.isdir(root):
        changes.append(Change("create the project folder", partial(os.makedirs, root)))
    for rel in FOLDERS:
        path = f"{root}/{rel}"
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                continue
            raise FileExistsError(f"'{rel}' is in the way of a project folder; move it aside")
        except FileNotFoundError:
            changes.append(Change(f"create the folder {rel}/", partial(os.mkdir, path)))
    for rel in LEAF_FOLDERS:
        keep = f"{root}/{rel}/{KEEP}"
        try:
            if stat.S_ISREG(os.lstat(keep).st_mode):
                continue
            verb, squatted = "replace", True  # a symlink or something else squatting on the name
        except FileNotFoundError:
            verb, squatted = "create", False
        changes.append(Change(f"{verb} {rel}/{KEEP}", partial(_make_keep, keep, squatted), path=f"{rel}/{KEEP}", content=b""))
    return changes


def _make_keep(keep: str, squatted: bool) -> None:
    if squatted:
        os.unlink(keep)
    os.close(os.open(keep, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))


def manifest_bytes(attempt: Attempt) -> bytes:
    body = {
        "id": attempt.key,
        "name": attempt.wanted.name,
        "quality": attempt.wanted.quality.value,
        "description": attempt.wanted.description,
        "version": MANIFEST_VERSION,
        "created_at": attempt.created_at,
        "layout": {"assets": [f.split("/")[1] for f in LEAF_FOLDERS if f.startswith("assets/")],
                   "outputs": [f.split("/")[1] for f in LEAF_FOLDERS if f.startswith("outputs/")]},
    }  # fmt: skip
    return msgspec.json.format(msgspec.json.encode(body), indent=2) + b"\n"


def _ensure_file(attempt: Attempt, rel: str, wanted: bytes, what: str) -> Result:
    result = carry_out(attempt, plan_file(attempt, rel, wanted))
    if result is Result.CHANGED:
        attempt.changes.append(what)
    return result


def plan_file(attempt: Attempt, rel: str, wanted: bytes) -> list[Change]:
    """Writing ``rel`` (a file the controller owns, in the project root) as ``wanted``, unless it holds that."""
    path = attempt.root / rel
    before = None
    try:
        if not path.is_symlink():
            before = path.read_bytes()
            if before == wanted:
                return []
    except (FileNotFoundError, IsADirectoryError):
        pass
    return [Change(f"{'edit' if before is not None else 'create'} {rel}", partial(_write_file, path, wanted),
                   path=rel, content=wanted, diff=file_diff(rel, before, wanted))]  # fmt: skip


def _write_file(path: Path, data: bytes) -> None:
    if path.is_symlink():
        path.unlink()
    write_atomic(path, data)


def ensure_manifest(attempt: Attempt) -> Result:
    """Ensures ``attempt.json`` matches the spec (``created_at`` kept). Sets ``ManifestFailed``."""
    return _ensure_file(attempt, MANIFEST, manifest_bytes(attempt), "manifest")


def ensure_gitignore(attempt: Attempt) -> Result:
    """Ensures ``.gitignore`` keeps ``/temp/`` out of git. Sets ``GitignoreFailed``."""
    return _ensure_file(attempt, GITIGNORE, attributes.render_gitignore(), ".gitignore")


def ensure_gitattributes(attempt: Attempt) -> Result:
    """Ensures ``.gitattributes`` routes media, and each large file, through LFS.
    Sets ``GitattributesFailed``."""
    threshold = attempt.settings.large_file_bytes
    large = attributes.large_paths(attempt.sizes, threshold)
    return _ensure_file(attempt, GITATTRIBUTES, attributes.render_gitattributes(large, threshold), ".gitattributes")


def ensure_repository(attempt: Attempt) -> Result:
    """Ensures a git repository with the LFS filter configured and the default identity as
    its ``user``. Sets ``RepositoryFailed``."""
    changes = repository.plan_repository(attempt.root, attempt.committer)
    if not attempt.dry_run:
        repository.clear_stale_locks(attempt.root / ".git")
    result = carry_out(attempt, changes)
    if result is Result.CHANGED:
        attempt.changes.append("repository")
    return result


def ensure_snapshot(attempt: Attempt) -> Result:
    """Ensures every settled change under assets/ and outputs/ is committed (media via
    LFS), as the attempt's author. Requeues while files are still being written. Sets
    ``SnapshotFailed``."""
    large = attributes.large_paths(attempt.sizes, attempt.settings.large_file_bytes)
    first = repository.head_info(attempt.root)[0] is None
    message = f"Create project {attempt.wanted.name}" if first else f"Snapshot of {attempt.wanted.name}"
    repaired = [c for c in attempt.changes if c != "repository"]
    if repaired and not first:
        message += f" (repaired: {', '.join(repaired)})"
    result = repository.snapshot(
        attempt.root,
        is_lfs=attributes.lfs_rule(large),
        now=attempt.now,
        settle_seconds=attempt.settings.settle_seconds,
        message=message,
        author=attempt.author,
        committer=attempt.committer,
        known_oids=attempt.known_oids,
        dry_run=attempt.dry_run,
        planned={c.path: c.content for c in attempt.planned if c.path is not None and c.content is not None} if attempt.dry_run else None,
        before_commit=attempt.fence,
    )
    attempt.snapshot = result
    if result.pending:
        attempt.retry_after = result.retry_after
        return Result.REQUEUE
    return Result.CHANGED if result.changed else Result.UNCHANGED


Step = Callable[[Attempt], Result]

# The spec is read and the folder claimed first; then the folder is converged.
CLAIM_STEPS: tuple[tuple[str, Step], ...] = (
    ("Spec", ensure_spec),
    ("Ownership", ensure_ownership),
)
FOLDER_STEPS: tuple[tuple[str, Step], ...] = (
    ("Layout", ensure_layout),
    ("Manifest", ensure_manifest),
    ("Gitignore", ensure_gitignore),
    ("Gitattributes", ensure_gitattributes),
    ("Repository", ensure_repository),
    ("Snapshot", ensure_snapshot),
)
STEPS = CLAIM_STEPS + FOLDER_STEPS
