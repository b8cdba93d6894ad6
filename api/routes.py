"""The route table: every URL of the API, the resource that answers it, and what it answers.

``api.app.create_app`` adds each entry as a route (one resource object per class,
several routes per resource through ``suffix``); ``api.openapi.build_document``
generates ``/openapi.json`` from the same entries. Every status code an operation
can answer and every constraint the resources enforce is declared here, next to
the route: the contract fuzzer (``tests/api/test_contract.py``) holds the API to it.

Every operation but the open ones (health, metrics, this document) names the least role
that may call it under ``x-auteur-role`` (``auteur.identity.Role``): the auth layer
(``api.auth``) enforces what the table says.
"""

from __future__ import annotations

from api.accounts import SessionResource, TokensResource
from api.assets import AssetFileResource, AssetsResource
from api.audit import MAX_BEFORE, AuditResource
from api.audit import MAX_LIMIT as MAX_AUDIT_LIMIT
from api.auth import CSRF_HEADER, PUBLIC, ROLE_KEY
from api.events import EventsResource
from api.health import HealthResource, LiveResource, MetricsResource
from api.history import COMMIT_PATTERN, HistoryResource
from api.history import MAX_LIMIT as MAX_HISTORY
from api.index import SORTS
from api.openapi import Json, OpenApiResource, Route, array_of, errors, json_body, param, ref
from api.posters import PosterResource
from api.projects import MAX_LIMIT, MAX_OFFSET, MAX_QUERY, GitStatusResource, ProjectsResource
from api.safety import ATTACHMENT_TYPE, INLINE_POLICY, POLICY
from api.thumbnails import ThumbnailResource
from api.trash import TrashResource
from api.uploads import FIELD, MAX_PARTS
from api.versions import ASSET_PATH_PATTERN, VersionsResource
from api.versions import MAX_LIMIT as MAX_VERSIONS
from auteur.identity import Role
from auteur.layout import TYPE_FOLDERS
from auteur.status import Phase
from auteur.uploads import MAX_FILENAME_BYTES

PROJECT_ID = param("project_id", "path", {"type": "string"}, "The project's id (a name is accepted and mapped to its id)")
ENTRY = param("entry", "path", {"type": "string"}, "A trash entry name, or a project id or name (the newest entry wins)")
FILE_PATH = param("path", "path", {"type": "string"}, "Path inside the project, under assets/ or outputs/")
VIDEO_PATH = param("path", "path", {"type": "string"}, "The video's path inside the project")
IMAGE_PATH = param("path", "path", {"type": "string"}, "The image's path inside the project, under assets/ or outputs/")
RANGE = param("Range", "header", {"type": "string"}, "One range, e.g. bytes=0-1023 (several, or a malformed one: the whole file)")
VERSION = param(
    "version",
    "query",
    {"type": "string", "pattern": COMMIT_PATTERN},
    "A commit id (from .../versions): the file as that commit holds it (404 if it holds none); "
    "its ETag is then the version's oid, its Last-Modified the commit's time",
)
IF_NONE_MATCH = param("If-None-Match", "header", {"type": "string"}, "The ETag of the copy held")
TOKEN_NAME = param("name", "path", {"type": "string"}, "The token's name (the user it acts as)")
PROJECT = json_body(ref("Project"), "The project")
WAITED = json_body(ref("Project"), "The controller has not converged within the timeout: the status so far")
PENDING = json_body(ref("RequestPending"), "The controller has not answered yet; the request stays queued")
JSON_BODY = (400, 413, 415, 422)
# The least role each operation needs with auth on (api.auth.Guard enforces what is written here).
VIEWER, EDITOR, ADMIN = ({ROLE_KEY: role.value} for role in (Role.VIEWER, Role.EDITOR, Role.ADMIN))
ANYONE = {ROLE_KEY: PUBLIC}  # signing in and out
STORAGE = 503  # every operation that reads or writes the volume can meet a refusing one

UPLOAD_BODY = {
    "type": "object", "required": [FIELD], "additionalProperties": False,
    "properties": {FIELD: {
        "type": "array", "minItems": 1, "maxItems": MAX_PARTS, "items": {"type": "string", "format": "binary"},
        "description": "The files, each part with its filename: printable, no path separator, not starting with a dot, "
                       f"at most {MAX_FILENAME_BYTES} bytes in UTF-8. A filename given twice: the later part replaces the earlier, "
                       "as a second upload would. Any other form field answers 422.",
    }},
}  # fmt: skip


# What a download answers, besides the headers of every answer (``api.openapi`` adds those).
FILE_TYPES = ("image/*", "video/*", "audio/*", ATTACHMENT_TYPE)
FILE_HEADERS: dict[str, Json] = {
    "Content-Disposition": {
        "schema": {"type": "string", "pattern": "^(inline|attachment); filename="},
        "required": True,
        "description": "inline for an image, a video or an audio file, served with its own type; attachment for anything "
                       "else (HTML, SVG, XML, scripts, PDFs, documents), served as application/octet-stream, so a browser "
                       "saves it and never renders it. filename is an ASCII stand-in; filename* (RFC 5987) carries the "
                       "real name when it is not plain printable ASCII.",
    },
    "Content-Security-Policy": {
        "schema": {"type": "string", "enum": [POLICY, INLINE_POLICY]},
        "required": True,
        "description": "Never any script. An attachment has the policy of every answer; an inline image, video or "
                       "audio file lets the browser's own viewer load and style it when it is opened in a tab.",
    },
    "ETag": {"schema": {"type": "string"}, "required": True,
             "description": "The file's version: its mtime and size, or with version= the oid of that version"},
    "Last-Modified": {"schema": {"type": "string"}, "required": True,
                      "description": "The file's mtime, or with version= the commit's time (an HTTP date)"},
}  # fmt: skip
BODY_HEADERS: dict[str, Json] = {
    **FILE_HEADERS,
    "Accept-Ranges": {"schema": {"const": "bytes"}, "required": True, "description": "Single byte ranges are served"},
}
CONTENT_RANGE: dict[str, Json] = {
    "Content-Range": {"schema": {"type": "string", "pattern": r"^bytes \d+-\d+/\d+$"}, "required": True,
                      "description": "The range sent, and the whole size"},
}  # fmt: skip


def _download(summary: str, types: tuple[str, ...], *params: Json, body: bool, invalid: tuple[int, ...] = ()) -> Json:
    """GET or HEAD of one stored file (``api.assets.send_file``): Range, ETag, 304, and
    the headers that keep it from ever running as a page."""
    binary: Json = {"content": {kind: {"schema": {}} for kind in types}} if body else {}
    return {
        "summary": summary, "tags": ["assets"], **VIEWER, "parameters": [PROJECT_ID, *params, RANGE, IF_NONE_MATCH],
        "responses": {
            "200": {"description": "The file" if body else "The file's headers", **binary, "headers": BODY_HEADERS},
            "206": {"description": "The range asked for", **binary, "headers": {**BODY_HEADERS, **CONTENT_RANGE}},
            "304": {"description": "The copy held (If-None-Match with the file's ETag) is current", "headers": FILE_HEADERS},
            **errors(400, 404, 416, *invalid, STORAGE),
        },
    }  # fmt: skip


ROUTES: tuple[Route, ...] = (
    Route("/api/v1/projects", ProjectsResource, operations={
        "get": {
            "summary": "Projects with their status: one page of a view (search, status, order)", **VIEWER, "tags": ["projects"],
            "parameters": [
                param("status", "query", {"type": "string", "enum": [p.value for p in Phase]}, "Only projects in this status"),
                param("q", "query", {"type": "string", "maxLength": MAX_QUERY},
                      "Only projects whose name contains this, ignoring case (both sides NFC-normalised and case-folded, "
                      "so Unicode letters match whatever their case or composition); empty: all"),
                param("sort", "query", {"type": "string", "enum": list(SORTS), "default": "newest"},
                      "newest: created_at descending, then name; name: by name ignoring case and accents, then id; changed: the "
                      "last commit's time (last_commit_at) descending. In newest and changed a project the controller "
                      "has not reported on yet comes first; in changed, a project without any commit comes last"),
                param("limit", "query", {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT},
                      "At most this many (leave it out for all)"),
                param("offset", "query", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
                      "Skip this many"),
            ],
            "responses": {"200": {**json_body(array_of("Project"), "The projects"),
                                  "headers": {"X-Total-Count": {"schema": {"type": "integer"}, "required": True,
                                                                "description": "Matching projects before limit/offset"},
                                              "X-Status-Counts": {
                                                  "schema": {"type": "string"}, "required": True,
                                                  "description": "A JSON object: how many projects the search (q) matches "
                                                                 "in each status, whatever status asks for, e.g. "
                                                                 '{"pending":0,"processing":1,"ready":41,"failed":2,...}'}}},
                          **errors(422, STORAGE)},
        },
        "post": {
            "summary": "Create a project (writes its spec, waits until it is ready)", **EDITOR, "tags": ["projects"],
            "description": "201 once ready (or at once with status processing if process_async). If the controller "
                           "fails it for good, the spec is removed again and the answer is 409 (a foreign folder has "
                           "the name) or 422; if convergence outlasts the timeout, 202 with the status so far.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("ProjectCreate")}}},
            "responses": {"201": PROJECT, "202": WAITED, **errors(409, *JSON_BODY, STORAGE)},
        },
    }),
    Route("/api/v1/projects/{project_id}", ProjectsResource, "item", operations={
        "get": {"summary": "One project", **VIEWER, "tags": ["projects"], "parameters": [PROJECT_ID],
                "responses": {"200": PROJECT, **errors(404, STORAGE)}},
        "patch": {
            "summary": "Change quality and/or description (edits the spec, waits for convergence)", **EDITOR, "tags": ["projects"],
            "parameters": [PROJECT_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("ProjectPatch")}}},
            "responses": {"200": PROJECT, "202": WAITED, **errors(404, 409, *JSON_BODY, STORAGE)},
        },
        "delete": {
            "summary": "Remove the spec and wait until the folder has moved to the trash", **EDITOR, "tags": ["projects"],
            "description": "Purging needs the admin role.",
            "parameters": [PROJECT_ID, param("purge", "query", {"type": "boolean", "default": False}, "Also purge it from the trash")],
            "responses": {"204": {"description": "Deleted (and purged, if asked)"},
                          "202": {"description": "Not finished within the timeout",
                                  "content": {"application/json": {"schema": {"oneOf": [ref("Project"), ref("RequestPending")]}}}},
                          **errors(400, 404, 409, STORAGE)},
        },
    }),
    Route("/api/v1/projects/{project_id}/git/status", GitStatusResource, operations={
        "get": {"summary": "The repository's state as the controller recorded it", **VIEWER, "tags": ["projects"],
                "parameters": [PROJECT_ID], "responses": {"200": json_body(ref("GitStatus"), "Git status"), **errors(404, STORAGE)}},
    }),
    Route("/api/v1/projects/{project_id}/history", HistoryResource, operations={
        "get": {"summary": "The project's commits, newest first: who, when, what changed", **VIEWER, "tags": ["projects"],
                "parameters": [PROJECT_ID,
                               param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY, "default": 20},
                                     "At most this many commits"),
                               param("before", "query", {"type": "string", "pattern": COMMIT_PATTERN},
                                     "Only commits older than this one (the previous page's next)")],
                "responses": {"200": json_body(ref("HistoryPage"), "A page of commits"), **errors(404, 422, STORAGE)}},
    }),
    Route("/api/v1/projects/{project_id}/versions", VersionsResource, operations={
        "get": {"summary": "The versions of one asset: the commits that changed it, newest first", **VIEWER,
                "tags": ["assets"],
                "description": "Each commit that added, modified or deleted the file along first parents from the head "
                               "(as git log -- <path> lists them). 404 when the file has no versions; 422 for a path that "
                               "is not an asset (not under assets/ or outputs/, '..', .git).",
                "parameters": [PROJECT_ID,
                               param("path", "query", {"type": "string", "pattern": ASSET_PATH_PATTERN},
                                     "The asset's path inside the project, e.g. assets/audio/take.wav", required=True),
                               param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_VERSIONS, "default": 50},
                                     "At most this many versions"),
                               param("before", "query", {"type": "string", "pattern": COMMIT_PATTERN},
                                     "Only versions older than this commit (the previous page's next)")],
                "responses": {"200": json_body(ref("VersionsPage"), "A page of versions"), **errors(404, 422, STORAGE)}},
    }),
    Route("/api/v1/projects/{project_id}/versions/restore", VersionsResource, "restore", operations={
        "post": {"summary": "Make an old version of an asset the current file again (a new commit, by a job)", **EDITOR,
                 "tags": ["assets"],
                 "description": "Checked before anything is queued: path must be an asset inside a type folder (422), "
                                "version a commit of the project holding that file with its bytes at hand (409). The job "
                                "commits the old bytes as the person asking; follow its upload.* events by upload_id.",
                 "parameters": [PROJECT_ID],
                 "requestBody": {"required": True, "content": {"application/json": {"schema": ref("RestoreRequest")}}},
                 "responses": {"202": json_body(ref("RestoreAccepted"), "Queued"), **errors(404, 409, *JSON_BODY, STORAGE)}},
    }),
    Route("/api/v1/projects/{project_id}/assets", AssetsResource, operations={
        "get": {"summary": "Every file under assets/ and outputs/", **VIEWER, "tags": ["assets"], "parameters": [PROJECT_ID],
                "responses": {"200": json_body(array_of("AssetInfo"), "The files"), **errors(404, STORAGE)}},
        "post": {
            "summary": "Upload one or many files (streamed; ingested into the project by a job)", **EDITOR, "tags": ["assets"],
            "parameters": [PROJECT_ID, param("asset_type", "query", {"type": "string", "enum": list(TYPE_FOLDERS)},
                                             "Where the files go: assets/<type>/ or outputs/<type>/", required=True)],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": UPLOAD_BODY}}},
            "responses": {"200": json_body(ref("UploadResponse"), "Stored; ingestion follows"),
                          **errors(400, 404, 409, 413, 415, 422, STORAGE, 507)},
        },
    }),
    Route("/api/v1/projects/{project_id}/assets/{path:path}", AssetFileResource, operations={
        "get": _download("Download one file, or an old version of it (Range supported)", FILE_TYPES, FILE_PATH, VERSION,
                         body=True, invalid=(422,)),
        "head": _download("A file's size and type, without the bytes", FILE_TYPES, FILE_PATH, VERSION, body=False,
                          invalid=(422,)),
    }),
    Route("/api/v1/projects/{project_id}/posters/{path:path}", PosterResource, operations={
        "get": {**_download("A video's poster frame (made by a job the assets listing asks for)", ("image/jpeg",), VIDEO_PATH, body=True),
                "description": "A JPEG of one frame of the video at path, at most 640 pixels wide. 404 until the worker "
                               "has made it (listing the assets asks for every missing or stale poster) or once the "
                               "video is gone. Revalidate on every use (Cache-Control: no-cache; ETag)."},
        "head": _download("Whether a video's poster frame exists yet", ("image/jpeg",), VIDEO_PATH, body=False),
    }),
    Route("/api/v1/projects/{project_id}/thumbnails/{path:path}", ThumbnailResource, operations={
        "get": {**_download("An image's thumbnail (made by a job this asks for)", ("image/jpeg",), IMAGE_PATH, body=True),
                "description": "A JPEG of the image at path (PNG, JPEG, TIFF, EXR, PSD, DPX and whatever else ffmpeg "
                               "decodes), fitting in 640x640 pixels, made from the bytes last committed and kept for them "
                               "(by their LFS oid). 404 with the code not_ready and a Retry-After while it is being made "
                               "(asking enqueues the job) or while the file is not committed yet; 404 with the code "
                               "undecodable when ffmpeg cannot decode those bytes (never tried again); 404 when there "
                               "is no such image. Revalidate on every use (Cache-Control: no-cache; ETag)."},
        "head": _download("Whether an image's thumbnail exists yet (asks for it if not)", ("image/jpeg",), IMAGE_PATH,
                          body=False),
    }),
    Route("/api/v1/trash", TrashResource, operations={
        "get": {"summary": "Deleted projects, newest first", **VIEWER, "tags": ["trash"],
                "responses": {"200": json_body(array_of("TrashItem"), "The trash"), **errors(STORAGE)}},
    }),
    Route("/api/v1/trash/{entry}", TrashResource, "item", operations={
        "get": {"summary": "One trash entry", **VIEWER, "tags": ["trash"], "parameters": [ENTRY],
                "responses": {"200": json_body(ref("TrashItem"), "The entry"), **errors(404, STORAGE)}},
        "delete": {"summary": "Purge an entry for good (done by the controller)", **ADMIN, "tags": ["trash"], "parameters": [ENTRY],
                   "responses": {"204": {"description": "Purged"}, "202": PENDING, **errors(404, 409, STORAGE)}},
    }),
    Route("/api/v1/trash/{entry}/restore", TrashResource, "restore", operations={
        "post": {"summary": "Restore an entry into the workspace (done by the controller)", **EDITOR, "tags": ["trash"],
                 "parameters": [ENTRY], "responses": {"200": PROJECT, "202": PENDING, **errors(404, 409, 500, STORAGE)}},
    }),
    Route("/api/v1/audit", AuditResource, operations={
        "get": {
            "summary": "Who did what, newest first (creates, edits, uploads, deletes, restores, purges)", **ADMIN,
            "tags": ["audit"],
            "parameters": [
                param("project", "query", {"type": "string"}, "Only entries about this project (its id; a name is mapped to its id)"),
                param("actor", "query", {"type": "string"}, "Only entries by this person (their name)"),
                param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_AUDIT_LIMIT, "default": 100},
                      "At most this many"),
                param("before", "query", {"type": "integer", "minimum": 0, "maximum": MAX_BEFORE},
                      "The next of the previous page: only entries older than those it held"),
            ],
            "responses": {"200": json_body(ref("AuditPage"), "A page of the audit log"), **errors(422, STORAGE)},
        },
    }),
    Route("/api/v1/events", EventsResource, websocket={
        "summary": "Live events (a WebSocket: connect with an upgrade; a plain GET answers 405; a refused handshake 403)", **VIEWER,
        "description": "Each message is an Event (see components). With since, everything after that event id is "
                       "replayed first, or a resync event is sent when the id is too old or malformed. A keepalive "
                       "event with an empty id comes after 20 idle seconds (by default).",
        "parameters": [param("since", "query", {"type": "string"}, "Last event id seen (<ms>-<seq>)")],
        "message": ref("Event"),
    }),
    Route("/api/v1/session", SessionResource, operations={
        "get": {**VIEWER, "summary": "Who the request acts as (with auth off: nobody, and everyone may do everything)",
                "tags": ["people"], "responses": {"200": json_body(ref("Whoami"), "The person and their role"), **errors(STORAGE)}},
        "post": {**ANYONE, "summary": "Sign in (AUTEUR_AUTH=on): sets the session and CSRF cookies", "tags": ["people"],
                 "description": f"The answer's csrf_token (also in the auteur_csrf cookie) goes in {CSRF_HEADER} on every "
                                "state-changing request made with the session cookie. Failed sign-ins from one address "
                                "are answered 429 for a while.",
                 "requestBody": {"required": True, "content": {"application/json": {"schema": ref("SignIn")}}},
                 "responses": {"200": json_body(ref("Whoami"), "Signed in"), **errors(401, 409, 429, *JSON_BODY, STORAGE)}},
        "delete": {**ANYONE, "summary": "Sign out: closes the session and clears its cookies", "tags": ["people"],
                   "responses": {"204": {"description": "Signed out"}, **errors(STORAGE)}},
    }),
    Route("/api/v1/tokens", TokensResource, operations={
        "get": {**ADMIN, "summary": "The tokens (never their secrets)", "tags": ["people"],
                "responses": {"200": json_body(array_of("TokenInfo"), "The tokens"), **errors(STORAGE)}},
        "post": {**ADMIN, "summary": "Create a token acting as the user it names; its secret is shown once",
                 "tags": ["people"],
                 "requestBody": {"required": True, "content": {"application/json": {"schema": ref("TokenCreate")}}},
                 "responses": {"201": json_body(ref("TokenCreated"), "The token (keep it: only its hash is stored)"),
                               **errors(409, *JSON_BODY, STORAGE)}},
    }),
    Route("/api/v1/tokens/{name}", TokensResource, "item", operations={
        "get": {**ADMIN, "summary": "One token", "tags": ["people"], "parameters": [TOKEN_NAME],
                "responses": {"200": json_body(ref("TokenInfo"), "The token"), **errors(404, STORAGE)}},
        "delete": {**ADMIN, "summary": "Revoke a token (on every replica at its next request)", "tags": ["people"],
                   "parameters": [TOKEN_NAME], "responses": {"204": {"description": "Revoked"}, **errors(404, STORAGE)}},
    }),
    Route("/health", HealthResource, operations={
        "get": {"summary": "healthy, degraded (200) or unhealthy (503)", "tags": ["operations"],
                "responses": {"200": json_body(ref("Health"), "Serving"), "503": json_body(ref("Health"), "Cannot serve")}},
    }),
    Route("/health/live", LiveResource, operations={
        "get": {"summary": "200 while the process runs", "tags": ["operations"], "responses": {"200": {"description": "Alive"}}},
    }),
    Route("/metrics", MetricsResource, operations={
        "get": {"summary": "Prometheus metrics of this process", "tags": ["operations"],
                "responses": {"200": {"description": "Prometheus text", "content": {"text/plain": {"schema": {"type": "string"}}}}}},
    }),
    Route("/openapi.json", OpenApiResource, operations={
        "get": {"summary": "This document", "tags": ["operations"],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}},
    }),
)  # fmt: skip
