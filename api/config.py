"""What the API depends on, injected through one object (falcon's asgilook style).

Built by ``api.app.create_app`` from the environment, or by tests and the
launcher with fakes, clocks and shared buses passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from auteur.bus import EventBus, LocalBus
from auteur.jobs import InProcessJobs, JobQueue
from auteur.settings import Settings, from_env

GiB = 1024**3


@dataclass
class ApiConfig:
    settings: Settings = field(default_factory=from_env)
    jobs: JobQueue = field(default_factory=InProcessJobs)
    bus: EventBus = field(default_factory=LocalBus)
    clock: Callable[[], float] = time.time
    # How long create/delete wait for the controller before answering 202.
    wait_timeout: float = 30.0
    max_upload_bytes: int = 20 * GiB
    max_json_bytes: int = 64 * 1024
    cors_origins: tuple[str, ...] = ()
    # Extra Prometheus text from other parts of this process (the controller, in embedded mode).
    metrics_sources: list[Callable[[], str]] = field(default_factory=list)
    # Whether Redis is reachable (None: not used, the embedded default).
    redis_ping: Callable[[], bool] | None = None

    def origins(self) -> tuple[str, ...]:
        if self.cors_origins:
            return self.cors_origins
        port = self.settings.web_port
        return (f"http://localhost:{port}", f"http://127.0.0.1:{port}")
