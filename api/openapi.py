"""``GET /openapi.json``: the OpenAPI 3.1 document of every route in ``api.app``.

Routed by ``api.app.create_app``; read by people, client generators and the tests
(which validate it and check that every route and method of the app is in it). The
schemas are generated from the msgspec structs in ``api.schemas``; the paths are
declared here, next to the contract decisions they document.
"""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi
import msgspec

from api.assets import AssetInfo
from api.config import ApiConfig
from api.schemas import COMPONENTS
from api.uploads import UploadResponse
from auteur.events import Event
from auteur.layout import TYPE_FOLDERS
from auteur.status import HIDDEN_FIELDS, Phase

REF = "#/components/schemas/{name}"
Json = dict[str, Any]


def ref(name: str) -> Json:
    return {"$ref": REF.format(name=name)}


def json_body(schema: Json, description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def array_of(name: str) -> Json:
    return {"type": "array", "items": ref(name)}


def errors(*codes: int) -> dict[str, Json]:
    why = {
        400: "Malformed JSON or a malformed parameter",
        404: "No such project or trash entry",
        409: "Conflicts with what exists (duplicate name, foreign folder, unmanaged project)",
        413: "The body is larger than allowed",
        415: "Wrong content type",
        416: "The range cannot be satisfied",
        422: "A value is not acceptable; `field` names it",
        507: "Not enough free space on the volume",
    }
    return {str(code): json_body(ref("Error"), why[code]) for code in codes}


def param(name: str, where: str, schema: Json, description: str, required: bool = False) -> Json:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema, "description": description}


PROJECT_ID = param("project_id", "path", {"type": "string"}, "The project's id (a name is accepted and mapped to its id)")
ENTRY = param("entry", "path", {"type": "string"}, "A trash entry name, or a project id or name (the newest entry wins)")
PROJECT = json_body(ref("Project"), "The project")
WAITED = json_body(ref("Project"), "The controller has not converged within the timeout: the status so far")
PENDING = json_body(ref("RequestPending"), "The controller has not answered yet; the request stays queued")
JSON_BODY_ERRORS = errors(400, 413, 415, 422)


def paths() -> dict[str, Json]:
    project = {
        "get": {"summary": "One project", "tags": ["projects"], "parameters": [PROJECT_ID],
                "responses": {"200": PROJECT, **errors(404)}},
        "patch": {
            "summary": "Change quality and/or description (edits the spec, waits for convergence)", "tags": ["projects"],
            "parameters": [PROJECT_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("ProjectPatch")}}},
            "responses": {"200": PROJECT, "202": WAITED, **errors(404, 409), **JSON_BODY_ERRORS},
        },
        "delete": {
            "summary": "Remove the spec and wait until the folder has moved to the trash", "tags": ["projects"],
            "parameters": [PROJECT_ID, param("purge", "query", {"type": "boolean", "default": False}, "Also purge it from the trash")],
            "responses": {"204": {"description": "Deleted (and purged, if asked)"},
                          "202": {"description": "Not finished within the timeout",
                                  "content": {"application/json": {"schema": {"oneOf": [ref("Project"), ref("RequestPending")]}}}},
                          **errors(400, 404, 409)},
        },
    }  # fmt: skip
    return {
        "/api/v1/projects": {
            "get": {
                "summary": "Projects with their status, newest first", "tags": ["projects"],
                "parameters": [
                    param("status", "query", {"type": "string", "enum": [p.value for p in Phase]}, "Only projects in this status"),
                    param("limit", "query", {"type": "integer", "minimum": 0}, "At most this many"),
                    param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "Skip this many"),
                ],
                "responses": {"200": {**json_body(array_of("Project"), "The projects"),
                                      "headers": {"X-Total-Count": {"schema": {"type": "integer"},
                                                                    "description": "Matching projects before limit/offset"}}},
                              **errors(422)},
            },
            "post": {
                "summary": "Create a project (writes its spec, waits until it is ready)", "tags": ["projects"],
                "description": "201 once ready (or at once with status processing if process_async). If the controller "
                               "fails it for good, the spec is removed again and the answer is 409 (a foreign folder has "
                               "the name) or 422; if convergence outlasts the timeout, 202 with the status so far.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("ProjectCreate")}}},
                "responses": {"201": PROJECT, "202": WAITED, **errors(409), **JSON_BODY_ERRORS},
            },
        },
        "/api/v1/projects/{project_id}": project,
        "/api/v1/projects/{project_id}/git/status": {
            "get": {"summary": "The repository's state as the controller recorded it", "tags": ["projects"],
                    "parameters": [PROJECT_ID], "responses": {"200": json_body(ref("GitStatus"), "Git status"), **errors(404)}},
        },
        "/api/v1/projects/{project_id}/assets": {
            "get": {"summary": "Every file under assets/ and outputs/", "tags": ["assets"], "parameters": [PROJECT_ID],
                    "responses": {"200": json_body(array_of("AssetInfo"), "The files"), **errors(404)}},
            "post": {
                "summary": "Upload one or many files (streamed; ingested into the project by a job)", "tags": ["assets"],
                "parameters": [PROJECT_ID, param("asset_type", "query", {"type": "string", "enum": list(TYPE_FOLDERS)},
                                                 "Where the files go: assets/<type>/ or outputs/<type>/", required=True)],
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["files"],
                    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}},
                "responses": {"200": json_body(ref("UploadResponse"), "Stored; ingestion follows"),
                              **errors(400, 404, 413, 415, 422, 507)},
            },
        },
        "/api/v1/projects/{project_id}/assets/{path}": {
            "get": {"summary": "Download one file (Range supported)", "tags": ["assets"],
                    "parameters": [PROJECT_ID, param("path", "path", {"type": "string"}, "Path inside the project"),
                                   param("Range", "header", {"type": "string"}, "e.g. bytes=0-1023")],
                    "responses": {"200": {"description": "The file", "content": {"application/octet-stream": {"schema": {}}}},
                                  "206": {"description": "Part of the file", "content": {"application/octet-stream": {"schema": {}}}},
                                  "304": {"description": "The copy held (If-None-Match with the file's ETag) is current"},
                                  **errors(404, 416)}},
            "head": {"summary": "A file's size and type, without the bytes", "tags": ["assets"],
                     "parameters": [PROJECT_ID, param("path", "path", {"type": "string"}, "Path inside the project")],
                     "responses": {"200": {"description": "The file's headers"}, **errors(404)}},
        },
        "/api/v1/projects/{project_id}/posters/{path}": {
            "get": {"summary": "A video's poster frame (made by a job the assets listing asks for)", "tags": ["assets"],
                    "description": "A JPEG of one frame of the video at path, at most 640 pixels wide. 404 until the worker "
                                   "has made it (listing the assets asks for every missing or stale poster) or once the "
                                   "video is gone. Revalidate on every use (Cache-Control: no-cache; ETag).",
                    "parameters": [PROJECT_ID, param("path", "path", {"type": "string"}, "The video's path inside the project"),
                                   param("If-None-Match", "header", {"type": "string"}, "The ETag of the poster held")],
                    "responses": {"200": {"description": "The poster", "content": {"image/jpeg": {"schema": {}}}},
                                  "304": {"description": "The poster held is current"},
                                  **errors(400, 404)}},
            "head": {"summary": "Whether a video's poster frame exists yet", "tags": ["assets"],
                     "parameters": [PROJECT_ID, param("path", "path", {"type": "string"}, "The video's path inside the project")],
                     "responses": {"200": {"description": "The poster's headers"}, **errors(400, 404)}},
        },
        "/api/v1/trash": {
            "get": {"summary": "Deleted projects, newest first", "tags": ["trash"],
                    "responses": {"200": json_body(array_of("TrashItem"), "The trash")}},
        },
        "/api/v1/trash/{entry}": {
            "get": {"summary": "One trash entry", "tags": ["trash"], "parameters": [ENTRY],
                    "responses": {"200": json_body(ref("TrashItem"), "The entry"), **errors(404)}},
            "delete": {"summary": "Purge an entry for good (done by the controller)", "tags": ["trash"], "parameters": [ENTRY],
                       "responses": {"204": {"description": "Purged"}, "202": PENDING, **errors(404, 409)}},
        },
        "/api/v1/trash/{entry}/restore": {
            "post": {"summary": "Restore an entry into the workspace (done by the controller)", "tags": ["trash"],
                     "parameters": [ENTRY], "responses": {"200": PROJECT, "202": PENDING, **errors(404, 409)}},
        },
        "/api/v1/events": {
            "get": {"summary": "WebSocket: live events", "tags": ["events"],
                    "description": "Upgrade to a WebSocket; each message is an Event. With since, everything after that "
                                   "event id is replayed first, or a resync event is sent when the id is too old.",
                    "parameters": [param("since", "query", {"type": "string"}, "Last event id seen (<ms>-<seq>)")],
                    "responses": {"101": json_body(ref("Event"), "Switching to the WebSocket protocol")}},
        },
        "/health": {
            "get": {"summary": "healthy, degraded (200) or unhealthy (503)", "tags": ["operations"],
                    "responses": {"200": json_body(ref("Health"), "Serving"), "503": json_body(ref("Health"), "Cannot serve")}},
        },
        "/health/live": {
            "get": {"summary": "200 while the process runs", "tags": ["operations"], "responses": {"200": {"description": "Alive"}}},
        },
        "/metrics": {
            "get": {"summary": "Prometheus metrics of this process", "tags": ["operations"],
                    "responses": {"200": {"description": "Prometheus text", "content": {"text/plain": {"schema": {"type": "string"}}}}}},
        },
        "/openapi.json": {
            "get": {"summary": "This document", "tags": ["operations"],
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}},
        },
    }  # fmt: skip


def build_document(server_url: str | None = None) -> Json:
    # The assets and events modules own their answers' structs: document those very structs.
    _, components = msgspec.json.schema_components((*COMPONENTS, AssetInfo, UploadResponse, Event), ref_template=REF)
    project = components["Project"]
    for name in HIDDEN_FIELDS:
        project["properties"].pop(name, None)
    project["required"] = [f for f in project.get("required", []) if f not in HIDDEN_FIELDS]
    document: Json = {
        "openapi": "3.1.0",
        "info": {
            "title": "Auteur API",
            "version": "1.0.0",
            "description": "Film projects as folders with git + LFS, shaped by a reconciler from spec files. "
            'Every error answers {"error": {"code", "field", "message"}}.',
        },
        "paths": _with_operation_ids(paths()),
        "components": {"schemas": components},
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


def _with_operation_ids(declared: dict[str, Json]) -> dict[str, Json]:
    for path, item in declared.items():
        for method, operation in item.items():
            words = [w.strip("{}").replace(".", "_") for w in path.split("/") if w and w not in ("api", "v1")]
            operation["operationId"] = "_".join([method, *words]).replace("-", "_")
    return declared


class OpenApiResource:
    """Serves the document, built once."""

    def __init__(self, config: ApiConfig) -> None:
        self.config = config
        self._body: bytes | None = None

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if self._body is None:
            self._body = msgspec.json.encode(build_document(self.config.settings.public_api_url))
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._body
