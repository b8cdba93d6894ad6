"""The worker service, the job queue's view of it, and the shared upload view, against a real redis-server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import wait_for
from processes import alive, kill_tree
from rq import Queue
from rq.job import Job, JobStatus

from auteur.redisbus import connect
from auteur.rqjobs import RQJobs
from auteur.uploadviews import RedisUploadView, key_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_env(redis_server, tmp_path):
    return dict(os.environ, REDIS_URL=redis_server.url, AUTEUR_WORKSPACE=str(tmp_path / "ws"), AUTEUR_SPECS=str(tmp_path / "specs"),
                AUTEUR_WORKER_HEARTBEAT_SECONDS="1")  # fmt: skip


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "worker"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def health(env: dict[str, str]) -> int:
    return subprocess.run([sys.executable, "-m", "worker", "health"], cwd=ROOT, env=env, capture_output=True).returncode


def test_a_live_worker_is_seen_a_killed_one_is_not_and_one_survives_a_redis_restart(redis_server, worker_env, tmp_path):
    jobs = RQJobs(redis_server.url, heartbeat_seconds=1)
    assert not jobs.worker_alive() and health(worker_env) == 1
    proc = start_worker(worker_env, tmp_path / "worker.log")
    try:
        wait_for(jobs.worker_alive, 30, 0.2, what="the worker registered")
        assert health(worker_env) == 0
        redis_server.stop()  # a restart without persistence forgets every registration
        assert not jobs.worker_alive()
        log = tmp_path / "worker.log"
        wait_for(lambda: "Scheduler [PID" in log.read_text() and "raised an exception" in log.read_text(), 30, 0.2,
                 what="rq's scheduler dying with the connection")  # fmt: skip
        redis_server.start()
        wait_for(jobs.worker_alive, 30, 0.2, what="the worker registered again after the Redis restart")
        assert health(worker_env) == 0, (tmp_path / "worker.log").read_text()
        # rq's scheduler (it runs the retries) died with the connection; it is back at once, not in 10 minutes.
        wait_for(lambda: redis_server.client().exists("rq:scheduler-lock:default"), 30, 0.2, what="the scheduler started again")
        kill_tree(proc.pid, signal.SIGKILL)
        proc.wait(10)
        # rq keeps a dead worker's key for a while; its stale heartbeat is what tells.
        wait_for(lambda: not jobs.worker_alive(), 30, 0.2, what="the killed worker counted as gone")
        assert health(worker_env) == 1
    finally:
        if alive(proc.pid):
            kill_tree(proc.pid)
        proc.wait(10)


def test_a_job_started_by_a_dead_worker_is_enqueued_again(redis_server):
    jobs = RQJobs(redis_server.url, heartbeat_seconds=1)
    jobs.enqueue("worker.jobs.ingest", job_id="ingest-y", kwargs={"upload_id": "y"})
    queue = Queue("default", connection=connect(redis_server.url))
    job = Job.fetch(queue.pop_job_id(), connection=queue.connection)  # a worker took it...
    job.worker_name = "gone-for-good"
    job.set_status(JobStatus.STARTED)
    job.save()
    assert jobs.depth() == 0
    jobs.enqueue("worker.jobs.ingest", job_id="ingest-y", kwargs={"upload_id": "y"})  # ...and died
    assert jobs.depth() == 1 and Job.fetch("ingest-y", connection=queue.connection).get_status() == JobStatus.QUEUED


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
