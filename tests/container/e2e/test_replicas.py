"""Across the replicas: an upload through API replica A is ingested by the worker container
into Git LFS, and its events reach a WebSocket on replica B (through Redis)."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import httpx
from helpers import Events, assert_clean_repository, git, wait_for

from auteur.names import project_id
from auteur.uploads import UploadState, UploadStore
from redisbackend.connection import connect
from redisbackend.uploadviews import RedisUploadView


def test_upload_through_replica_a_is_ingested_by_a_worker_and_events_reach_replica_b(stack):
    a, b = stack.apis
    for api in (a, b):
        health = wait_for(lambda api=api: (h := httpx.get(api + "/health", timeout=30).json())["status"] == "healthy" and h, 60, 0.5,
                          what="a healthy replica")  # fmt: skip
        assert (health["redis"], health["worker"], health["controller"]) == ("connected", "running", "running")
    name = f"Film {secrets.token_hex(3)}"
    key = project_id(name)
    on_b = Events(stack.ws(1))
    try:
        created = httpx.post(a + "/api/v1/projects", json={"name": name}, timeout=60)
        assert created.status_code == 201 and created.json()["status"] == "ready", created.text
        on_b.wait(lambda f: f["type"].startswith("project.") and f["project"].get("id") == key, 30, "the project's event on replica B")

        data = os.urandom(3 << 20)
        answer = httpx.post(f"{a}/api/v1/projects/{key}/assets", params={"asset_type": "audio"},
                            files=[("files", ("take 1.wav", data))], timeout=60)  # fmt: skip
        assert answer.status_code == 200, answer.text
        upload = answer.json()["uploads"][0]
        assert upload["status"] == "stored" and upload["oid"] == hashlib.sha256(data).hexdigest()
        store = UploadStore(stack.workspace / ".auteur")
        wait_for(lambda: store.read(upload["upload_id"]).status is UploadState.COMPLETED, 60, 0.1, what="the upload ingested")
        done = on_b.wait(lambda f: f["type"] == "upload.completed" and f["data"].get("upload_id") == upload["upload_id"], 30,
                         "upload.completed on replica B")  # fmt: skip
        assert done["project"]["id"] == key
        assert any(f["data"].get("upload_id") == upload["upload_id"] for f in on_b.of("upload.progress")), "progress crossed replicas"
    finally:
        on_b.close()

    view = RedisUploadView(connect(stack.redis_url)).read(key)
    assert view[upload["upload_id"]]["status"] == "completed" and view[upload["upload_id"]]["commit"]
    root = stack.workspace / name
    pointer = git(root, "show", "HEAD:assets/audio/take 1.wav")
    assert pointer.startswith("version https://git-lfs") and f"oid sha256:{upload['oid']}" in pointer
    assert (root / "assets/audio/take 1.wav").read_bytes() == data
    assert git(root, "lfs", "fsck").strip().endswith("OK")
    assert_clean_repository(root)
    status = httpx.get(f"{b}/api/v1/projects/{key}/git/status", timeout=30).json()
    assert status["current_commit"] == upload_commit(root) and status["is_dirty"] is False


def upload_commit(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()
