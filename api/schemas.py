"""Request and response schemas of the REST API (msgspec).

Request structs are decoded by the resources in ``api.projects`` and ``api.trash``;
every struct here also feeds ``api.openapi``, which generates the OpenAPI document
from them, so the document and the code cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from auteur.specs import Description, Quality
from auteur.status import ProjectStatus
from auteur.trash import TrashEntry

Name = Annotated[str, msgspec.Meta(description="1-100 characters: letters, digits, space, '-', '_', '.'; see DESIGN.md")]


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are rejected with a 422 naming them,
    to catch typos (``qualty``) instead of silently ignoring them."""


class ProjectCreate(Strict):
    """Body of ``POST /api/v1/projects``."""

    name: Name
    quality: Quality = Quality.STANDARD
    description: Description = ""
    process_async: Annotated[bool, msgspec.Meta(description="answer 201 at once with status 'processing'")] = False


class ProjectPatch(Strict):
    """Body of ``PATCH /api/v1/projects/{id}``: only these fields may change."""

    quality: Quality | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET


class Project(ProjectStatus, kw_only=True):
    """A project as the API shows it: the status the controller recorded (or
    ``processing`` while the controller has not reported on a new spec yet)."""


class GitStatus(msgspec.Struct, kw_only=True):
    """``GET /api/v1/projects/{id}/git/status``: what the controller recorded, no hashing."""

    id: str
    current_commit: str | None = None
    is_dirty: bool = False
    branch: str = "main"
    last_commit_message: str | None = None
    last_commit_at: Annotated[float | None, msgspec.Meta(description="seconds since the epoch")] = None
    lfs_files: int = 0
    pending_files: list[str] = msgspec.field(default_factory=list)


class TrashItem(TrashEntry, kw_only=True):
    """One deleted project waiting in ``workspace/.auteur/trash/``."""

    expires_at: Annotated[float | None, msgspec.Meta(description="when it will be purged (seconds since the epoch)")] = None


class RequestPending(msgspec.Struct, kw_only=True):
    """202: the request was handed to the controller, which has not answered yet."""

    request: str
    action: str
    entry: str
    status: str = "pending"


class ErrorDetail(msgspec.Struct, kw_only=True):
    code: Annotated[str, msgspec.Meta(description="stable machine-readable code, e.g. not_found, conflict, invalid")]
    field: Annotated[str | None, msgspec.Meta(description="the field or parameter at fault, if any")] = None
    message: str


class Error(msgspec.Struct, kw_only=True):
    """Every error answer has this shape."""

    error: ErrorDetail


# -- described here for the OpenAPI document (the answer is built in api.health) ------


class Health(msgspec.Struct, kw_only=True):
    """``GET /health``: ``healthy``, ``degraded`` (still 200; ``failing`` names the parts) or
    ``unhealthy`` (503: the workspace is not writable)."""

    status: Literal["healthy", "degraded", "unhealthy"]
    redis: str
    worker: str
    controller: str
    workspace: str
    failing: list[str] = msgspec.field(default_factory=list)
    heartbeat: dict[str, Any] | None = None


COMPONENTS: tuple[type[msgspec.Struct], ...] = (
    ProjectCreate,
    ProjectPatch,
    Project,
    GitStatus,
    TrashItem,
    RequestPending,
    Error,
    Health,
)
