"""The Redis view of uploads (``redisbackend.uploadviews``) against a real redis-server."""

from __future__ import annotations

import json

from redisbackend.connection import connect
from redisbackend.uploadviews import RedisUploadView, key_of


def test_the_upload_view_is_a_hash_per_project_and_never_raises(redis_server):
    view = RedisUploadView(connect(redis_server.url))
    view.update("film", "u1", {"status": "uploading", "received": 10, "total": 100})
    view.update("film", "u1", {"status": "completed", "commit": "abc"})
    view.update("film", "u2", {"status": "stored"})
    raw = redis_server.client().hgetall(key_of("film"))
    assert key_of("film") == "upload:project:film" and set(raw) == {b"u1", b"u2"}
    assert json.loads(raw[b"u1"])["status"] == "completed" and view.read("film")["u2"]["status"] == "stored"
    assert 0 < redis_server.client().ttl(key_of("film")) <= 7 * 86400
    redis_server.stop()
    view.update("film", "u3", {"status": "stored"})  # logged and dropped: the record on the volume rules
