"""``redisbackend.backends_for``: the one place the mode is chosen from the settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from auteur.bus import LocalBus
from auteur.jobs import InProcessJobs
from auteur.settings import Settings
from auteur.uploadviews import NoUploadView
from redisbackend import backends_for
from redisbackend.bus import RedisBus
from redisbackend.jobs import RQJobs
from redisbackend.uploadviews import RedisUploadView
from redisbackend.worker import RQWorkerService

ROOT = Path(__file__).resolve().parents[2]


def test_without_a_redis_url_everything_stays_in_process(tmp_path):
    b = backends_for(Settings(specs=tmp_path / "specs", workspace=tmp_path / "ws"))
    assert (type(b.bus), type(b.jobs), type(b.uploads)) == (LocalBus, InProcessJobs, NoUploadView)
    assert (b.ping, b.stream, b.requeue, b.worker) == (None, None, None, None)
    b.jobs.shutdown()


def test_with_a_redis_url_every_part_is_redis_and_the_controller_gets_the_stream_and_the_queue(redis_server, tmp_path):
    settings = Settings(specs=tmp_path / "specs", workspace=tmp_path / "ws", redis_url=redis_server.url, worker_heartbeat_seconds=2)
    b = backends_for(settings)
    assert (type(b.bus), type(b.jobs), type(b.uploads), type(b.worker)) == (RedisBus, RQJobs, RedisUploadView, RQWorkerService)
    assert b.stream is b.bus and b.requeue is b.jobs
    assert b.ping is not None and b.ping()
    assert isinstance(b.jobs, RQJobs) and b.jobs.max_age == 3 * 2 + 5
    alive, line = b.worker.health()
    assert not alive and "no live worker" in line
    redis_server.stop()
    assert not b.ping()


def test_the_embedded_stack_never_loads_redis_or_rq():
    """Only the services' entry points import this package; the launcher, the API and the jobs do not."""
    imports = "import sys, launcher.embedded, api.app, worker.jobs, worker.media"
    code = f"{imports}; print(sorted({{'redis', 'rq', 'redisbackend'}} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
