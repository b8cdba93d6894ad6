"""The restore job against real folders, judged by the real git and git-lfs: an old version's
bytes staged as an upload and ingested as a new commit, a run that died half-way finished by
the next, a file below a type folder put back where it was, and what cannot be restored."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from helpers import assert_clean_repository, git, write_spec
from redisserver import running_redis
from rq import SimpleWorker
from rq.job import Job, JobStatus

from auteur.identity import Actor, Role
from auteur.jobs import RESTORE_JOB
from auteur.uploads import UploadStore, new_upload_id
from controller.reconciling import Reconciler
from redisbackend.jobs import RQJobs
from tests.worker.test_ingest import Told, stage
from worker import jobs
from worker.ingesting import Ingest
from worker.restoring import Restore

TAKE = "assets/audio/take.wav"
ADA = Actor(name="ada", role=Role.EDITOR)


@pytest.fixture
def settings(settings):
    settings.settle_seconds = 3600.0  # nothing settles during a test: only known oids commit
    write_spec(settings, "film.yaml", "name: film\n")
    assert Reconciler(settings).reconcile("film").kind == "done"
    jobs.configure(settings)
    yield settings
    jobs.reset()


@pytest.fixture
def root(settings) -> Path:
    return settings.workspace / "film"


@pytest.fixture
def bus(settings) -> Told:
    return Told(settings)


def ingest(settings, filename: str, data: bytes) -> str:
    record = stage(settings, filename, data)
    assert Ingest(settings).run(record.upload_id)["status"] == "completed"
    return git(settings.workspace / "film", "rev-parse", "HEAD").strip()


def test_restore_commits_the_old_bytes_on_top_as_whoever_asked(settings, root, bus):
    old, new = os.urandom(50_000), os.urandom(60_000)
    first = ingest(settings, "take.wav", old)
    second = ingest(settings, "take.wav", new)
    upload_id = new_upload_id()
    summary = jobs.restore("film", TAKE, first, upload_id, {"name": "ada", "role": "editor"})
    assert summary["status"] == "completed", summary
    head = git(root, "rev-parse", "HEAD").strip()
    assert git(root, "rev-parse", "HEAD^").strip() == second
    assert git(root, "log", "-1", "--format=%an", head).strip() == "ada"
    assert f"oid sha256:{hashlib.sha256(old).hexdigest()}" in git(root, "show", f"HEAD:{TAKE}")
    assert (root / TAKE).read_bytes() == old
    assert_clean_repository(root)
    assert "upload.completed" in bus.kinds()
    again = Restore(settings).run("film", TAKE, first, upload_id, ADA)  # the job run twice: nothing more
    assert again["status"] == "completed" and git(root, "rev-parse", "HEAD").strip() == head


def test_a_run_that_died_while_copying_is_finished_by_the_next(settings, root):
    old = os.urandom(40_000)
    first = ingest(settings, "take.wav", old)
    ingest(settings, "take.wav", os.urandom(41_000))
    upload_id = new_upload_id()
    store = UploadStore(settings.state)
    store.create_staging(upload_id).write_bytes(old[:1000])  # cut off: no record was written
    assert Restore(settings).run("film", TAKE, first, upload_id, None)["status"] == "completed"
    assert (root / TAKE).read_bytes() == old
    assert not store.staging_dir(upload_id).exists()
    assert_clean_repository(root)


def test_a_file_below_a_type_folder_goes_back_where_it_was(settings, root):
    nested = root / "assets" / "scripts" / "act 1" / "scene.txt"
    nested.parent.mkdir()
    nested.write_bytes(b"INT. STUDIO - NIGHT\n")
    git(root, "add", "assets/scripts/act 1/scene.txt")
    git(root, "-c", "user.name=someone", "-c", "user.email=someone@localhost", "commit", "-q", "-m", "add the scene")
    first = git(root, "rev-parse", "HEAD").strip()
    git(root, "rm", "-q", "assets/scripts/act 1/scene.txt")
    git(root, "-c", "user.name=someone", "-c", "user.email=someone@localhost", "commit", "-q", "-m", "cut the scene")
    summary = Restore(settings).run("film", "assets/scripts/act 1/scene.txt", first, new_upload_id(), None)
    assert summary["status"] == "completed", summary
    assert nested.read_bytes() == b"INT. STUDIO - NIGHT\n"
    assert git(root, "show", "HEAD:assets/scripts/act 1/scene.txt") == "INT. STUDIO - NIGHT\n"


def test_what_cannot_be_restored_is_announced_as_failed(settings, root, bus):
    first = git(root, "rev-parse", "HEAD").strip()  # before take.wav existed
    head = first
    for path, version in ((TAKE, first), ("project.json", first), ("assets/../project.json", first), (TAKE, "0" * 40)):
        summary = Restore(settings).run("film", path, version, new_upload_id(), ADA)
        assert summary["status"] == "failed", (path, summary)
    assert [r.event for r in bus.events if r.event.startswith("restore.")] == ["restore.failed"] * 4
    assert git(root, "rev-parse", "HEAD").strip() == head
    assert UploadStore(settings.state).ids() == []


@pytest.fixture
def redis_server(tmp_path):
    yield from running_redis(tmp_path / "redis")


def test_through_rq_the_job_and_its_arguments_arrive_as_the_api_enqueues_them(settings, root, redis_server):
    """Redis mode: the API's enqueue (by name, plain values) run by an RQ worker (in this process)."""
    old = os.urandom(30_000)
    first = ingest(settings, "take.wav", old)
    ingest(settings, "take.wav", os.urandom(31_000))
    queue = RQJobs(redis_server.url)
    upload_id = new_upload_id()
    kwargs = {"project_id": "film", "path": TAKE, "version": first, "upload_id": upload_id,
              "actor": {"name": "ada", "role": "editor", "email": None}}  # fmt: skip
    queue.enqueue(RESTORE_JOB, job_id=f"restore-{upload_id}", kwargs=kwargs)
    assert SimpleWorker([queue.queue], connection=queue.redis).work(burst=True)
    assert Job.fetch(f"restore-{upload_id}", connection=queue.redis).get_status() == JobStatus.FINISHED
    assert (root / TAKE).read_bytes() == old
    assert git(root, "log", "-1", "--format=%an").strip() == "ada"
    assert_clean_repository(root)
