"""Image thumbnails over real HTTP: asked for by the API, made off the request path by the real
ffmpeg in the embedded stack's job runner, served and revalidated by the API."""

from __future__ import annotations

import contextvars
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import wait_for

from auteur.thumbnails import thumbnail_job_id
from tests.api.test_posters import ESCAPES, assert_refused

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (.ci/run installs it)")

THUMBNAILS = "/api/v1/projects/film/thumbnails/"
JOB = "worker.thumbnails.thumbnail"


@pytest.fixture(scope="module")
def still(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("media") / "still.png"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=1", "-frames:v", "1",
                    "-y", str(path)], check=True)  # fmt: skip
    return path.read_bytes()


class HeldJobs:
    """Records what is enqueued and holds thumbnail jobs back until ``release``: what the
    API answers before the job has run is then certain."""

    def __init__(self, stack, monkeypatch) -> None:
        self.calls: list[tuple[str, str, dict]] = []
        self.contexts: dict[str, contextvars.Context] = {}
        self.real = stack.jobs.enqueue

        def enqueue(name: str, *, job_id: str, kwargs: dict) -> str:
            self.calls.append((name, job_id, kwargs))
            if name != JOB:
                return self.real(name, job_id=job_id, kwargs=kwargs)
            # In-process jobs run with the job settings of the context that enqueued them (the
            # stack's, not this test thread's): keep it for the release.
            self.contexts[job_id] = contextvars.copy_context()
            return job_id

        monkeypatch.setattr(stack.jobs, "enqueue", enqueue)

    def thumbnails(self) -> list[tuple[str, str, dict]]:
        return [call for call in self.calls if call[0] == JOB]

    def release(self) -> None:
        for name, job_id, kwargs in self.thumbnails():
            self.contexts[job_id].run(self.real, name, job_id=job_id, kwargs=kwargs)


def create_project(client) -> Path:
    answer = client.post("/api/v1/projects", json={"name": "film"})
    assert answer.status_code == 201, answer.text
    return Path(answer.json()["folder"])


def upload(client, name: str, data: bytes) -> str:
    answer = client.post("/api/v1/projects/film/assets", params={"asset_type": "storyboards"},
                         files=[("files", (name, data, "application/octet-stream"))])  # fmt: skip
    assert answer.status_code == 200, answer.text
    path = answer.json()["uploads"][0]["path"]
    wait_for(lambda: any(a["path"] == path and a["committed"] for a in client.get("/api/v1/projects/film/assets").json()),
             timeout=30, what=f"{path} committed")  # fmt: skip
    return path


def test_not_ready_until_the_job_has_run_then_served_and_revalidated(stack, client, still, monkeypatch):
    create_project(client)
    held = HeldJobs(stack, monkeypatch)
    path = upload(client, "frame 01.png", still)
    url = THUMBNAILS + "assets/storyboards/frame%2001.png"

    before = client.get(url)
    assert before.status_code == 404 and before.json()["error"]["code"] == "not_ready", before.text
    assert int(before.headers["retry-after"]) > 0
    assert client.head(url).status_code == 404
    job_id = thumbnail_job_id("film", hashlib.sha256(still).hexdigest())
    asked = held.thumbnails()
    assert asked and all(call == (JOB, job_id, {"project_id": "film", "path": path}) for call in asked), asked

    held.release()
    wait_for(lambda: client.get(url).status_code == 200, timeout=60, interval=0.1, what="the thumbnail job")
    answer = client.get(url)
    assert answer.content[:2] == b"\xff\xd8"
    assert (answer.headers["content-type"], answer.headers["cache-control"]) == ("image/jpeg", "no-cache")
    assert int(answer.headers["content-length"]) == len(answer.content) < len(still)
    head = client.head(url)
    assert (head.status_code, head.headers["etag"], head.content) == (200, answer.headers["etag"], b"")
    again = client.get(url, headers={"If-None-Match": answer.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    asked = len(held.thumbnails())
    client.get(url)
    assert len(held.thumbnails()) == asked, "a thumbnail that is there is not asked for again"


def test_undecodable_bytes_answer_so_and_are_not_asked_for_again(stack, client, monkeypatch):
    create_project(client)
    held = HeldJobs(stack, monkeypatch)
    upload(client, "broken.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 100)
    url = THUMBNAILS + "assets/storyboards/broken.png"
    assert client.get(url).json()["error"]["code"] == "not_ready"
    held.release()
    failed = wait_for(lambda: (a := client.get(url)).json()["error"]["code"] == "undecodable" and a, timeout=60,
                      what="the thumbnail job to give up")  # fmt: skip
    assert failed.status_code == 404 and "ffmpeg" in failed.json()["error"]["message"]
    asked = len(held.thumbnails())
    assert client.get(url).json()["error"]["code"] == "undecodable"
    assert len(held.thumbnails()) == asked


def test_no_thumbnail_for_what_is_not_an_image_there(stack, client):
    root = stack.settings.workspace / create_project(client)
    (root / "assets/audio/take.wav").write_bytes(b"RIFF" + bytes(100))
    for path in ("assets/storyboards/nope.png", "assets/audio/take.wav", "outputs/renders/gone.exr"):
        answer = client.get(THUMBNAILS + path)
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found"), path
    assert client.get("/api/v1/projects/no-such-film/thumbnails/assets/storyboards/a.png").status_code == 404


def test_thumbnails_never_leave_the_project_tree(stack, client, still, tmp_path):
    root = stack.settings.workspace / create_project(client)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8classified")
    (tmp_path / "elsewhere.png").write_bytes(still)
    (root / "assets/storyboards/outside.png").symlink_to(tmp_path / "elsewhere.png")
    assert_refused(client, THUMBNAILS, ["assets/storyboards/outside.png", "temp/thumbnails/ab/ab.jpg", *ESCAPES])

    # The thumbnails folder a symlink out of the project: refused, though the image is committed.
    path = upload(client, "real.png", still)
    key = hashlib.sha256(still).hexdigest()
    wait_for(lambda: client.get(THUMBNAILS + path).status_code == 200, timeout=60, what="the thumbnail")
    outside = tmp_path / "thumbnails"
    (outside / key[:2]).mkdir(parents=True)
    (outside / key[:2] / f"{key}.jpg").write_bytes(b"\xff\xd8classified")
    shutil.rmtree(root / "temp/thumbnails")
    (root / "temp/thumbnails").symlink_to(outside)
    answer = client.get(THUMBNAILS + path)
    assert answer.status_code == 404 and b"classified" not in answer.content
