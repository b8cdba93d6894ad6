"""A tiny Prometheus text registry and the API's own HTTP metrics.

``RequestMetrics`` is the Falcon middleware ``api.app.create_app`` installs: it
counts every HTTP request by method, route template and status code and records
its duration. ``api.health.MetricsResource`` renders ``API_METRICS`` together with
the other sources of this process (the controller in embedded mode, uploads).
Names follow controller-runtime's style (``<namespace>_<subsystem>_<name>_<unit>``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable

import falcon.asgi

# controller-runtime's default latency buckets.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[tuple[str, str], ...]


def escape(value: str) -> str:
    """A label value as the exposition format wants it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in labels) + "}"


def format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Counter:
    """A monotonically increasing value per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(sorted(labels.items())), 0.0)

    def samples(self) -> Iterable[str]:
        with self._lock:
            items = sorted(self._values.items())
        for labels, value in items:
            yield f"{self.name}{format_labels(labels)} {format_value(value)}"


class Gauge(Counter):
    """A value that goes up and down."""

    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        with self._lock:
            self._values[tuple(sorted(labels.items()))] = value


class Histogram:
    """Cumulative buckets, sum and count per label set."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        self.name, self.help, self.buckets = name, help_text, tuple(sorted(buckets))
        self._series: dict[Labels, list[float]] = {}  # bucket counts..., sum, count
        self._lock = threading.Lock()

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._series.setdefault(key, [0.0] * (len(self.buckets) + 2))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    series[i] += 1
            series[-2] += value
            series[-1] += 1

    def samples(self) -> Iterable[str]:
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        for labels, series in items:
            for bound, count in zip((*self.buckets, math.inf), (*series[: len(self.buckets)], series[-1]), strict=True):
                yield f"{self.name}_bucket{format_labels((*labels, ('le', format_value(bound))))} {format_value(count)}"
            yield f"{self.name}_sum{format_labels(labels)} {format_value(series[-2])}"
            yield f"{self.name}_count{format_labels(labels)} {format_value(series[-1])}"


Metric = Counter | Histogram


class Registry:
    """A set of metrics rendered together in the Prometheus text format (0.0.4)."""

    def __init__(self) -> None:
        self.metrics: list[Metric] = []

    def register(self, metric: Metric) -> Metric:
        self.metrics.append(metric)
        return metric

    def render_prometheus(self) -> str:
        lines: list[str] = []
        for metric in self.metrics:
            lines.append(f"# HELP {metric.name} {metric.help}")
            lines.append(f"# TYPE {metric.name} {metric.kind}")
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n" if lines else ""


class ApiMetrics(Registry):
    """What the API process measures about itself."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = Counter("auteur_api_requests_total", "HTTP requests answered, by method, route and status code.")
        self.latency = Histogram("auteur_api_request_duration_seconds", "Time to answer an HTTP request, by method and route.")
        self.ws_clients = Gauge("auteur_api_websocket_clients", "Clients connected to the events WebSocket.")
        self.events_sent = Counter("auteur_api_events_sent_total", "Events pushed to WebSocket clients, by kind.")
        self.resyncs = Counter("auteur_api_events_resyncs_total", "Resync events sent, by reason.")
        for metric in (self.requests, self.latency, self.ws_clients, self.events_sent, self.resyncs):
            self.register(metric)
        self.ws_clients.set(0)

    def client_connected(self, delta: int) -> None:
        self.ws_clients.inc(delta)


API_METRICS = ApiMetrics()


class RequestMetrics:
    """Falcon middleware: counts and times every HTTP request (WebSockets are counted by ``api.events``)."""

    def __init__(self, metrics: ApiMetrics = API_METRICS) -> None:
        self.metrics = metrics

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        req.context.metrics_started = time.perf_counter()

    async def process_response(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: object, ok: bool) -> None:
        started = req.context.get("metrics_started")
        # The route template, not the path: one series per route whatever the ids.
        route = req.uri_template or "unmatched"
        self.metrics.requests.inc(method=req.method, route=route, code=str(resp.status_code))
        if started is not None:
            self.metrics.latency.observe(time.perf_counter() - started, method=req.method, route=route)
