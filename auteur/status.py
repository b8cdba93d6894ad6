"""Project status: the schema and the store on the volume.

Written only by the controller (``write``), read by everyone. One JSON file per
project id under ``workspace/.auteur/status/``, replaced atomically.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path

import msgspec

from auteur.atomic import write_atomic
from auteur.layout import STATUS_DIR


class Phase(str, enum.Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    DELETING = "deleting"
    UNMANAGED = "unmanaged"
    SUSPENDED = "suspended"  # ``suspend: true`` in its spec: the controller leaves it alone


class Condition(msgspec.Struct, kw_only=True):
    """Like a Kubernetes condition: ``Ready`` summarises, ``<Thing>Failed`` explains."""

    type: str
    status: bool
    reason: str
    message: str = ""
    last_transition: float = 0.0


class SpecProblem(msgspec.Struct, kw_only=True):
    """Why a spec file could not be used."""

    file: str
    field: str | None = None
    message: str


class MediaFinding(msgspec.Struct, kw_only=True):
    """One file the media integrity check (``controller.integrity``) found at fault."""

    path: str
    problem: str
    detail: str = ""


# The controller's own bookkeeping in ProjectStatus: kept on the volume, never shown
# (``ProjectStatus.public``, the API's schema) nor counted as a change worth an event.
# ``integrity_checked`` is what the last clean integrity check saw (``controller.scrubbing``).
HIDDEN_FIELDS = ("fingerprint", "missing_since", "integrity_checked")


class ProjectStatus(msgspec.Struct, kw_only=True):
    """What the controller last saw and did for one project. New fields need defaults."""

    id: str
    name: str
    status: Phase = Phase.PENDING
    folder: str | None = None
    spec_file: str | None = None
    quality: str | None = None
    description: str = ""
    created_at: str | None = None
    generation: str | None = None
    observed_generation: str | None = None
    conditions: list[Condition] = msgspec.field(default_factory=list)
    current_commit: str | None = None
    branch: str = "main"
    last_commit_message: str | None = None
    last_commit_at: float | None = None
    last_commit_author: str | None = None  # "Name <email>", as git shows it
    is_dirty: bool = False
    lfs_files: int = 0
    asset_count: int = 0
    pending_files: list[str] = msgspec.field(default_factory=list)
    stray_files: list[str] = msgspec.field(default_factory=list)
    duplicates: list[SpecProblem] = msgspec.field(default_factory=list)
    # What the last media integrity check found (with the ``MediaIntegrityFailed`` condition).
    media_findings: list[MediaFinding] = msgspec.field(default_factory=list)
    last_error: str | None = None
    last_reconcile: float | None = None
    missing_since: float | None = None
    fingerprint: str | None = None
    integrity_checked: str | None = None

    def condition(self, kind: str) -> Condition | None:
        for cond in self.conditions:
            if cond.type == kind:
                return cond
        return None

    def public(self) -> dict[str, object]:
        """The status as shown to people (internal bookkeeping left out)."""
        data: dict[str, object] = msgspec.to_builtins(self)
        for name in HIDDEN_FIELDS:
            data.pop(name, None)
        return data


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ProjectStatus)


class StatusStore:
    """One status file per project id; the controller writes, everyone reads."""

    def __init__(self, state_dir: Path, *, create: bool = True) -> None:
        """``create=False``: only read (``auteur diff``), even where the folder does not exist yet."""
        self.root = state_dir / STATUS_DIR
        if create:
            self.root.mkdir(parents=True, exist_ok=True)

    def path(self, project_id: str) -> Path:
        return self.root / f"{project_id}.json"

    def read(self, project_id: str) -> ProjectStatus | None:
        try:
            return _decoder.decode(self.path(project_id).read_bytes())
        except FileNotFoundError:
            return None
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    def write(self, status: ProjectStatus) -> None:
        write_atomic(self.path(status.id), _encoder.encode(status), durable=False)

    def delete(self, project_id: str) -> None:
        try:
            os.unlink(self.path(project_id))
        except FileNotFoundError:
            pass

    def ids(self) -> list[str]:
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:  # never created: read-only, on a fresh workspace
            return []
        return [e.name[:-5] for e in entries if e.name.endswith(".json") and not e.name.startswith(".")]

    def read_all(self) -> list[ProjectStatus]:
        found = []
        for project_id in self.ids():
            status = self.read(project_id)
            if status is not None:
                found.append(status)
        return found
