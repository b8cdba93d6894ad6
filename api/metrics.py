"""The API's own metrics, kept by prometheus-client on the app's registry.

``api.app.create_app`` makes one ``CollectorRegistry`` per app (or takes the
launcher's, which also holds the controller's collector) and builds
:class:`ApiMetrics`, :class:`ProjectCounts` and :class:`Components` on it. ``RequestMetrics`` is the
Falcon middleware that counts every HTTP request by method, route template and
status code and records its duration; ``api.events`` counts WebSocket clients and
the events they are sent; ``api.health.MetricsResource`` renders the registry.
Names follow controller-runtime's style (``<namespace>_<subsystem>_<name>_<unit>``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import falcon.asgi
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.config import ApiConfig
from auteur import heartbeat
from auteur.layout import HEARTBEAT

if TYPE_CHECKING:  # only its type: the index module is not needed at run time
    from api.index import ProjectIndex

# controller-runtime's default latency buckets.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """What the API process measures about itself, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("auteur_api_requests_total", "HTTP requests answered, by method, route and status code.",
                                ["code", "method", "route"], registry=registry)  # fmt: skip
        self.latency = Histogram("auteur_api_request_duration_seconds", "Time to answer an HTTP request, by method and route.",
                                 ["method", "route"], buckets=DEFAULT_BUCKETS, registry=registry)  # fmt: skip
        self.ws_clients = Gauge("auteur_api_websocket_clients", "Clients connected to the events WebSocket.", registry=registry)
        self.events_sent = Counter("auteur_api_events_sent_total", "Events pushed to WebSocket clients, by kind.", ["type"],
                                   registry=registry)  # fmt: skip
        self.resyncs = Counter("auteur_api_events_resyncs_total", "Resync events sent, by reason.", ["reason"], registry=registry)

    def client_connected(self, delta: int) -> None:
        self.ws_clients.inc(delta)


class ProjectCounts(Collector):
    """``auteur_projects{status=...}``: projects by status, read from the index when
    scraped (never a folder scan)."""

    def __init__(self, index: ProjectIndex) -> None:
        self.index = index

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Named without reading the index: registering must not load it.
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        for status, count in sorted(self.index.counts().items()):
            family.add_metric([status], count)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("auteur_projects", "Projects by status.", labels=["status"])


class Components(Collector):
    """What the alert rules (``deploy/prometheus/alerts.yml``) watch from the API's side, read
    when scraped: the controller's heartbeat, the workers, Redis, and the volume's space."""

    def __init__(self, config: ApiConfig) -> None:
        self.config = config

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        controller_up, age, workers, redis, free, size = self._families()
        beat = heartbeat.read(self.config.settings.state / HEARTBEAT)
        now = self.config.clock()
        controller_up.add_metric([], 1.0 if beat is not None and beat.is_fresh(now, self.config.heartbeat_max_age) else 0.0)
        if beat is not None:
            age.add_metric([], max(0.0, beat.age(now)))
        workers.add_metric([], 1.0 if _answers(self.config.jobs.worker_alive) else 0.0)
        if self.config.redis_ping is not None:
            redis.add_metric([], 1.0 if _answers(self.config.redis_ping) else 0.0)
        try:
            st = os.statvfs(self.config.settings.workspace)
            free.add_metric([], float(self.config.free_bytes(self.config.settings.workspace)))
            size.add_metric([], float(st.f_blocks * st.f_frsize))
        except OSError:
            pass
        yield from (controller_up, age, workers, redis, free, size)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily("auteur_controller_up", "1 while the controller's heartbeat is fresh."),
            GaugeMetricFamily("auteur_controller_heartbeat_age_seconds", "Age of the controller's last heartbeat."),
            GaugeMetricFamily("auteur_workers_up", "1 while a worker runs the job queue (always 1 in the embedded default)."),
            GaugeMetricFamily("auteur_redis_up", "1 while Redis answers (Redis mode only)."),
            GaugeMetricFamily("auteur_workspace_free_bytes", "Bytes still free on the workspace volume."),
            GaugeMetricFamily("auteur_workspace_size_bytes", "Size of the workspace volume."),
        )


def _answers(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:
        return False


class RequestMetrics:
    """Falcon middleware: counts and times every HTTP request (WebSockets are counted by ``api.events``)."""

    def __init__(self, metrics: ApiMetrics) -> None:
        self.metrics = metrics

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        req.context.metrics_started = time.perf_counter()

    async def process_response(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: object, ok: bool) -> None:
        started = req.context.get("metrics_started")
        # The route template, not the path: one series per route whatever the ids.
        route = req.uri_template or "unmatched"
        self.metrics.requests.labels(code=str(resp.status_code), method=req.method, route=route).inc()
        if started is not None:
            self.metrics.latency.labels(method=req.method, route=route).observe(time.perf_counter() - started)
