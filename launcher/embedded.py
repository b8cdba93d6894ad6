"""Wires the parts together in one process and serves them until SIGTERM/Ctrl-C.

Called by ``python -m launcher`` (``make up``) and by the end-to-end tests. This is
the embedded default, whatever ``REDIS_URL`` says: its backends are
``auteur.backends.Backends.embedded`` (the in-process bus and job runner), shared
by the controller's journal, the API and the jobs of this process. The process has
one Prometheus registry: the API's metrics and, through :class:`ControllerCollector`,
the controller's, all on the API's ``/metrics``.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field

import anyio
import uvicorn
from prometheus_client import CollectorRegistry

from api.app import create_app
from api.config import ApiConfig
from auteur.backends import Backends
from auteur.bus import LocalBus
from auteur.jobs import InProcessJobs
from auteur.settings import Settings
from controller.metrics import ControllerCollector
from controller.running import Controller, run_controller
from web.app import create_app as create_web_app
from worker import jobs as worker_jobs

log = logging.getLogger("auteur.launcher")


@dataclass
class EmbeddedStack:
    """Everything in one process. ``serve()`` runs until ``stop()`` or a signal.

    The gallery listens on ``web_port``; None means ``settings.web_port``, or a free
    port when ``api_port`` is 0 (tests). Its socket is bound here, before the API is
    built, so the API's CORS origins include the port it really got.
    """

    settings: Settings
    host: str = "127.0.0.1"
    api_port: int | None = None
    web_port: int | None = None
    jobs: InProcessJobs = field(default_factory=InProcessJobs)
    bus: LocalBus = field(default_factory=LocalBus)
    wait_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.settings.redis_url:
            log.warning("REDIS_URL is set, but the launcher runs everything in this process; the compose stack uses Redis")
        backends = Backends.embedded(bus=self.bus, jobs=self.jobs)
        # No stream, no requeue: the journal's listener publishes to the bus, and jobs
        # that die with this process are recovered at its next start (below).
        self.controller = Controller(self.settings)
        self.controller.journal.listeners.append(self.bus.publish)
        # the ingest job enqueues video posters on the same runner
        self.job_context = worker_jobs.configure(self.settings, view=backends.uploads, queue=backends.jobs)
        backends.jobs.enqueue("worker.jobs.recover_uploads", job_id="recover-uploads", kwargs={})  # what a crash left
        self.config = ApiConfig(
            settings=self.settings,
            jobs=backends.jobs,
            bus=backends.bus,
            uploads=backends.uploads,
            wait_timeout=self.wait_timeout,
        )
        self.web_socket = self._bind_web()
        bound = self.web_socket.getsockname()[1]
        if bound != self.settings.web_port:  # a free port: the gallery's real origin is allowed too
            self.config.cors_origins = (*self.config.origins(), f"http://localhost:{bound}", f"http://127.0.0.1:{bound}")
        # One registry for this process: the API's metrics and the controller's.
        self.registry = CollectorRegistry()
        self.registry.register(ControllerCollector(self.controller.metrics, self.controller.queue))
        self.app = create_app(self.config, registry=self.registry)
        port = self.api_port if self.api_port is not None else self.settings.api_port
        self.api_server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=self.host,
                port=port,
                log_level="warning",
                lifespan="on",
                ws_max_size=1 << 20,
                proxy_headers=False,
                log_config=None,
            )  # who sent X-Forwarded-* is api.auth's to judge (AUTEUR_TRUSTED_PROXIES)
        )
        web_app = create_web_app(lambda: self.api_url, self._public_api_url, trusted_proxies=self.settings.trusted_proxies)
        # who sent X-Forwarded-* is web.visitors' to judge too
        self.web_server = uvicorn.Server(uvicorn.Config(web_app, log_level="warning", lifespan="on", proxy_headers=False, log_config=None))
        self.ready = threading.Event()

    async def serve(self) -> None:
        worker_jobs.bind(self.job_context)  # this thread's tasks enqueue jobs that run with this stack's context
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._controller, tg.cancel_scope)
            tg.start_soon(self._api, tg.cancel_scope)
            tg.start_soon(self._web)
            tg.start_soon(self._announce)

    async def _controller(self, scope: anyio.CancelScope) -> None:
        try:
            await run_controller(self.controller)
        finally:
            self.api_server.should_exit = True
            self.web_server.should_exit = True

    async def _api(self, scope: anyio.CancelScope) -> None:
        await self.api_server.serve()
        self.controller.request_stop()
        self.web_server.should_exit = True

    async def _web(self) -> None:
        await self.web_server.serve(sockets=[self.web_socket])
        self.controller.request_stop()
        self.api_server.should_exit = True

    async def _announce(self) -> None:
        while not (self.api_server.started and self.web_server.started and self.controller.started.is_set()):
            await anyio.sleep(0.02)
        self.ready.set()
        port = self.api_server.servers[0].sockets[0].getsockname()[1] if self.api_server.servers else self.api_port
        log.info("Auteur is up: API on http://%s:%s, gallery on %s (workspace %s)", self.host, port, self.web_url, self.settings.workspace)

    @property
    def api_url(self) -> str:
        sockets = self.api_server.servers[0].sockets if self.api_server.servers else []
        port = sockets[0].getsockname()[1] if sockets else self.api_port
        return f"http://{self.host}:{port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_socket.getsockname()[1]}"

    def _public_api_url(self) -> str:
        """Where browsers reach the API: ``AUTEUR_API_URL``, else this server's address
        (``localhost`` when it listens on every interface)."""
        if self.settings.api_url:
            return self.settings.api_url
        if self.host in ("0.0.0.0", "::", ""):
            return self.api_url.replace(f"//{self.host}:", "//localhost:", 1)
        return self.api_url

    def _bind_web(self) -> socket.socket:
        port = self.web_port if self.web_port is not None else (0 if self.api_port == 0 else self.settings.web_port)
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, port))
        except OSError:
            sock.close()
            raise
        return sock

    def stop(self) -> None:
        self.controller.request_stop()
        self.api_server.should_exit = True
        self.web_server.should_exit = True
        self.jobs.shutdown()
