"""The convergence steps, run in order by ``controller.reconciling``.

Each step is ``ensure_<thing>(project) -> Result``: it checks before acting, so
a second run returns ``UNCHANGED`` and writes nothing. A step that fails raises;
the reconciler turns the exception into a ``<Thing>Failed`` condition.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from auteur.atomic import write_atomic
from auteur.layout import FOLDERS, GITATTRIBUTES, GITIGNORE, KEEP, LEAF_FOLDERS, MANIFEST, MANIFEST_VERSION, TRACKED_ROOTS
from auteur.settings import Settings
from auteur.specs import Spec
from controller import attributes, repository


class Result(enum.Enum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    REQUEUE = "requeue"


@dataclass
class Project:
    """Everything a step needs: the spec, the folder and what was found in it."""

    id: str
    spec: Spec
    root: Path
    created_at: str
    settings: Settings
    now: float
    known_oids: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    strays: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    snapshot: repository.SnapshotResult | None = None
    retry_after: float | None = None


_KNOWN_ROOT = frozenset({MANIFEST, GITIGNORE, GITATTRIBUTES, ".git", "assets", "outputs", "temp"})


def _scan(project: Project) -> None:
    """Sizes of the tracked files and names of stray root entries (no contents read)."""
    sizes: dict[str, int] = {}
    stack = list(TRACKED_ROOTS)
    while stack:
        rel = stack.pop()
        try:
            entries = list(os.scandir(project.root / rel))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            path = f"{rel}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                stack.append(path)
            elif entry.is_file(follow_symlinks=False):
                sizes[path] = entry.stat(follow_symlinks=False).st_size
    project.sizes = sizes
    project.strays = sorted(n for n in os.listdir(project.root) if n not in _KNOWN_ROOT)


def ensure_layout(project: Project) -> Result:
    """Ensures the folder layout, with a ``.gitkeep`` in each asset and output folder.

    Sets ``LayoutFailed`` when a folder cannot be made (e.g. a file in its way)."""
    result = Result.UNCHANGED
    root = str(project.root)
    if not os.path.isdir(root):
        os.makedirs(root)
        result = Result.CHANGED
    for rel in FOLDERS:
        path = f"{root}/{rel}"
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                continue
            raise FileExistsError(f"'{rel}' is in the way of a project folder; move it aside")
        except FileNotFoundError:
            os.mkdir(path)
            result = Result.CHANGED
    for rel in LEAF_FOLDERS:
        keep = f"{root}/{rel}/{KEEP}"
        try:
            if stat.S_ISREG(os.lstat(keep).st_mode):
                continue
            os.unlink(keep)  # a symlink or something else squatting on the name
        except FileNotFoundError:
            pass
        os.close(os.open(keep, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
        result = Result.CHANGED
    if result is Result.CHANGED:
        project.changes.append("layout")
    _scan(project)
    return result


def manifest_bytes(project: Project) -> bytes:
    body = {
        "id": project.id,
        "name": project.spec.name,
        "quality": project.spec.quality.value,
        "description": project.spec.description,
        "version": MANIFEST_VERSION,
        "created_at": project.created_at,
        "layout": {"assets": [f.split("/")[1] for f in LEAF_FOLDERS if f.startswith("assets/")],
                   "outputs": [f.split("/")[1] for f in LEAF_FOLDERS if f.startswith("outputs/")]},
    }  # fmt: skip
    return msgspec.json.format(msgspec.json.encode(body), indent=2) + b"\n"


def _ensure_file(project: Project, rel: str, wanted: bytes, what: str) -> Result:
    path = project.root / rel
    try:
        if not path.is_symlink() and path.read_bytes() == wanted:
            return Result.UNCHANGED
    except (FileNotFoundError, IsADirectoryError):
        pass
    if path.is_symlink():
        path.unlink()
    write_atomic(path, wanted)
    project.changes.append(what)
    return Result.CHANGED


def ensure_manifest(project: Project) -> Result:
    """Ensures ``project.json`` matches the spec (``created_at`` kept). Sets ``ManifestFailed``."""
    return _ensure_file(project, MANIFEST, manifest_bytes(project), "manifest")


def ensure_gitignore(project: Project) -> Result:
    """Ensures ``.gitignore`` keeps ``/temp/`` out of git. Sets ``GitignoreFailed``."""
    return _ensure_file(project, GITIGNORE, attributes.render_gitignore(), ".gitignore")


def ensure_gitattributes(project: Project) -> Result:
    """Ensures ``.gitattributes`` routes media, and each large file, through LFS.
    Sets ``GitattributesFailed``."""
    threshold = project.settings.large_file_bytes
    large = attributes.large_paths(project.sizes, threshold)
    return _ensure_file(project, GITATTRIBUTES, attributes.render_gitattributes(large, threshold), ".gitattributes")


def ensure_repository(project: Project) -> Result:
    """Ensures a git repository with the LFS filter configured. Sets ``RepositoryFailed``."""
    if repository.ensure_repository(project.root):
        project.changes.append("repository")
        return Result.CHANGED
    return Result.UNCHANGED


def ensure_snapshot(project: Project) -> Result:
    """Ensures every settled change under assets/ and outputs/ is committed (media via
    LFS). Requeues while files are still being written. Sets ``SnapshotFailed``."""
    large = attributes.large_paths(project.sizes, project.settings.large_file_bytes)
    first = repository.head_info(project.root)[0] is None
    message = f"Create project {project.spec.name}" if first else f"Snapshot of {project.spec.name}"
    repaired = [c for c in project.changes if c != "repository"]
    if repaired and not first:
        message += f" (repaired: {', '.join(repaired)})"
    result = repository.snapshot(
        project.root,
        is_lfs=attributes.lfs_rule(large),
        now=project.now,
        settle_seconds=project.settings.settle_seconds,
        message=message,
        known_oids=project.known_oids,
    )
    project.snapshot = result
    if result.pending:
        project.retry_after = result.retry_after
        return Result.REQUEUE
    return Result.CHANGED if result.changed else Result.UNCHANGED


Step = Callable[[Project], Result]

STEPS: tuple[tuple[str, Step], ...] = (
    ("Layout", ensure_layout),
    ("Manifest", ensure_manifest),
    ("Gitignore", ensure_gitignore),
    ("Gitattributes", ensure_gitattributes),
    ("Repository", ensure_repository),
    ("Snapshot", ensure_snapshot),
)
