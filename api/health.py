"""``/health``, ``/health/live`` and ``/metrics``: how this API process and its parts are doing.

Routed by ``api.app.create_app``; called by compose health checks, ``make
docker-health``, monitoring and Prometheus. The checks only look: the
controller's heartbeat file, the job queue's and Redis's answers, and a temp
file created and removed under ``workspace/.auteur``. ``/health`` is ``healthy``
when all parts are up, ``degraded`` (still 200) when the API can serve without
some of them, and 503 ``unhealthy`` only when the workspace is not writable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
import falcon
import falcon.asgi
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from api.config import ApiConfig
from auteur import heartbeat
from auteur.layout import HEARTBEAT

if TYPE_CHECKING:  # only its type: the index module is not needed at run time
    from api.index import ProjectIndex

log = logging.getLogger("auteur.api.health")

T = TypeVar("T")


class HealthResource:
    """``GET /health``: ``status`` plus the state of ``redis``, ``worker``, ``controller`` and ``workspace``."""

    def __init__(self, config: ApiConfig, index: ProjectIndex) -> None:
        self.config, self.index = config, index

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        state, specs = self.config.settings.state, self.config.settings.specs
        checks = self._redis(), self._worker(), self._writable(state), self._writable(specs), self._controller(), self._disk()
        redis, worker, workspace, spec_folder, (controller, beat), disk = await asyncio.gather(*checks)
        parts = {"redis": redis, "worker": worker, "controller": controller, "workspace": workspace, "specs": spec_folder,
                 "disk": disk}  # fmt: skip
        ok = ("connected", "not configured", "running", "writable", "ok")
        failing = [name for name, value in parts.items() if not value.startswith(ok)]
        if workspace != "writable" or spec_folder != "writable":
            status, resp.status = "unhealthy", falcon.HTTP_503
        else:
            status = "degraded" if failing else "healthy"
        resp.media = {"status": status, **parts, "failing": failing, "heartbeat": beat}
        resp.set_header("Cache-Control", "no-store")

    async def _disk(self) -> str:
        """``ok …`` while the workspace volume has more than AUTEUR_DISK_WARNING_BYTES free; ``low …`` below."""
        try:
            free = await self._probe(lambda: self.config.free_bytes(self.config.settings.workspace))
        except Exception as exc:  # a hung or missing volume: the writable checks say which
            log.debug("disk space check failed: %s", exc)
            return "unknown"
        warning = self.config.settings.disk_warning_bytes
        state = "ok" if free >= warning else "low"
        return f"{state}: {free} bytes free (warning below {warning})"

    async def _probe(self, check: Callable[[], T]) -> T:
        """Run a blocking check in a thread, giving up after ``probe_timeout`` (a hung volume or Redis)."""
        return await asyncio.wait_for(asyncio.to_thread(check), self.config.probe_timeout)

    async def _redis(self) -> str:
        ping = self.config.redis_ping
        if ping is None:
            return "not configured"
        try:
            return "connected" if await self._probe(ping) else "disconnected"
        except Exception as exc:
            log.debug("redis ping failed: %s", exc)
            return "disconnected"

    async def _worker(self) -> str:
        try:
            return "running" if await self._probe(self.config.jobs.worker_alive) else "not running"
        except Exception as exc:
            log.debug("worker check failed: %s", exc)
            return "not running"

    async def _writable(self, folder: Path) -> str:
        try:
            await self._probe(lambda: self._touch(folder))
            return "writable"
        except Exception as exc:
            log.warning("%s not writable: %s", folder, exc)
            return "not writable"

    @staticmethod
    def _touch(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)  # as a create would
        fd, path = tempfile.mkstemp(dir=folder, prefix=".health.", suffix=".tmp")
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            os.unlink(path)

    async def _controller(self) -> tuple[str, dict[str, Any] | None]:
        """``running`` while the controller's heartbeat (rewritten every 5 s) is fresh."""
        path = self.config.settings.state / HEARTBEAT
        try:
            beat = await self._probe(lambda: heartbeat.read(path))
        except Exception:  # the probe timed out: a hung volume
            beat = None
        if beat is None:
            return "not running", None
        now = self.config.clock()
        summary = {"pid": beat.pid, "age_seconds": round(beat.age(now), 3), "queue": beat.queue}
        return ("running" if beat.is_fresh(now, self.config.heartbeat_max_age) else "not running"), summary


class LiveResource:
    """``GET /health/live``: 200 while the process runs and the event loop answers."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"status": "alive"}
        resp.set_header("Cache-Control", "no-store")


class MetricsResource:
    """``GET /metrics``: the app's registry (this API, and the controller in embedded mode)
    in the Prometheus text format."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = CONTENT_TYPE_PLAIN_0_0_4
        # In a thread: collecting reads the heartbeat file and may ask Redis (api.metrics.Components).
        resp.data = await anyio.to_thread.run_sync(generate_latest, self.registry)
