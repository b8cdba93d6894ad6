"""/health, /health/live, /metrics and CORS against the embedded stack over real HTTP."""

from __future__ import annotations

import os
import re
import time

import falcon.testing
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.config import ApiConfig
from tests.api.conftest import metric_value, wait_for

GALLERY = "http://localhost:3000"


def health(client) -> tuple[int, dict]:
    resp = client.get("/health")
    return resp.status_code, resp.json()


class FakeJobs:
    def __init__(self, alive: bool) -> None:
        self.alive = alive

    def enqueue(self, name, *, job_id, kwargs):
        return job_id

    def worker_alive(self) -> bool:
        return self.alive

    def depth(self) -> int:
        return 0


def test_healthy_when_everything_is_up(stack, client):
    wait_for(lambda: health(client)[1]["controller"] == "running", what="the first heartbeat")
    code, body = health(client)
    assert code == 200
    assert body["status"] == "healthy"
    assert body["redis"] == "not configured"  # the embedded default
    assert body["worker"] == "running"
    assert body["workspace"] == "writable"
    assert body["failing"] == []
    assert body["heartbeat"]["pid"] == os.getpid()
    assert not [n for n in os.listdir(stack.settings.state) if n.startswith(".health.")], "the probe file was left behind"


def test_degraded_when_the_heartbeat_is_stale(stack, client):
    wait_for(lambda: health(client)[1]["controller"] == "running", what="the first heartbeat")
    beat = msgspec.json.decode((stack.settings.state / "heartbeat.json").read_bytes())
    # An injected clock 16 s ahead of the last beat: stale with the default 15 s window, fresh with 20 s.
    stack.config.clock = lambda: beat["at"] + 16
    code, body = health(client)
    assert (code, body["status"], body["controller"], body["failing"]) == (200, "degraded", "not running", ["controller"])
    stack.config.heartbeat_max_age = 20.0
    assert health(client)[1]["status"] == "healthy"


def test_degraded_without_a_heartbeat_file_or_with_a_torn_one(stack, client):
    stack.config.settings = msgspec.structs.replace(stack.settings, workspace=stack.settings.workspace.parent / "other")
    stack.config.settings.state.mkdir(parents=True)
    code, body = health(client)
    assert (code, body["status"], body["controller"], body["heartbeat"]) == (200, "degraded", "not running", None)
    (stack.config.settings.state / "heartbeat.json").write_bytes(b'{"pid": 1, "at":')
    assert health(client)[1]["controller"] == "not running"


def test_degraded_when_the_worker_or_redis_is_down(stack, client):
    wait_for(lambda: health(client)[1]["status"] == "healthy", what="healthy")
    stack.config.jobs = FakeJobs(alive=False)
    code, body = health(client)
    assert (code, body["status"], body["worker"], body["failing"]) == (200, "degraded", "not running", ["worker"])
    stack.config.jobs = FakeJobs(alive=True)
    stack.config.redis_ping = lambda: False
    code, body = health(client)
    assert (code, body["status"], body["redis"], body["failing"]) == (200, "degraded", "disconnected", ["redis"])

    def refused() -> bool:
        raise ConnectionRefusedError("redis is down")

    stack.config.redis_ping = refused
    assert health(client)[1]["redis"] == "disconnected"
    stack.config.redis_ping = lambda: True
    code, body = health(client)
    assert (code, body["status"], body["redis"], body["failing"]) == (200, "healthy", "connected", [])


def test_a_hung_probe_counts_as_down(stack, client):
    wait_for(lambda: health(client)[1]["status"] == "healthy", what="healthy")
    stack.config.probe_timeout = 0.2
    stack.config.redis_ping = lambda: time.sleep(5) or True
    started = time.monotonic()
    code, body = health(client)
    assert (code, body["redis"]) == (200, "disconnected")
    assert time.monotonic() - started < 4


def test_unhealthy_503_when_the_workspace_is_not_writable(stack, client, tmp_path):
    # Root ignores permissions, so make creation impossible: the state dir would sit under a file.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    good = stack.config.settings
    stack.config.settings = msgspec.structs.replace(good, workspace=blocker / "workspace")
    code, body = health(client)
    assert (code, body["status"], body["workspace"]) == (503, "unhealthy", "not writable")
    assert "workspace" in body["failing"]
    stack.config.settings = good
    assert health(client)[0] == 200


def test_live_answers_while_the_process_runs(client):
    resp = client.get("/health/live")
    assert (resp.status_code, resp.json()) == (200, {"status": "alive"})


def test_metrics_in_prometheus_text(stack, client):
    (stack.settings.specs / "metered.yaml").write_text("name: metered\n")
    wait_for(lambda: 'auteur_projects{status="ready"} 1' in client.get("/metrics").text, what="the project counted ready")
    client.get("/health/live")
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = resp.text
    for family in ("controller_runtime_reconcile_total", "controller_runtime_reconcile_time_seconds", "workqueue_depth",
                   "auteur_projects", "auteur_api_requests_total", "auteur_api_request_duration_seconds",
                   "auteur_upload_bytes_total", "auteur_api_websocket_clients"):  # fmt: skip
        assert f"# TYPE {family} " in text, family
    assert re.search(r'controller_runtime_reconcile_total\{controller="project",result="success"\} [1-9]', text)
    assert 'auteur_projects{status="failed"} 0' in text
    assert re.search(r'auteur_api_requests_total\{code="200",method="GET",route="/health/live"\} [1-9]', text)
    # The text format sorts labels (prometheus-client): read the bucket as Prometheus would.
    assert metric_value(client, "auteur_api_request_duration_seconds_bucket", le="+Inf", method="GET", route="/health/live") >= 1
    # Every sample line parses: name{labels} value.
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? \S+$')
    bad = [line for line in text.splitlines() if line and not line.startswith("#") and not sample.match(line)]
    assert not bad, bad


def test_unknown_routes_share_one_series(client):
    client.get("/no/such/thing/1")
    client.get("/no/such/thing/2")
    text = client.get("/metrics").text
    assert re.search(r'auteur_api_requests_total\{code="404",method="GET",route="unmatched"\} [2-9]', text)
    assert "/no/such/thing" not in text


def test_metrics_parse_as_prometheus_does_with_the_same_names(stack, client):
    (stack.settings.specs / "parsed.yaml").write_text("name: parsed\n")
    wait_for(lambda: metric_value(client, "auteur_projects", status="ready") == 1, what="the project counted ready")
    client.get("/health/live")
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    kinds = {name: f.type for name, f in families.items()}
    assert kinds | EXPECTED_KINDS == kinds, "a family is missing or changed its type"
    took = {s.name: s.value for s in families["controller_runtime_reconcile_time_seconds"].samples}
    assert took["controller_runtime_reconcile_time_seconds_count"] >= 1
    assert took["controller_runtime_reconcile_time_seconds_sum"] > 0
    assert metric_value(client, "auteur_api_request_duration_seconds_count", method="GET", route="/health/live") >= 1
    assert metric_value(client, "workqueue_depth", name="project") == 0
    assert metric_value(client, "auteur_resync_total") >= 1


# Every family /metrics has always had, by the name Prometheus stores it under, and its type.
EXPECTED_KINDS = {
    "controller_runtime_reconcile": "counter",
    "controller_runtime_reconcile_errors": "counter",
    "controller_runtime_reconcile_time_seconds": "summary",
    "workqueue_depth": "gauge",
    "workqueue_active": "gauge",
    "auteur_resync": "counter",
    "auteur_resync_last_seconds": "gauge",
    "auteur_projects": "gauge",
    "auteur_api_requests": "counter",
    "auteur_api_request_duration_seconds": "histogram",
    "auteur_api_websocket_clients": "gauge",
    "auteur_api_events_sent": "counter",
    "auteur_api_events_resyncs": "counter",
    "auteur_upload_bytes": "counter",
    "auteur_uploads": "counter",
    "auteur_upload_duration_seconds": "summary",
}


def test_each_app_has_a_registry_of_its_own(api_settings):
    first = falcon.testing.TestClient(create_app(ApiConfig(settings=api_settings)))
    second = falcon.testing.TestClient(create_app(ApiConfig(settings=api_settings)))
    for _ in range(3):
        first.simulate_get("/health/live")
    assert 'auteur_api_requests_total{code="200",method="GET",route="/health/live"} 3.0' in first.simulate_get("/metrics").text
    assert "/health/live" not in second.simulate_get("/metrics").text


@pytest.mark.parametrize("path", ["/health", "/api/v1/projects", "/nowhere"])
def test_cors_echoes_the_gallery_origin_only(client, path):
    ok = client.get(path, headers={"Origin": GALLERY})
    assert ok.headers.get("access-control-allow-origin") == GALLERY
    assert "Origin" in ok.headers.get("vary", "")
    for evil in ("http://evil.example", "http://localhost:3000.evil.example", "null", "http://localhost:3001"):
        resp = client.get(path, headers={"Origin": evil})
        assert "access-control-allow-origin" not in resp.headers, evil
    assert client.get(path).headers.get("access-control-allow-origin") is None


def test_cors_preflight(client):
    resp = client.options("/api/v1/projects", headers={"Origin": GALLERY, "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "content-type"})  # fmt: skip
    assert resp.status_code < 300
    assert resp.headers["access-control-allow-origin"] == GALLERY
    assert "POST" in resp.headers["access-control-allow-methods"]
    assert "content-type" in resp.headers["access-control-allow-headers"].lower()
    evil = client.options("/api/v1/projects", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "DELETE"})
    assert "access-control-allow-origin" not in evil.headers
    assert "access-control-allow-methods" not in evil.headers


def test_a_specs_folder_the_service_cannot_write_is_a_clear_503(stack, client, monkeypatch):
    """As root here every folder is writable, so the refusal the volume would give is injected
    where the folder is opened; the container tests meet the real one (a read-only mount)."""
    import tempfile as tempfile_mod

    real = tempfile_mod.mkstemp
    specs = str(stack.settings.specs)

    def refusing(*args, dir=None, **kwargs):
        if dir is not None and str(dir) == specs:
            raise PermissionError(13, "Permission denied", os.path.join(specs, ".probe.tmp"))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile_mod, "mkstemp", refusing)
    code, body = health(client)
    assert (code, body["status"], body["specs"], body["workspace"]) == (503, "unhealthy", "not writable", "writable")
    assert "specs" in body["failing"]
    answer = client.post("/api/v1/projects", json={"name": "Blocked"})
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "storage_unavailable" and specs in error["message"] and "not writable" in error["message"]
    assert not list(stack.settings.specs.glob("*.yaml")), "nothing was written"
