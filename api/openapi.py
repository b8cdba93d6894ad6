"""The OpenAPI 3.1 document, generated from the route table, and ``GET /openapi.json``.

``Route`` is one entry of the table in ``api.routes``: falcon's URI template, the
resource class that answers it, the responder suffix, and the OpenAPI operation
of each method it answers. ``api.app.create_app`` adds every entry as a route and
``build_document`` turns the same entries into the document, so a route cannot
exist without its documentation (``Route.check`` compares the documented methods
with the resource's responders). The schemas come from the msgspec structs in
``api.schemas`` and the modules that own their answers; every response states the
headers every answer carries (``api.safety.ANSWER_HEADERS``). The one WebSocket is not
an HTTP operation: it is described under ``x-websockets``, outside ``paths``.

Read by people, client generators, the tests and the contract fuzzer
(``tests/api/test_contract.py`` runs schemathesis against it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import falcon
import falcon.asgi
import falcon.constants
import msgspec

from api.assets import AssetInfo
from api.config import ApiConfig
from api.history import HistoryPage
from api.safety import ANSWER_HEADERS
from api.schemas import COMPONENTS
from api.uploads import UploadResponse
from api.versions import RestoreAccepted, RestoreRequest, VersionsPage
from auteur.audit import AuditPage
from auteur.events import Event
from auteur.status import HIDDEN_FIELDS

REF = "#/components/schemas/{name}"
Json = dict[str, Any]
WEBSOCKET = "websocket"
_CONVERTER = re.compile(r"\{(\w+):[^}]+\}")


@dataclass(frozen=True)
class Route:
    """One URL of the API and everything it answers.

    ``template`` is falcon's (converters included); ``operations`` maps each HTTP
    method, lower case, to its OpenAPI operation object; ``websocket`` describes a
    WebSocket on the same URL (documented under ``x-websockets``).
    """

    template: str
    resource: type
    suffix: str | None = None
    operations: Mapping[str, Json] = field(default_factory=dict)
    websocket: Json | None = None

    @property
    def path(self) -> str:
        """The template as OpenAPI spells it: ``{path:path}`` becomes ``{path}``."""
        return _CONVERTER.sub(r"{\1}", self.template)

    def documented(self) -> set[str]:
        return set(self.operations) | ({WEBSOCKET} if self.websocket is not None else set())

    def responders(self) -> set[str]:
        """The methods the resource class answers on this route (falcon's ``on_<method>[_<suffix>]``)."""
        tail = f"_{self.suffix}" if self.suffix else ""
        return {m.lower() for m in falcon.constants.COMBINED_METHODS if callable(getattr(self.resource, f"on_{m.lower()}{tail}", None))}

    def check(self) -> None:
        """Raise unless every responder is documented and every documented method has a responder."""
        undocumented, missing = self.responders() - self.documented(), self.documented() - self.responders()
        if undocumented or missing:
            raise TypeError(f"{self.template}: {self.resource.__name__} answers {sorted(undocumented)} undocumented; "
                            f"{sorted(missing)} are documented without a responder")  # fmt: skip


# -- pieces of operations, used by api.routes ---------------------------------------


def ref(name: str) -> Json:
    return {"$ref": REF.format(name=name)}


def json_body(schema: Json, description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def array_of(name: str) -> Json:
    return {"type": "array", "items": ref(name)}


_WHY = {
    400: "Malformed JSON, multipart body, path or parameter",
    401: "No credential, or one that is not valid (auth on): sign in or send a bearer token",
    403: "Refused: a cross-site request (Origin or Referer not allowed), a session request without its CSRF token, or a role that may not",
    404: "No such project, file or trash entry",
    409: "Conflicts with what exists (duplicate name, foreign folder, unmanaged project, no folder yet)",
    413: "The body is larger than allowed",
    415: "Wrong content type",
    416: "The range cannot be satisfied",
    422: "A value is not acceptable; `field` names it",
    429: "Too many failed sign-ins or bad tokens from this address; wait for Retry-After seconds",
    500: "The controller answered but its result cannot be read (the details are in the server's log)",
    503: "The workspace volume refused the work (not writable, read-only or full): code `storage_unavailable`; see /health",
    507: "Not enough free space on the volume",
}


def errors(*codes: int) -> dict[str, Json]:
    """The error answers ``codes``, each with the one error shape."""
    return {str(code): json_body(ref("Error"), _WHY[code]) for code in codes}


def param(name: str, where: str, schema: Json, description: str, required: bool = False) -> Json:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema, "description": description}


# -- the document -----------------------------------------------------------------------


def build_document(routes: Sequence[Route], server_url: str | None = None, auth: str = "off") -> Json:
    """The document; with ``auth`` on or proxy, the bearer and cookie schemes and every 401/403 they bring."""
    # The assets, events and audit modules own their answers' structs: document those very structs.
    _, components = msgspec.json.schema_components(
        (*COMPONENTS, AssetInfo, UploadResponse, Event, AuditPage, HistoryPage, VersionsPage, RestoreRequest, RestoreAccepted),
        ref_template=REF,
    )
    project = components["Project"]
    for name in HIDDEN_FIELDS:
        project["properties"].pop(name, None)
    project["required"] = [f for f in project.get("required", []) if f not in HIDDEN_FIELDS]
    paths: dict[str, Json] = {}
    websockets: dict[str, Json] = {}
    for route in routes:
        if route.operations:
            paths[route.path] = {method: _secured(route.path, method, operation, auth)
                                 for method, operation in route.operations.items()}  # fmt: skip
        if route.websocket is not None:
            websockets[route.path] = route.websocket
    document: Json = {
        "openapi": "3.1.0",
        "info": {
            "title": "Auteur API",
            "version": "1.0.0",
            "description": "Film projects as folders with git + LFS, shaped by a reconciler from spec files. "
            'Every error answers {"error": {"code", "field", "message"}}. '
            "The live events are a WebSocket, not an HTTP operation: see x-websockets.",
        },
        "paths": paths,
        "x-websockets": websockets,
        "components": {"schemas": components},
    }
    if auth != "off":
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "A token from POST /api/v1/tokens or `auteur token create`"},
            "session": {"type": "apiKey", "in": "cookie", "name": "auteur_session",
                        "description": "Set by POST /api/v1/session; state-changing requests also send X-CSRF-Token"},
        }  # fmt: skip
        document["security"] = [{"bearer": []}, {"session": []}]
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


def _secured(path: str, method: str, operation: Json, auth: str) -> Json:
    """The operation with its id and the refusals the guard (``api.auth``) may answer."""
    operation = {**operation, "operationId": _operation_id(path, method)}
    role = operation.get("x-auteur-role")
    refusals = []
    if method not in ("get", "head") and path.startswith("/api/"):
        refusals.append(403)  # cross-site, in every mode
    if auth != "off" and role is not None and role != "public":
        refusals += [401, 403, 429]
    elif auth != "off":
        operation["security"] = []  # open: no credential asked
    responses = {**errors(*sorted(set(refusals))), **operation["responses"]} if refusals else operation["responses"]
    operation["responses"] = _with_answer_headers(responses)
    return operation


_ANSWER_HEADERS: dict[str, Json] = {
    "X-Content-Type-Options": {"schema": {"const": ANSWER_HEADERS["X-Content-Type-Options"]}, "required": True,
                               "description": "On every answer: browsers never guess another type"},
    "Content-Security-Policy": {"schema": {"const": ANSWER_HEADERS["Content-Security-Policy"]}, "required": True,
                                "description": "On every answer (a download states its own): nothing the API serves "
                                               "runs script, loads anything or is framed"},
    "X-Request-Id": {"schema": {"type": "string"}, "required": True,
                     "description": "This request's id (the client's X-Request-Id when it sent a sane one): in the "
                                    "server's log lines and in an error's body"},
}  # fmt: skip


def _with_answer_headers(responses: Mapping[str, Json]) -> Json:
    """Every response with the headers of every answer (``api.safety.ANSWER_HEADERS``); a
    header the table states for a response (a download's own policy) wins."""
    return {code: {**response, "headers": {**_ANSWER_HEADERS, **response.get("headers", {})}} for code, response in responses.items()}


def _operation_id(path: str, method: str) -> str:
    words = [w.strip("{}").replace(".", "_") for w in path.split("/") if w and w not in ("api", "v1")]
    return "_".join([method, *words]).replace("-", "_")


class OpenApiResource:
    """Serves the document of ``routes``, built once."""

    def __init__(self, config: ApiConfig, routes: Sequence[Route]) -> None:
        self.config, self.routes = config, routes
        self._body: bytes | None = None

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if self._body is None:
            settings = self.config.settings
            self._body = msgspec.json.encode(build_document(self.routes, settings.public_api_url, settings.auth))
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._body
