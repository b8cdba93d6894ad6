"""The worker service (``python -m worker``, ``redisbackend.worker``) and the job queue's view of it, against a real redis-server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import wait_for
from processes import alive, kill_tree

from redisbackend.jobs import RQJobs

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
