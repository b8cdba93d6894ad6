"""``/api/v1/trash`` and ``DELETE ?purge=true``: real HTTP against the embedded stack;
restore and purge are carried out by the running controller."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import anyio
import falcon.testing
import httpx
from helpers import git, wait_for

from api.app import create_app
from api.config import ApiConfig
from launcher.embedded import EmbeddedStack


@contextlib.contextmanager
def running_stack(settings) -> Iterator[httpx.Client]:
    """A stack of our own, to stop and start again within one test."""
    stack = EmbeddedStack(settings, api_port=0)
    thread = threading.Thread(target=anyio.run, args=(stack.serve,), daemon=True)
    thread.start()
    try:
        assert stack.ready.wait(30), "the embedded stack did not start"
        with httpx.Client(base_url=stack.api_url, timeout=60) as http:
            yield http
    finally:
        stack.stop()
        thread.join(30)


def create(client: httpx.Client, name: str) -> dict:
    response = client.post("/api/v1/projects", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


def trash_folders(settings) -> list[str]:
    root = settings.state / "trash"
    return sorted(n for n in os.listdir(root) if (root / n).is_dir()) if root.exists() else []


def assert_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "field", "message", "request_id"}
    assert error["request_id"] == response.headers["X-Request-Id"], error
    for word in words:
        assert word in error["message"], error


def test_delete_restore_and_purge(client, api_settings, judge):
    created = create(client, "Second Life")
    (api_settings.workspace / "Second Life" / "assets" / "scripts").mkdir(parents=True, exist_ok=True)
    assert client.delete("/api/v1/projects/second-life").status_code == 204
    listed = client.get("/api/v1/trash").json()
    assert len(listed) == 1
    entry = listed[0]
    assert entry["id"] == "second-life" and entry["name"] == "Second Life" and entry["folder"] == "Second Life"
    assert entry["quality"] == "standard" and entry["deleted_at"] > 0 and entry["expires_at"] > entry["deleted_at"]
    assert trash_folders(api_settings) == [entry["entry"]]
    assert client.get(f"/api/v1/trash/{entry['entry']}").json() == entry

    response = client.post(f"/api/v1/trash/{entry['entry']}/restore")
    assert response.status_code == 200, response.text
    restored = response.json()
    assert restored["id"] == "second-life" and restored["status"] == "ready"
    assert restored["current_commit"] == created["current_commit"]
    judge(api_settings.workspace / "Second Life")
    assert client.get("/api/v1/trash").json() == [] and trash_folders(api_settings) == []
    assert client.get("/api/v1/projects/second-life").json()["status"] == "ready"
    assert (api_settings.specs / "Second Life.yaml").exists()

    assert client.delete("/api/v1/projects/second-life").status_code == 204
    entry = client.get("/api/v1/trash").json()[0]["entry"]
    assert client.delete(f"/api/v1/trash/{entry}").status_code == 204
    assert client.get("/api/v1/trash").json() == [] and trash_folders(api_settings) == []
    assert not (api_settings.workspace / "Second Life").exists()


def test_restore_by_project_name_or_id(client, api_settings):
    create(client, "Named")
    assert client.delete("/api/v1/projects/named").status_code == 204
    assert client.post("/api/v1/trash/Named/restore").json()["status"] == "ready"
    assert client.delete("/api/v1/projects/named").status_code == 204
    assert client.post("/api/v1/trash/named/restore").json()["status"] == "ready"


def test_delete_with_purge_leaves_nothing(client, api_settings):
    create(client, "Gone For Good")
    response = client.delete("/api/v1/projects/gone-for-good", params={"purge": "true"})
    assert response.status_code == 204, response.text
    assert client.get("/api/v1/trash").json() == [] and trash_folders(api_settings) == []
    assert not (api_settings.workspace / "Gone For Good").exists()
    assert client.get("/api/v1/projects/gone-for-good").status_code == 404
    assert_error(client.delete("/api/v1/projects/anything", params={"purge": "maybe"}), 400, "purge")


def test_purge_takes_only_true_or_false(client, api_settings):
    """An empty ``?purge=`` or Falcon's ``yes``/``1`` is not the schema's boolean: 400, nothing deleted."""
    create(client, "Kept")
    for value in ("", "yes", "1", "True"):
        assert_error(client.delete(f"/api/v1/projects/kept?purge={value}"), 400, "purge")
    assert client.get("/api/v1/projects/kept").json()["status"] == "ready"
    assert client.delete("/api/v1/projects/kept", params={"purge": "false"}).status_code == 204
    assert [entry["name"] for entry in client.get("/api/v1/trash").json()] == ["Kept"]


def test_restore_refuses_when_the_name_is_taken_again(client, api_settings):
    create(client, "Twice")
    assert client.delete("/api/v1/projects/twice").status_code == 204
    again = create(client, "Twice")
    entry = client.get("/api/v1/trash").json()[0]["entry"]
    assert_error(client.post(f"/api/v1/trash/{entry}/restore"), 409, "exists again")
    assert trash_folders(api_settings) == [entry]
    assert client.get("/api/v1/projects/twice").json()["current_commit"] == again["current_commit"]
    assert git(api_settings.workspace / "Twice", "rev-parse", "HEAD").strip() == again["current_commit"]


def test_unknown_entries_answer_404(client):
    assert client.get("/api/v1/trash").json() == []
    assert_error(client.post("/api/v1/trash/nope/restore"), 404, "nope")
    assert_error(client.delete("/api/v1/trash/nope"), 404, "nope")
    assert_error(client.get("/api/v1/trash/nope"), 404, "nope")


def test_a_restore_asked_while_no_controller_runs_is_carried_out_when_one_starts(api_settings):
    with running_stack(api_settings) as http:
        create(http, "Patient")
        assert http.delete("/api/v1/projects/patient").status_code == 204
    lone = falcon.testing.TestClient(create_app(ApiConfig(settings=api_settings, wait_timeout=0.2)))
    assert [e["id"] for e in lone.simulate_get("/api/v1/trash").json] == ["patient"]
    response = lone.simulate_post("/api/v1/trash/patient/restore")
    assert response.status_code == 202, response.text
    assert response.json["action"] == "restore" and response.json["status"] == "pending"
    with running_stack(api_settings) as http:
        wait_for(lambda: http.get("/api/v1/projects/patient").status_code == 200, what="restored by the controller")
        wait_for(lambda: http.get("/api/v1/projects/patient").json()["status"] == "ready", what="ready")
        assert http.get("/api/v1/trash").json() == []
