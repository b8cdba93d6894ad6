"""Who did it, through the API over real HTTP: the person on the request (set here by a
stand-in for the auth layer) is the author of the commits their creates, edits, uploads and
restores lead to, and is named by the events and the trash; nobody known is the configured
default identity. The real git judges every author."""

from __future__ import annotations

import os
import time

import pytest
from helpers import commit_count, drop_file, git, wait_for, write_spec

from auteur.uploads import UploadStore
from tests.api.conftest import as_

STUDIO = "Studio Bot <bot@studio.example>"


@pytest.fixture
def api_settings(api_settings):
    api_settings.git_author, api_settings.email_domain = STUDIO, "studio.example"  # not the default, to tell them apart
    return api_settings


def authors(root) -> list[str]:
    """``author|committer`` of every commit, newest first, as the real git reads them."""
    return git(root, "log", "--format=%an <%ae>|%cn <%ce>").splitlines()


def ready(client, project: str) -> dict:
    return wait_for(lambda: (p := client.get(f"/api/v1/projects/{project}").json()).get("status") == "ready" and p, 30,
                    what=f"{project} ready")  # fmt: skip


def test_a_create_and_an_edit_commit_as_the_person_asking(acting, api_settings):
    _, client, bus = acting
    assert client.post("/api/v1/projects", json={"name": "film"}, headers=as_("Ada Lovelace")).status_code == 201
    root = api_settings.workspace / "film"
    assert authors(root) == [f"Ada Lovelace <ada-lovelace@studio.example>|{STUDIO}"]
    status = client.get("/api/v1/projects/film/git/status").json()
    assert status["last_commit_author"] == "Ada Lovelace <ada-lovelace@studio.example>"
    assert [e.actor for e in bus.of("project.created", "film")] == ["Ada Lovelace"]

    assert client.patch("/api/v1/projects/film", json={"quality": "premium"}, headers=as_("Bob")).status_code == 200
    assert authors(root)[0] == f"Bob <bob@studio.example>|{STUDIO}"
    converged = [e for e in bus.of("project.updated", "film") if e.project["quality"] == "premium" and e.project["status"] == "ready"]
    assert converged and converged[0].actor == "Bob"
    assert client.get("/api/v1/projects/film/git/status").json()["last_commit_author"] == "Bob <bob@studio.example>"


def test_nobody_known_and_everything_dropped_by_hand_is_the_configured_default_identity(acting, api_settings):
    _, client, bus = acting
    assert client.post("/api/v1/projects", json={"name": "plain"}).status_code == 201
    assert authors(api_settings.workspace / "plain") == [f"{STUDIO}|{STUDIO}"]
    assert [e.actor for e in bus.of("project.created", "plain")] == [None]
    assert not (api_settings.state / "actors").exists()  # with nobody to name, nothing is written for the controller

    write_spec(api_settings, "by hand.yaml", "name: by hand\n")
    ready(client, "by-hand")
    assert authors(api_settings.workspace / "by hand") == [f"{STUDIO}|{STUDIO}"]

    assert client.post("/api/v1/projects", json={"name": "film"}, headers=as_("Ada")).status_code == 201
    root = api_settings.workspace / "film"
    drop_file(root / "assets" / "scripts" / "draft.txt", b"INT. STUDIO - NIGHT\n", mtime=time.time() - 60)
    wait_for(lambda: commit_count(root) == 2, 30, what="the dropped file committed")
    assert authors(root) == [f"{STUDIO}|{STUDIO}", f"Ada <ada@studio.example>|{STUDIO}"]
    assert client.get("/api/v1/projects/film/git/status").json()["last_commit_author"] == STUDIO


def test_an_upload_commits_as_its_uploader(acting, api_settings):
    _, client, bus = acting
    client.post("/api/v1/projects", json={"name": "film"}, headers=as_("Ada"))
    answer = client.post("/api/v1/projects/film/assets", params={"asset_type": "audio"},
                         files=[("files", ("take 1.wav", os.urandom(50_000)))], headers=as_("Grace Hopper"))  # fmt: skip
    assert answer.status_code == 200
    [upload] = answer.json()["uploads"]
    store = UploadStore(api_settings.state)
    record = wait_for(lambda: (r := store.read(upload["upload_id"])) and r.status.value == "completed" and r, 60, what="ingested")
    assert record.actor is not None and record.actor.name == "Grace Hopper"
    root = api_settings.workspace / "film"
    assert (
        git(root, "log", "-1", "--format=%an <%ae>|%s", "--", "assets/audio/take 1.wav")
        .strip()
        .startswith("Grace Hopper <grace-hopper@studio.example>|")
    )
    completed = wait_for(lambda: bus.of("upload.completed", "film"), 30, what="upload.completed")
    assert completed[0].actor == "Grace Hopper"
    assert {e.actor for e in bus.of("upload.progress", "film")} == {"Grace Hopper"}


def test_deletes_restores_and_purges_name_the_person(acting, api_settings):
    _, client, bus = acting
    client.post("/api/v1/projects", json={"name": "film"}, headers=as_("Ada"))
    assert client.delete("/api/v1/projects/film", headers=as_("Bob")).status_code == 204
    [entry] = client.get("/api/v1/trash").json()
    assert entry["actor"] == "Bob"
    assert [e.actor for e in bus.of("project.deleted", "film")] == ["Bob"]
    assert not (api_settings.state / "actors" / "film.json").exists()  # the trash took the record along

    restored = client.post(f"/api/v1/trash/{entry['entry']}/restore", headers=as_("Carol"))
    assert restored.status_code == 200
    assert bus.of("project.created", "film")[-1].actor == "Carol"

    (api_settings.specs / "film.yaml").unlink()  # by hand, this time
    [entry] = wait_for(lambda: client.get("/api/v1/trash").json(), 30, what="the project in the trash")
    assert entry["actor"] is None
    wait_for(lambda: len(bus.of("project.deleted", "film")) == 2, 30, what="the second deletion's event")
    assert bus.of("project.deleted", "film")[-1].actor is None
    assert client.delete(f"/api/v1/trash/{entry['entry']}", headers=as_("Dan")).status_code == 204
