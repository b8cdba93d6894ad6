"""One error shape for every failure: ``{"error": {"code", "field", "message"}}``.

``install_error_handlers(app)`` is called by ``api.app.create_app``; resources raise
:class:`ApiError` (or any ``falcon.HTTPError``) through the helpers below, and decode
request bodies with :func:`decode_json` so msgspec's messages become clear 4xx
answers naming the field (worded by ``auteur.validation``, as spec errors are).
Unknown exceptions become a 500 that leaks nothing.
"""

from __future__ import annotations

import errno
import http
import logging
import os
import re
from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

import falcon
import falcon.asgi
import msgspec

from auteur import logs
from auteur.validation import explain_validation

log = logging.getLogger("auteur.api")

T = TypeVar("T")

_PARAM = re.compile(r'^The "([^"]+)" (?:parameter|header)')
_encoder = msgspec.json.Encoder()


class ApiError(falcon.HTTPError):
    """An HTTP error with the machine-readable ``code`` and the ``field`` it is about."""

    def __init__(self, status: int, message: str, *, code: str | None = None, field: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(status, description=message, headers=dict(headers) if headers else None)
        self.error_code = code or code_for(status)
        self.field = field
        self.message = message


def code_for(status: int) -> str:
    """``422`` → ``unprocessable_entity``: a stable code derived from the status."""
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        return "error"
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")


def error_body(code: str, message: str, field: str | None = None) -> bytes:
    """The one error shape, with the id of the request it answers (``auteur.logs``: in its log lines too)."""
    return _encoder.encode({"error": {"code": code, "field": field, "message": message, "request_id": logs.current("request_id")}})


# -- raising helpers ------------------------------------------------------------


def invalid(message: str, field: str | None = None, *, code: str = "invalid") -> NoReturn:
    """422: the request is well-formed but a value is not acceptable."""
    raise ApiError(422, message, code=code, field=field)


def not_found(message: str, field: str | None = None) -> NoReturn:
    raise ApiError(404, message, code="not_found", field=field)


def conflict(message: str, field: str | None = None) -> NoReturn:
    raise ApiError(409, message, code="conflict", field=field)


def bad_request(message: str, field: str | None = None, *, code: str = "bad_request") -> NoReturn:
    raise ApiError(400, message, code=code, field=field)


def strict_bool(req: falcon.asgi.Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as the published schema states it: ``true`` or ``false``.

    Falcon's own reading takes ``yes``, ``1`` and even an empty value as true, so ``?purge=``
    would purge; anything but the two words is a 400 naming the parameter.
    """
    value = req.get_param(name)
    if value is None:
        return default
    if value in ("true", "false"):
        return value == "true"
    bad_request(f"{name} must be true or false, not {value!r}", name)


def count_param(req: falcon.asgi.Request, name: str, maximum: int, minimum: int = 0) -> int | None:
    """A whole-number query parameter from ``minimum`` to ``maximum``; 422 naming it otherwise."""
    raw = req.get_param(name)
    if raw is None:
        return None
    # Digits only (no sign, no spaces), and at most as many as the maximum has, before int() sees it.
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(maximum)) or not minimum <= int(raw) <= maximum:
        invalid(f"{name} must be a whole number from {minimum} to {maximum} (got {raw!r})", name)
    return int(raw)


# -- request bodies --------------------------------------------------------------


def decode_json(data: bytes, kind: type[T]) -> T:
    """Decode and validate a JSON body; raise 400 (malformed) or 422 (invalid) with the field."""
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        field, message = explain_validation(exc, kind)
        raise ApiError(422, message, code="invalid", field=field) from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc}", code="malformed_json") from None
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"malformed JSON: not valid UTF-8 at byte {exc.start}", code="malformed_json") from None


# -- handlers --------------------------------------------------------------------


def _respond(resp: falcon.asgi.Response, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
    resp.status = status
    if headers:
        for name, value in headers.items():
            if name.lower() != "content-type":
                resp.set_header(name, value)
    resp.content_type = falcon.MEDIA_JSON
    resp.data = body


def _default_message(req: falcon.asgi.Request, ex: falcon.HTTPError) -> str:
    if ex.status_code == 404:
        return f"nothing at {req.path}"
    if ex.status_code == 405:
        allowed = (ex.headers or {}).get("Allow", "") if isinstance(ex.headers, dict) else ""
        return f"{req.method} is not allowed on {req.path}" + (f" (allowed: {allowed})" if allowed else "")
    return str(ex.title or code_for(ex.status_code))


async def _on_http_error(req: falcon.asgi.Request, resp: falcon.asgi.Response | None, ex: falcon.HTTPError,
                         params: dict[str, Any], ws: object = None) -> None:  # fmt: skip
    if resp is None:
        raise ex  # a WebSocket: falcon closes it with 3000 + status
    if isinstance(ex, ApiError):
        code, field, message = ex.error_code, ex.field, ex.message
    else:
        message = str(ex.description or _default_message(req, ex))
        match = _PARAM.match(message)
        field = match.group(1) if match else None
        code = code_for(ex.status_code)
    headers = ex.headers
    _respond(resp, ex.status_code, error_body(code, message, field), dict(headers) if headers else None)


async def _on_validation_error(req: falcon.asgi.Request, resp: falcon.asgi.Response | None, ex: msgspec.ValidationError,
                               params: dict[str, Any], ws: object = None) -> None:  # fmt: skip
    field, message = explain_validation(ex)
    if resp is None:
        raise falcon.HTTPUnprocessableEntity(description=message)
    _respond(resp, 422, error_body("invalid", message, field))


async def _on_decode_error(req: falcon.asgi.Request, resp: falcon.asgi.Response | None, ex: msgspec.DecodeError,
                           params: dict[str, Any], ws: object = None) -> None:  # fmt: skip
    if resp is None:
        raise falcon.HTTPBadRequest(description="malformed JSON")
    _respond(resp, 400, error_body("malformed_json", f"malformed JSON: {ex}"))


async def _on_exception(req: falcon.asgi.Request, resp: falcon.asgi.Response | None, ex: Exception,
                        params: dict[str, Any], ws: object = None) -> None:  # fmt: skip
    log.error("unhandled error on %s %s", req.method, req.path, exc_info=ex)
    if resp is None:
        raise falcon.HTTPInternalServerError()
    _respond(resp, 500, error_body("internal_error", "internal server error; the details are in the server's log"))


_STORAGE_ERRNOS = {errno.EACCES: "not writable", errno.EPERM: "not writable", errno.EROFS: "read-only", errno.ENOSPC: "full",
                   errno.EDQUOT: "over its quota"}  # fmt: skip


async def _on_os_error(req: falcon.asgi.Request, resp: falcon.asgi.Response | None, ex: OSError,
                       params: dict[str, Any], ws: object = None) -> None:  # fmt: skip
    """The volume refused a write (permissions, read-only, full): 503 naming the folder, not a 500."""
    problem = _STORAGE_ERRNOS.get(ex.errno or 0)
    if problem is None:
        return await _on_exception(req, resp, ex, params, ws)
    where = os.path.dirname(ex.filename) if isinstance(ex.filename, str) else "the workspace volume"
    log.error("storage refused %s %s: %s", req.method, req.path, ex)
    if resp is None:
        raise falcon.HTTPServiceUnavailable()
    message = f"the server cannot store this: {where} is {problem} for the service (uid {os.getuid()}); see /health"
    _respond(resp, 503, error_body("storage_unavailable", message))


def install_error_handlers(app: falcon.asgi.App[Any, Any]) -> None:
    """Register the handlers; falcon picks the most specific one for each exception."""
    app.add_error_handler(Exception, _on_exception)
    app.add_error_handler(falcon.HTTPError, _on_http_error)
    app.add_error_handler(OSError, _on_os_error)
    # msgspec.DecodeError is the base of ValidationError: the more specific handler wins.
    app.add_error_handler(msgspec.DecodeError, _on_decode_error)
    app.add_error_handler(msgspec.ValidationError, _on_validation_error)
