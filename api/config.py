"""What the API depends on, injected through one object (falcon's asgilook style).

Built by ``api.app.create_app`` from the environment (``from_environment``: the
API's wiring, the one module of ``api`` that reaches ``redisbackend``), or by tests
and the launcher with fakes, clocks and shared buses passed in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from auteur.bus import EventBus, LocalBus
from auteur.heartbeat import CONTROLLER_MAX_AGE
from auteur.jobs import InProcessJobs, JobQueue
from auteur.settings import Settings, from_env
from auteur.uploadviews import NoUploadView, UploadView

GiB = 1024**3


def free_bytes_of(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the volume holding ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@dataclass
class ApiConfig:
    settings: Settings = field(default_factory=from_env)
    jobs: JobQueue = field(default_factory=InProcessJobs)
    bus: EventBus = field(default_factory=LocalBus)
    clock: Callable[[], float] = time.time
    # How long create/delete wait for the controller before answering 202.
    wait_timeout: float = 30.0
    max_upload_bytes: int = 20 * GiB
    # Free bytes on the volume holding ``path`` (injected by tests to simulate a full disk).
    free_bytes: Callable[[Path], int] = field(default=free_bytes_of)
    # Past this a JSON body answers 413 unread. The largest schema-valid body is about 120 KiB (a
    # 10,000-character description of astral characters, each escaped as 12 bytes), and a body the
    # schema refuses must get its 422: 1 MiB keeps both well clear.
    max_json_bytes: int = 1 << 20
    cors_origins: tuple[str, ...] = ()
    # Where uploads stand, for every replica (Redis mode); the records on the volume rule.
    uploads: UploadView = field(default_factory=NoUploadView)
    # Whether Redis is reachable (None: not used, the embedded default).
    redis_ping: Callable[[], bool] | None = None
    # /health: the controller counts as running while its heartbeat is younger than this.
    heartbeat_max_age: float = CONTROLLER_MAX_AGE
    # /health: a probe (workspace, Redis, worker) slower than this counts as failed.
    probe_timeout: float = 5.0
    # The events WebSocket sends a keepalive frame after this many idle seconds.
    events_keepalive: float = 20.0

    @classmethod
    def from_environment(cls) -> ApiConfig:
        """The API as a service of its own: with ``REDIS_URL`` its jobs go through RQ and
        its events through the Redis stream; without it, everything stays in-process."""
        settings = from_env()
        origins = settings.cors_origins
        # Imported here, so the embedded stack and tests, which build the config themselves, never load redis or rq.
        from redisbackend import backends_for

        b = backends_for(settings)
        return cls(settings=settings, jobs=b.jobs, bus=b.bus, uploads=b.uploads, redis_ping=b.ping, cors_origins=origins)

    def origins(self) -> tuple[str, ...]:
        """Where browsers may call the API from: the gallery (on localhost and 127.0.0.1) and ``cors_origins``."""
        port = self.settings.web_port
        return (f"http://localhost:{port}", f"http://127.0.0.1:{port}", *self.cors_origins)
