"""The shared view of uploads in Redis: where each one is, for every replica to read.

Written by the API while it receives an upload (``api.uploads``) and by the worker
while it ingests it (``worker.ingesting``); read by whoever wants to show progress
across replicas. Redis mode keeps one hash per project, ``upload:project:<id>``,
whose fields are upload ids and whose values are the upload's latest state as
JSON (``status``, ``filename``, ``received``/``total`` while it arrives, then the
record's summary). The volume's upload record stays the source of truth: this view
is a courtesy, so a write that fails (Redis away) is logged and dropped, never
raised, and the next state change writes the whole state again.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import msgspec
import redis

log = logging.getLogger("auteur.uploadviews")

KEY = "upload:project:{}"
# A project's hash goes away this long after its last upload changed state.
KEEP_SECONDS = 7 * 24 * 3600

_encoder = msgspec.json.Encoder()


def key_of(project_id: str) -> str:
    return KEY.format(project_id)


class UploadView(Protocol):
    def update(self, project_id: str, upload_id: str, state: dict[str, Any]) -> None: ...


class NoUploadView:
    """The embedded default: the records on the volume are the only view."""

    def update(self, project_id: str, upload_id: str, state: dict[str, Any]) -> None:
        pass


class RedisUploadView:
    """``HSET upload:project:<id> <upload_id> <json>``, with the hash's expiry renewed."""

    def __init__(self, client: redis.Redis, keep_seconds: int = KEEP_SECONDS) -> None:
        self.redis, self.keep_seconds = client, keep_seconds

    def update(self, project_id: str, upload_id: str, state: dict[str, Any]) -> None:
        value = _encoder.encode({"upload_id": upload_id, "project_id": project_id, **state, "updated_at": time.time()})
        key = key_of(project_id)
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(key, upload_id, value)
                pipe.expire(key, self.keep_seconds)
                pipe.execute()
        except redis.RedisError as exc:
            log.info("upload %s: state %s not recorded in Redis: %s", upload_id, state.get("status"), exc)

    def read(self, project_id: str) -> dict[str, dict[str, Any]]:
        """Every upload of the project Redis knows about, by upload id."""
        raw: dict[bytes, bytes] = self.redis.hgetall(key_of(project_id))  # type: ignore[assignment]
        return {field.decode(): msgspec.json.decode(value) for field, value in raw.items()}
