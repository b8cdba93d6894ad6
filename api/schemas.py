"""Request and response schemas of the REST API (msgspec).

Request structs are decoded by the resources in ``api.projects`` and ``api.trash``;
every struct here also feeds ``api.openapi``, which generates the OpenAPI document
from them, so the document and the code cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from auteur.accounts import TokenInfo
from auteur.identity import Role
from auteur.names import MAX_BYTES, MAX_CHARS
from auteur.specs import Description, Quality
from auteur.status import ProjectStatus
from auteur.trash import TrashEntry

# The naming rules of ``auteur.names.check_name`` (which enforces them, on the NFC form) as a
# JSON Schema pattern (ECMA-262, Unicode property escapes): a letter or digit first; then letters,
# digits, combining marks, space, '-', '_' and single dots; no space or dot at the end.
# tests/api/test_openapi.py checks the two agree on every character. The lookahead changes nothing
# for an engine that knows Unicode (U+20F1-U+20FF are unassigned, so no mark): schemathesis stands
# in the block U+20D0-U+20FF for \p{M} when it draws, and without it would send those as valid.
_UNASSIGNED_IN_MARK_BLOCK = r"(?![\u20F1-\u20FF])"
_FIRST = r"[\p{L}\p{N}]"
_INNER = rf"{_UNASSIGNED_IN_MARK_BLOCK}[\p{{L}}\p{{N}}\p{{M}} _\-]"
_LAST = rf"{_UNASSIGNED_IN_MARK_BLOCK}[\p{{L}}\p{{N}}\p{{M}}_\-]"
NAME_PATTERN = rf"^{_FIRST}(?:(?:\.?{_INNER})*\.?{_LAST})?$"
# check_name is the one enforcer (its messages name the rule broken); the schema only states the rules.
Name = Annotated[str, msgspec.Meta(
    description=f"1-{MAX_CHARS} characters and at most {MAX_BYTES} bytes in UTF-8, NFC-normalised: letters, digits "
                "and combining marks (any script), space, '-', '_' and '.'; starts with a letter or digit; no '..'; "
                "does not end with a space or a dot. JSON Schema cannot count bytes: a name within "
                f"{MAX_CHARS} characters but over {MAX_BYTES} bytes (e.g. 70 CJK characters) answers 422 saying so.",
    extra_json_schema={"minLength": 1, "maxLength": MAX_CHARS, "pattern": NAME_PATTERN},
)]  # fmt: skip


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
    last_commit_author: Annotated[str | None, msgspec.Meta(description="the head commit's author, 'Name <email>'")] = None
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
    request_id: Annotated[str | None, msgspec.Meta(description="the request's id, as in X-Request-Id and the server's log")] = None


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
    disk: Annotated[
        str, msgspec.Meta(description="'ok: …' or 'low: …' (free bytes and the warning threshold, AUTEUR_DISK_WARNING_BYTES)")
    ] = "ok"
    failing: list[str] = msgspec.field(default_factory=list)
    heartbeat: dict[str, Any] | None = None


class SignIn(Strict):
    """Body of ``POST /api/v1/session``."""

    username: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CHARS)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class Whoami(msgspec.Struct, kw_only=True):
    """Who the request acts as. With auth off nobody signs in and everyone may do everything."""

    auth: Literal["off", "on", "proxy"]
    name: str | None
    role: Role
    email: str | None = None
    csrf_token: Annotated[str | None, msgspec.Meta(description="only in the answer to a sign-in")] = None


class TokenCreate(Strict):
    """Body of ``POST /api/v1/tokens``: the user the token acts as, and its role."""

    name: Name
    role: Role


class TokenCreated(msgspec.Struct, kw_only=True):
    token: Annotated[str, msgspec.Meta(description="the secret, shown this once: only its hash is kept")]
    name: str
    role: Role


COMPONENTS: tuple[type[msgspec.Struct], ...] = (
    ProjectCreate,
    ProjectPatch,
    Project,
    GitStatus,
    TrashItem,
    RequestPending,
    Error,
    Health,
    SignIn,
    Whoami,
    TokenCreate,
    TokenCreated,
    TokenInfo,
)
