"""The Redis view of uploads: one hash per project, for every API replica to read.

Implements ``auteur.uploadviews.UploadView``; built by ``redisbackend.backends_for``
when ``REDIS_URL`` is set. ``upload:project:<id>`` maps upload ids to the upload's
latest state as JSON (``status``, ``filename``, ``received``/``total`` while it
arrives, then the record's summary). The volume's record rules: a write that fails
(Redis away) is logged and dropped, never raised.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
import redis

log = logging.getLogger("auteur.redisbackend.uploadviews")

KEY = "upload:project:{}"
# A project's hash goes away this long after its last upload changed state.
KEEP_SECONDS = 7 * 24 * 3600

_encoder = msgspec.json.Encoder()


def key_of(project_id: str) -> str:
    return KEY.format(project_id)


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
