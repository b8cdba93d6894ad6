"""An asset's versions, an old version's bytes, and restoring one, over real HTTP, judged by
the real ``git`` and ``git lfs``."""

from __future__ import annotations

import hashlib
import os
import re

import pytest
from helpers import assert_clean_repository, git, wait_for

from api.versions import ASSET_PATH_PATTERN, RESTORABLE_PATTERN
from auteur.layout import asset_type_of
from auteur.paths import UnsafePath, asset_parts
from tests.api.test_assets import body, create_project, download_sha256, part, post_raw, wait_completed
from tests.api.test_history import settled_head

TAKE = "assets/audio/take.wav"
NOTES = "assets/audio/notes.txt"


def upload(stack, client, *files: tuple[str, bytes]) -> list[dict]:
    answer = post_raw(client, "film", body(*(part(name, data) for name, data in files)), asset_type="audio")
    assert answer.status_code == 200, answer.text
    return wait_completed(stack, answer.json()["uploads"])


def logged(root, path: str) -> list[str]:
    return git(root, "log", "--format=%H", "--", path).split()


@pytest.fixture
def takes(stack, client):
    """A project whose take.wav (LFS) and notes.txt (a plain blob) each have three versions."""
    root = stack.settings.workspace / create_project(client)
    takes = [os.urandom(200_000 + i) for i in range(3)]
    notes = [f"INT. STUDIO - NIGHT, take {i}\n".encode() for i in range(3)]
    for take, note in zip(takes, notes, strict=True):
        upload(stack, client, ("take.wav", take), ("notes.txt", note))
    settled_head(client, root)
    return root, takes, notes


def versions(client, path: str, **params) -> list[dict]:
    answer = client.get("/api/v1/projects/film/versions", params={"path": path, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_versions_are_what_git_log_says_with_oids_and_sizes(stack, client, takes):
    root, take_bytes, _ = takes
    items = versions(client, TAKE)
    assert [i["commit"] for i in items] == logged(root, TAKE) and len(items) == 3
    for item, data in zip(items, reversed(take_bytes), strict=True):
        pointer = dict(line.split(" ", 1) for line in git(root, "show", f"{item['commit']}:{TAKE}").splitlines())
        assert item["oid"] == pointer["oid"].removeprefix("sha256:") == hashlib.sha256(data).hexdigest()
        assert item["size"] == len(data)
        assert item["author"] == git(root, "log", "-1", "--format=%an <%ae>", item["commit"]).strip()
    assert [i["change"] for i in items] == ["modified", "modified", "added"]
    plain = versions(client, NOTES)
    assert [i["commit"] for i in plain] == logged(root, NOTES)
    assert [i["oid"] for i in plain] == [git(root, "rev-parse", f"{i['commit']}:{NOTES}").strip() for i in plain]
    first = client.get("/api/v1/projects/film/versions", params={"path": TAKE, "limit": 2}).json()
    assert len(first["items"]) == 2 and first["next"] == items[1]["commit"]
    second = client.get("/api/v1/projects/film/versions", params={"path": TAKE, "limit": 2, "before": first["next"]}).json()
    assert [i["commit"] for i in second["items"]] == [items[2]["commit"]] and second["next"] is None


def test_an_old_version_downloads_with_its_bytes_ranges_and_etag(stack, client, takes):
    _, take_bytes, notes = takes
    oldest, plain_oldest = versions(client, TAKE)[-1], versions(client, NOTES)[-1]
    url = f"/api/v1/projects/film/assets/{TAKE}"
    status, digest, size = download_sha256(client, f"{url}?version={oldest['commit']}")
    assert (status, digest, size) == (200, hashlib.sha256(take_bytes[0]).hexdigest(), len(take_bytes[0]))
    ranged = client.get(url, params={"version": oldest["commit"]}, headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.content == take_bytes[0][100:200]
    assert ranged.headers["content-range"] == f"bytes 100-199/{len(take_bytes[0])}"
    assert ranged.headers["etag"] == f'"{oldest["oid"]}"' and ranged.headers["content-disposition"].startswith("inline")
    again = client.get(url, params={"version": oldest["commit"]}, headers={"If-None-Match": ranged.headers["etag"]})
    assert again.status_code == 304
    head = client.head(url, params={"version": oldest["commit"]})
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(take_bytes[0])
    text = client.get(f"/api/v1/projects/film/assets/{NOTES}", params={"version": plain_oldest["commit"]})
    assert text.status_code == 200 and text.content == notes[0]
    assert text.headers["content-disposition"].startswith("attachment")  # never rendered in the API's origin


def test_a_version_where_the_file_is_absent_or_malformed_is_refused(stack, client, takes):
    root, *_ = takes
    first_commit = git(root, "rev-list", "--max-parents=0", "HEAD").strip()  # before any upload
    url = f"/api/v1/projects/film/assets/{TAKE}"
    assert client.get(url, params={"version": first_commit}).status_code == 404
    assert client.get(url, params={"version": "0" * 40}).status_code == 404
    bad = client.get(url, params={"version": "HEAD~1"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "version"
    assert client.get("/api/v1/projects/film/assets/project.json", params={"version": first_commit}).status_code == 404
    for path in ("project.json", "../x", ".git/config", "assets/.git/config", "assets/../project.json"):
        answer = client.get("/api/v1/projects/film/versions", params={"path": path})
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "path", path
    assert client.get("/api/v1/projects/film/versions", params={"path": "assets/audio/never.wav"}).status_code == 404
    assert client.get("/api/v1/projects/nothing-here/versions", params={"path": TAKE}).status_code == 404


def test_restore_commits_the_old_bytes_as_a_new_commit_by_whoever_asked(acting):
    stack, client, bus = acting
    root = stack.settings.workspace / create_project(client)
    old, new = os.urandom(300_000), os.urandom(310_000)
    upload(stack, client, ("take.wav", old))
    upload(stack, client, ("take.wav", new))
    before = settled_head(client, root)
    oldest, replaced = versions(client, TAKE)[-1], versions(client, TAKE)[0]
    answer = client.post("/api/v1/projects/film/versions/restore", json={"path": TAKE, "version": oldest["commit"]},
                         headers={"X-Test-Actor": "ada"})  # fmt: skip
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["oid"] == hashlib.sha256(old).hexdigest() and accepted["job_id"].startswith("restore-")
    wait_completed(stack, [accepted])
    head = settled_head(client, root)
    assert git(root, "rev-parse", f"{head}^").strip() == before  # a new commit on top: nothing rewritten
    assert git(root, "log", "-1", "--format=%an", head).strip() == "ada"
    assert hashlib.sha256((root / TAKE).read_bytes()).hexdigest() == accepted["oid"]
    pointer = git(root, "show", f"HEAD:{TAKE}")
    assert f"oid sha256:{accepted['oid']}" in pointer
    assert_clean_repository(root)
    items = versions(client, TAKE)
    assert [i["commit"] for i in items] == logged(root, TAKE) and items[0]["oid"] == oldest["oid"]
    status, digest, _ = download_sha256(client, f"/api/v1/projects/film/assets/{TAKE}?version={replaced['commit']}")
    assert (status, digest) == (200, hashlib.sha256(new).hexdigest())  # the replaced version stays downloadable
    kinds = [e.type for e in bus.events if e.data.get("upload_id") == accepted["upload_id"]]
    assert "upload.processing" in kinds and "upload.completed" in kinds
    audit = client.get("/api/v1/audit", params={"project": "film"}).json()["items"]
    assert any(e["action"] == "asset.restore" and e["actor"] == "ada" and e["details"]["version"] == oldest["commit"]
               for e in audit)  # fmt: skip


def test_a_plain_file_restores_too(stack, client, takes):
    root, _, notes = takes
    oldest = versions(client, NOTES)[-1]
    answer = client.post("/api/v1/projects/film/versions/restore", json={"path": NOTES, "version": oldest["commit"]})
    assert answer.status_code == 202, answer.text
    wait_completed(stack, [answer.json()])
    settled_head(client, root)
    assert (root / NOTES).read_bytes() == notes[0] and git(root, "show", f"HEAD:{NOTES}").encode() == notes[0]
    assert_clean_repository(root)


def test_refused_restores_enqueue_nothing(stack, client, takes):
    root, *_ = takes
    head = settled_head(client, root)
    first_commit = git(root, "rev-list", "--max-parents=0", "HEAD").strip()
    uploads = sorted(os.listdir(stack.settings.state / "uploads"))
    refused = [
        ({"path": "project.json", "version": head}, 422),
        ({"path": "../x", "version": head}, 422),
        ({"path": ".git/config", "version": head}, 422),
        ({"path": "assets/audio/../../project.json", "version": head}, 422),
        ({"path": TAKE, "version": first_commit}, 409),  # the file is not in that commit
        ({"path": TAKE, "version": "0" * 40}, 409),
        ({"path": TAKE, "version": "HEAD~1"}, 422),
        ({"path": TAKE}, 422),
        ({"path": TAKE, "version": head, "force": True}, 422),
    ]
    for asked, status in refused:
        answer = client.post("/api/v1/projects/film/versions/restore", json=asked)
        assert answer.status_code == status, (asked, answer.text)
    assert client.post("/api/v1/projects/nothing-here/versions/restore", json={"path": TAKE, "version": head}).status_code == 404
    assert stack.jobs.depth() == 0
    assert sorted(os.listdir(stack.settings.state / "uploads")) == uploads  # no record, no staging
    assert git(root, "rev-parse", "HEAD").strip() == head


@pytest.mark.parametrize("path", [
    "assets/a", "assets/audio/take.wav", "outputs/renders/x/y.mp4", "assets/audio/.gitkeep", "assets/audio/...",
    "assets/audio/.g", "assets/audio/.gi", "assets/audio/.gits", "project.json", "../x", ".git/config",
    "assets/.git/config", "assets/.GiT/x", "assets/..", "assets/.", "assets//x", "assets/", "assets", "assets/a\x00b",
    "/assets/a", "assets/a/", "outputs/.git",
])  # fmt: skip
def test_the_documented_pattern_states_what_asset_parts_enforces(path):
    try:
        asset_parts(path)
        accepted = True
    except UnsafePath:
        accepted = False
    assert bool(re.match(ASSET_PATH_PATTERN, path)) == accepted
    assert bool(re.match(RESTORABLE_PATTERN, path)) == (accepted and asset_type_of(path) is not None)


def test_a_deleted_file_keeps_its_versions_and_restores(stack, client, takes):
    root, takes_bytes, _ = takes
    (root / TAKE).unlink()  # removed by hand in the folder: the next snapshot commits the deletion
    wait_for(lambda: TAKE not in git(root, "ls-tree", "-r", "--name-only", "HEAD").split(), 60, what="the deletion committed")
    settled_head(client, root)
    items = versions(client, TAKE)
    assert [i["commit"] for i in items] == logged(root, TAKE)  # the deletion first, then each version
    assert items[0]["change"] == "deleted" and items[0]["oid"] is None
    kept = items[1:]
    assert len(kept) == 3 and kept[0]["oid"] == hashlib.sha256(takes_bytes[-1]).hexdigest()
    status, digest, _ = download_sha256(client, f"/api/v1/projects/film/assets/{TAKE}?version={kept[0]['commit']}")
    assert (status, digest) == (200, kept[0]["oid"])
    answer = client.post("/api/v1/projects/film/versions/restore", json={"path": TAKE, "version": kept[-1]["commit"]})
    assert answer.status_code == 202, answer.text
    wait_completed(stack, [answer.json()])
    settled_head(client, root)
    assert (root / TAKE).read_bytes() == takes_bytes[0]
    assert_clean_repository(root)
