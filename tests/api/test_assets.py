"""Assets over real HTTP: upload into LFS, list, download with ranges, and every refusal.

The embedded stack runs on a free port (``stack``/``client`` fixtures); the real
``git`` and ``git-lfs`` judge every repository the uploads end in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from helpers import assert_clean_repository, git, wait_for

from api.uploads import MAX_PARTS
from auteur.events import Event
from tests.api.conftest import metric_value

MiB = 1 << 20
BOUNDARY = "test-boundary-5b1e9d"


# -- helpers -----------------------------------------------------------------------------


def create_project(client, name: str = "film") -> Path:
    answer = client.post("/api/v1/projects", json={"name": name})
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "ready"
    return Path(answer.json()["folder"])


def write_random(path: Path, size: int) -> str:
    """Write ``size`` random bytes, 1 MiB at a time; return their sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(size // MiB):
            chunk = os.urandom(MiB)
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def part(filename: str, data: bytes, *, raw: bool = False) -> bytes:
    """One multipart part; the name goes in ``filename*`` (RFC 5987) so any character arrives exactly."""
    disposition = f'filename="{filename}"' if raw else f"filename*=UTF-8''{quote(filename, safe='')}"
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; {disposition}\r\n'
    return head.encode("utf-8", "surrogateescape") + b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def post_raw(client, project: str, content, asset_type: str | None = "audio", **kwargs):
    params = {"asset_type": asset_type} if asset_type is not None else {}
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return client.post(f"/api/v1/projects/{project}/assets", params=params, content=content, headers=headers, **kwargs)


def wait_completed(stack, uploads: list[dict], timeout: float = 120.0) -> list[dict]:
    root = stack.settings.state / "uploads"

    def records():
        found = []
        for upload in uploads:
            try:
                record = json.loads((root / f"{upload['upload_id']}.json").read_bytes())
            except (FileNotFoundError, ValueError):
                return None
            if record["status"] not in ("completed", "failed"):
                return None
            found.append(record)
        return found

    done = wait_for(records, timeout, what="uploads ingested")
    assert all(r["status"] == "completed" for r in done), done
    return done


def snapshot_tree(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``roots`` with its size and mtime (nothing is read)."""
    found = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            if folder.endswith(os.path.join(".auteur", "locks")):
                continue  # lock files record who is working right now, not state
            for name in dirs + files:
                path = os.path.join(folder, name)
                st = os.lstat(path)
                found[path] = (st.st_size, st.st_mtime_ns if name in files else 0)
    return found


def lfs_pointer(root: Path, path: str) -> dict[str, str]:
    text = git(root, "show", f"HEAD:{path}")
    assert text.startswith("version https://git-lfs.github.com/spec/v1\n"), text
    return dict(line.split(" ", 1) for line in text.splitlines())


def download_sha256(client, url: str, headers: dict | None = None) -> tuple[int, str, int]:
    digest, size = hashlib.sha256(), 0
    with client.stream("GET", url, headers=headers or {}) as answer:
        for chunk in answer.iter_bytes():
            digest.update(chunk)
            size += len(chunk)
        return answer.status_code, digest.hexdigest(), size


class RecordingBus:
    """Wraps the stack's bus and keeps what was published (injected, nothing patched)."""

    def __init__(self, inner) -> None:
        self.inner, self.events = inner, []

    def publish(self, event: Event) -> None:
        self.events.append(event)
        self.inner.publish(event)

    def subscribe(self):
        return self.inner.subscribe()

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.type == kind]


# -- uploads that work -----------------------------------------------------------------------


def test_upload_video_and_audio_end_in_lfs_and_download_back(stack, client, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="auteur.worker.ingest")
    root = stack.settings.workspace / create_project(client)
    bus = RecordingBus(stack.bus)
    stack.config.bus = bus  # what the API publishes (progress)
    stack.controller.journal.listeners.append(bus.events.append)  # and what the controller journals for the worker
    video = tmp_path / "shot_010 (v2).mp4"
    video_oid = write_random(video, 100 * MiB)
    audio = os.urandom(48_000)
    bytes_before = metric_value(client, "auteur_upload_bytes_total")

    with open(video, "rb") as handle:
        answer = client.post(
            "/api/v1/projects/film/assets",
            params={"asset_type": "renders"},
            files=[("files", (video.name, handle, "video/mp4")), ("files", ("take 1.wav", audio, "audio/wav"))],
        )
    assert answer.status_code == 200, answer.text
    uploads = answer.json()["uploads"]
    assert [(u["filename"], u["path"], u["size"], u["status"]) for u in uploads] == [
        ("shot_010 (v2).mp4", "outputs/renders/shot_010 (v2).mp4", 100 * MiB, "stored"),
        ("take 1.wav", "outputs/renders/take 1.wav", len(audio), "stored"),
    ]
    assert uploads[0]["oid"] == video_oid and uploads[1]["oid"] == hashlib.sha256(audio).hexdigest()
    assert all(u["job_id"] == f"ingest-{u['upload_id']}" for u in uploads)
    records = wait_completed(stack, uploads)

    assert_clean_repository(root)  # git fsck, git status clean, git lfs fsck
    assert git(root, "status", "--porcelain") == ""
    for upload, record in zip(uploads, records, strict=True):
        pointer = lfs_pointer(root, upload["path"])
        assert pointer["oid"] == f"sha256:{upload['oid']}" and pointer["size"] == str(upload["size"])
        assert record["commit"] and git(root, "rev-parse", "HEAD").strip() != ""
        assert not (stack.settings.state / "uploads" / upload["upload_id"]).exists()  # staging cleaned up
        # The LFS object was written as the bytes arrived (a volume without reflinks), then only renamed.
        assert f"upload {upload['upload_id']}: its LFS object was written on arrival; moved into place" in caplog.messages
    with open(root / uploads[0]["path"], "rb") as handle:
        assert hashlib.file_digest(handle, "sha256").hexdigest() == video_oid
    assert (root / uploads[1]["path"]).read_bytes() == audio
    assert sorted(git(root, "lfs", "ls-files", "--name-only").splitlines()) == sorted(u["path"] for u in uploads)

    listing = {a["path"]: a for a in client.get("/api/v1/projects/film/assets").json()}
    assert set(listing) == {u["path"] for u in uploads}  # .gitkeep files are not assets
    for upload in uploads:
        entry = listing[upload["path"]]
        assert (entry["asset_type"], entry["size"], entry["lfs"], entry["committed"]) == ("renders", upload["size"], True, True)

    url = "/api/v1/projects/film/assets/" + quote(uploads[0]["path"])
    assert download_sha256(client, url) == (200, video_oid, 100 * MiB)
    head = client.head(url)
    assert head.headers["content-type"] == "video/mp4" and head.headers["content-length"] == str(100 * MiB)
    assert head.headers["accept-ranges"] == "bytes"
    with open(video, "rb") as handle:
        handle.seek(5 * MiB)
        expected = handle.read(MiB)
    ranged = client.get(url, headers={"Range": f"bytes={5 * MiB}-{6 * MiB - 1}"})
    assert ranged.status_code == 206 and ranged.content == expected
    assert ranged.headers["content-range"] == f"bytes {5 * MiB}-{6 * MiB - 1}/{100 * MiB}"
    assert ranged.headers["content-length"] == str(MiB)

    assert metric_value(client, "auteur_upload_bytes_total") - bytes_before == 100 * MiB + len(audio)
    assert metric_value(client, "auteur_uploads_total", result="stored") == 1
    progress = bus.of("upload.progress")
    assert progress and progress[-1].data["received"] == 100 * MiB + len(audio)
    assert all(e.project == {"id": "film"} for e in progress)
    completed = wait_for(lambda: len(bus.of("upload.completed")) == 2 and bus.of("upload.completed"), 30)
    assert {e.data["upload_id"] for e in completed} == {u["upload_id"] for u in uploads}


def test_uploading_the_same_name_replaces_it_and_keeps_the_old_bytes_in_history(stack, client):
    root = stack.settings.workspace / create_project(client)
    first, second = os.urandom(200_000), os.urandom(300_000)
    for data in (first, second):
        answer = post_raw(client, "film", body(part("theme.wav", data)))
        assert answer.status_code == 200, answer.text
        wait_completed(stack, answer.json()["uploads"])
    assert (root / "assets/audio/theme.wav").read_bytes() == second
    assert lfs_pointer(root, "assets/audio/theme.wav")["oid"] == f"sha256:{hashlib.sha256(second).hexdigest()}"
    history = git(root, "log", "--format=%H", "--", "assets/audio/theme.wav").split()
    assert len(history) == 2
    old = git(root, "show", f"{history[1]}:assets/audio/theme.wav")
    assert f"oid sha256:{hashlib.sha256(first).hexdigest()}" in old
    assert git(root, "lfs", "fsck").strip().endswith("OK")
    assert_clean_repository(root)


def test_any_printable_name_is_kept_as_it_is(stack, client):
    root = stack.settings.workspace / create_project(client)
    names = ["shot_010 (v2).mov", "Amélie – scène 3.wav", "映画 #1 [final].png", "notes; v2 & more.txt", "a'b.pdf"]
    answer = post_raw(client, "film", body(*(part(name, name.encode()) for name in names)), asset_type="storyboards")
    assert answer.status_code == 200, answer.text
    wait_completed(stack, answer.json()["uploads"])
    for name in names:
        assert (root / "assets/storyboards" / name).read_bytes() == name.encode()
    assert_clean_repository(root)
    # A plain (not RFC 5987) filename with spaces and parentheses arrives the same way.
    answer = post_raw(client, "film", body(part("take (2).wav", b"x", raw=True)))
    assert answer.json()["uploads"][0]["filename"] == "take (2).wav"


def test_a_filename_given_twice_keeps_the_later_part(stack, client):
    root = stack.settings.workspace / create_project(client)
    answer = post_raw(client, "film", body(part("take.wav", b"first"), part("other.wav", b"x"), part("take.wav", b"second")))
    assert answer.status_code == 200, answer.text
    uploads = answer.json()["uploads"]
    assert [u["filename"] for u in uploads] == ["other.wav", "take.wav"]
    wait_completed(stack, uploads)
    assert (root / "assets/audio/take.wav").read_bytes() == b"second"
    assert len(git(root, "log", "--format=%H", "--", "assets/audio/take.wav").split()) == 1
    staged = stack.settings.state / "uploads"
    assert sorted(p.name for p in staged.iterdir() if p.is_dir()) == [], "the replaced part left its staging behind"
    assert_clean_repository(root)


# -- refusals: nothing changes anywhere -------------------------------------------------------------

BAD_NAMES = [
    ("a/b.wav", "path separator"),
    ("..\\b.wav", "path separator"),
    ("a\x00b.wav", "control character"),
    ("a\nb.wav", "control character"),
    ("a\x7fb.wav", "control character"),
    ("evil\u202ewav.exe", "control character"),
    (".hidden.wav", "starts with a dot"),
    (".", "starts with a dot"),
    ("..", "starts with a dot"),
    ("", "required"),
    ("é" * 99 + ".wav", "longer than 200 bytes"),
]


@pytest.mark.parametrize(("name", "why"), BAD_NAMES, ids=[repr(n)[:20] for n, _ in BAD_NAMES])
def test_bad_filenames_are_refused_and_nothing_is_written(stack, client, name, why):
    root = stack.settings.workspace / create_project(client)
    before = snapshot_tree(root, stack.settings.state / "uploads")
    # The good file first: it is already staged when the bad name arrives, and must go too.
    answer = post_raw(client, "film", body(part("good.wav", os.urandom(3 * MiB)), part(name, b"data")))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert why in error["message"] and error["field"] == "files"
    if name:
        assert repr(name) in error["message"]
    time.sleep(0.5)  # anything a stray job would do shows up by now (settle is 0.3 s)
    assert snapshot_tree(root, stack.settings.state / "uploads") == before


@pytest.mark.parametrize("asset_type", ["videos", "", None, "../assets"])
def test_unknown_asset_type_is_422_naming_the_allowed_values(stack, client, asset_type):
    create_project(client)
    before = snapshot_tree(stack.settings.state / "uploads")
    answer = post_raw(client, "film", body(part("a.wav", b"x")), asset_type=asset_type)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == "asset_type"
    assert "scripts, storyboards, characters, locations, styles, audio, renders, edits" in error["message"]
    assert snapshot_tree(stack.settings.state / "uploads") == before


def test_unknown_project_and_wrong_content_type(stack, client):
    assert post_raw(client, "nope", body(part("a.wav", b"x"))).status_code == 404
    assert client.get("/api/v1/projects/nope/assets").status_code == 404
    assert client.get("/api/v1/projects/nope/assets/assets/audio/a.wav").status_code == 404
    create_project(client)
    answer = client.post("/api/v1/projects/film/assets?asset_type=audio", json={"files": []})
    assert answer.status_code == 415
    answer = post_raw(client, "film", body())
    assert answer.status_code == 422 and "no files" in answer.json()["error"]["message"]


def test_form_fields_other_than_files_and_too_many_parts_are_refused(stack, client):
    root = stack.settings.workspace / create_project(client)
    before = snapshot_tree(root, stack.settings.state / "uploads")
    extra = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="comment"\r\n\r\nhello\r\n'.encode()
    answer = post_raw(client, "film", body(part("a.wav", b"x"), extra))
    assert answer.status_code == 422 and "'comment'" in answer.json()["error"]["message"], answer.text
    answer = post_raw(client, "film", body(*(part(f"{i}.wav", b"x") for i in range(MAX_PARTS + 1))))
    assert answer.status_code == 400, answer.text
    assert snapshot_tree(root, stack.settings.state / "uploads") == before
    answer = post_raw(client, "film", body(*(part(f"{i}.wav", b"x") for i in range(MAX_PARTS))))
    assert answer.status_code == 200 and len(answer.json()["uploads"]) == MAX_PARTS
    wait_completed(stack, answer.json()["uploads"])


def test_too_large_is_413_with_or_without_content_length(stack, client):
    root = stack.settings.workspace / create_project(client)
    stack.config.max_upload_bytes = 2 * MiB
    before = snapshot_tree(root, stack.settings.state / "uploads")
    payload = body(part("big.wav", os.urandom(3 * MiB)))
    answer = post_raw(client, "film", payload)
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"

    def chunks():  # no Content-Length: the limit is enforced while counting
        for start in range(0, len(payload), 256 * 1024):
            yield payload[start : start + 256 * 1024]

    answer = post_raw(client, "film", chunks())
    assert answer.status_code == 413, answer.text
    assert snapshot_tree(root, stack.settings.state / "uploads") == before
    assert metric_value(client, "auteur_uploads_total", result="too_large") == 2


def test_more_than_the_free_space_is_507_and_leaves_nothing(stack, client):
    root = stack.settings.workspace / create_project(client)
    stack.config.free_bytes = lambda path: 10
    before = snapshot_tree(root, stack.settings.state / "uploads")
    answer = post_raw(client, "film", body(part("big.wav", os.urandom(MiB))))
    assert answer.status_code == 507 and "free" in answer.json()["error"]["message"]
    assert snapshot_tree(root, stack.settings.state / "uploads") == before


# -- listing and downloading --------------------------------------------------------------------------


def test_listing_reports_lfs_and_committed_from_what_the_controller_recorded(stack, client):
    root = stack.settings.workspace / create_project(client)
    answer = post_raw(client, "film", body(part("draft.txt", b"first draft\n")), asset_type="scripts")
    wait_completed(stack, answer.json()["uploads"])
    stack.settings.settle_seconds = 3600.0  # what is dropped in now stays uncommitted
    (root / "assets/scripts/draft.txt").write_bytes(b"second draft, not committed yet\n")
    (root / "outputs/edits/cut.mov").write_bytes(b"\0" * 10)
    (root / "assets/styles/huge.bin").write_bytes(b"")
    os.truncate(root / "assets/styles/huge.bin", stack.settings.large_file_bytes + 1)
    listing = {a["path"]: a for a in client.get("/api/v1/projects/film/assets").json()}
    assert set(listing) == {"assets/scripts/draft.txt", "outputs/edits/cut.mov", "assets/styles/huge.bin"}
    assert listing["assets/scripts/draft.txt"] | {"mtime": 0} == {
        "path": "assets/scripts/draft.txt", "asset_type": "scripts", "size": 32, "mtime": 0, "lfs": False, "committed": False,
    }  # fmt: skip
    assert (listing["outputs/edits/cut.mov"]["lfs"], listing["outputs/edits/cut.mov"]["committed"]) == (True, False)
    assert listing["assets/styles/huge.bin"]["lfs"] is True


def test_ranges(stack, client):
    root = stack.settings.workspace / create_project(client)
    data = bytes(range(256)) * 40
    (root / "assets/scripts/page.txt").write_bytes(data)
    url = "/api/v1/projects/film/assets/assets/scripts/page.txt"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == data and whole.headers["content-type"] == "application/octet-stream"
    for header, first, last in [("bytes=0-0", 0, 0), ("bytes=100-", 100, len(data) - 1), ("bytes=-10", len(data) - 10, len(data) - 1),
                                ("bytes=10-99999", 10, len(data) - 1)]:  # fmt: skip
        answer = client.get(url, headers={"Range": header})
        assert answer.status_code == 206, header
        assert answer.content == data[first : last + 1]
        assert answer.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    for header in (f"bytes={len(data)}-", "bytes=-0"):
        answer = client.get(url, headers={"Range": header})
        assert answer.status_code == 416 and answer.headers["content-range"] == f"bytes */{len(data)}"
    for header in ("bytes=5-1", "lines=1-2", "bytes=0-1,5-6"):  # ignored: the whole file
        assert client.get(url, headers={"Range": header}).status_code == 200


def test_downloads_never_leave_the_project_tree(stack, client, tmp_path):
    root = stack.settings.workspace / create_project(client)
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (root / "assets/audio/outside.wav").symlink_to(secret)
    (root / "assets/audio/manifest.wav").symlink_to(root / "project.json")
    (root / "assets/audio/real.wav").write_bytes(b"fine")
    base = "/api/v1/projects/film/assets/"
    assert client.get(base + "assets/audio/real.wav").content == b"fine"
    attempts = [
        "assets/audio/outside.wav",
        "assets/audio/manifest.wav",
        "assets/..%2Fproject.json",
        "assets%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "assets/%2E%2E/%2E%2E/specs/film.yaml",
        "%2Fetc%2Fpasswd",
        "assets//etc/passwd",
        "project.json",
        ".git/config",
        "assets/audio",
        "assets/audio/missing.wav",
    ]
    for attempt in attempts:
        answer = client.get(base + attempt)
        assert 400 <= answer.status_code < 500, (attempt, answer.status_code)
        assert b"secret" not in answer.content and b'"id"' not in answer.content


def test_a_client_that_gives_up_on_a_large_streaming_upload_leaves_nothing_staged_or_committed(stack, client):
    """What the gallery's Cancel does (XMLHttpRequest.abort): an HTTP client stops sending a
    declared 512 MiB body once the API is staging it; the staged part goes and no commit is made."""
    root = stack.settings.workspace / create_project(client)
    head = git(root, "rev-parse", "HEAD")
    staging = stack.settings.state / "uploads"
    before = snapshot_tree(root, staging)
    size = 512 * MiB
    head_part = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="take.wav"\r\n\r\n'.encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    class GaveUp(Exception):
        pass

    def stream():
        yield head_part
        for sent in range(size // MiB):
            if sent >= 64 and any(staging.iterdir()):
                raise GaveUp  # the connection closes with most of the body unsent
            yield bytes(MiB)
        yield tail

    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": str(len(head_part) + size + len(tail))}
    with pytest.raises(GaveUp):
        client.post("/api/v1/projects/film/assets?asset_type=audio", content=stream(), headers=headers)
    wait_for(lambda: snapshot_tree(root, staging) == before, 30, what="the staged part to be removed")
    assert git(root, "rev-parse", "HEAD") == head
    assert git(root, "status", "--porcelain") == ""
    assert client.get("/api/v1/projects/film/assets").json() == []
    assert metric_value(client, "auteur_uploads_total", result="stored") in (None, 0.0)


def test_a_connection_cut_mid_upload_leaves_nothing(stack, client):
    root = stack.settings.workspace / create_project(client)
    before = snapshot_tree(root, stack.settings.state / "uploads")
    host, port = stack.api_url.removeprefix("http://").split(":")
    payload = body(part("cut.wav", os.urandom(8 * MiB)))
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"POST /api/v1/projects/film/assets?asset_type=audio HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
        )
        sock.sendall(payload[: 4 * MiB])
        staging = stack.settings.state / "uploads"
        wait_for(lambda: any(staging.iterdir()), 30, what="the upload to start staging")
    wait_for(lambda: snapshot_tree(root, staging) == before, 30, what="the partial upload to be removed")


def test_a_suspended_project_takes_no_upload(stack, client, api_settings):
    create_project(client, "paused")
    spec = api_settings.specs / "paused.yaml"
    spec.write_text(spec.read_text() + "suspend: true\n")
    wait_for(lambda: client.get("/api/v1/projects/paused").json()["status"] == "suspended", 30, what="the project suspended")
    answer = post_raw(client, "paused", body(part("take.wav", b"RIFF" + bytes(100))))
    assert answer.status_code == 409 and "suspended" in answer.json()["error"]["message"]
    assert not (api_settings.state / "uploads").exists() or not list((api_settings.state / "uploads").glob("*.json"))
