"""How every process logs: readable text by default, one JSON object a line with ``AUTEUR_LOG_FORMAT=json``.

``configure(format)`` is called once by each entry point (``auteur`` / ``python -m controller``,
``python -m api``, ``python -m worker``, ``python -m launcher``). A JSON line has ``time``
(UTC, ISO 8601), ``level``, ``logger`` and ``message``, plus ``request_id``, ``project_id``
and ``upload_id`` where the work has one: the API binds the request id of each request
(``api.app``), the controller the project it reconciles, the ingest the upload and its
project — through context variables, so every line logged within, in any module and in the
worker threads the work hands off to, carries them.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
from collections.abc import Iterator

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FIELDS = ("request_id", "project_id", "upload_id")
_BOUND = {name: contextvars.ContextVar[str | None](name, default=None) for name in FIELDS}


@contextlib.contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    """Every line logged in the block carries these ids (``request_id=``, ``project_id=``, ``upload_id=``)."""
    tokens = [(_BOUND[name], _BOUND[name].set(value)) for name, value in ids.items() if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind(**ids: str | None) -> None:
    """Set ids for the rest of the current context (an ASGI request's task)."""
    for name, value in ids.items():
        _BOUND[name].set(value)


def current(name: str) -> str | None:
    return _BOUND[name].get()


class _WithIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name in FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, _BOUND[name].get())
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        line: dict[str, object] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(format: str = "text", level: int = logging.INFO) -> None:
    """Send every logger's records to stderr as ``format`` (``text`` or ``json``)."""
    handler = logging.StreamHandler()
    handler.addFilter(_WithIds())
    handler.setFormatter(JsonLines() if format == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
