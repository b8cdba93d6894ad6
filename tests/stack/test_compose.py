"""The compose files, their mapping onto local processes, and the make targets around them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from launcher import docker
from launcher.compose import Layout, duration, plan

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
AUTEUR_SERVICES = ("controller", "worker", "backend", "frontend")


@pytest.mark.parametrize("files", [["docker-compose.yml"], ["docker-compose.yml", "docker-compose.test.yml"]])
def test_docker_compose_validates_the_files(files):
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (.ci/run installs Debian's docker-compose)")
    args = [part for name in files for part in ("-f", str(ROOT / name))]
    done = subprocess.run([binary, *args, "config", "-q"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_the_compose_file_declares_what_the_issue_asks_of_each_service():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert set(services) == {"frontend", "backend", "controller", "worker", "redis"}
    for name, body in services.items():
        assert body["healthcheck"]["test"], name
        assert body["mem_limit"] and body["cpus"] and body["restart"] and body["stop_grace_period"], name
    for name in ("backend", "controller", "worker"):
        assert "workspace:/workspace" in services[name]["volumes"], name
    for name in ("backend", "controller"):
        assert "./specs:/specs" in services[name]["volumes"], name
    assert services["backend"]["ports"] == ["8000:8000"] and services["frontend"]["ports"] == ["3000:3000"]
    assert services["frontend"]["depends_on"] == {"backend": {"condition": "service_healthy"}}
    assert all(services[name]["image"] == "auteur:latest" for name in AUTEUR_SERVICES), "one image for every service"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile and "USER auteur" in dockerfile


def layout(tmp_path, redis_url: str | None = None, **scale: int) -> Layout:
    return Layout(tmp_path / "ws", tmp_path / "specs", redis_url, 18000, 13000, tmp_path / "redis", {"backend": 2, **scale})


def test_plan_runs_each_service_here_with_a_local_redis_and_a_second_api_replica(tmp_path):
    services = {s.name: s for s in plan(COMPOSE, layout(tmp_path))}
    assert list(services) == ["redis", "controller", "worker", "backend", "backend-2", "frontend"]
    redis = services["redis"]
    port = redis.command[redis.command.index("--port") + 1]
    assert redis.command[0] == "redis-server" and "--appendonly" in redis.command and redis.health == ["redis-cli", "-p", port, "ping"]
    for name in ("controller", "worker", "backend", "backend-2", "frontend"):
        env = services[name].env
        assert env["REDIS_URL"] == f"redis://127.0.0.1:{port}/0"
        assert (env["AUTEUR_WORKSPACE"], env["AUTEUR_SPECS"]) == (str(tmp_path / "ws"), str(tmp_path / "specs"))
        assert services[name].command[0] == sys.executable and services[name].restart == "unless-stopped"
        assert services[name].grace == 30.0
    assert services["backend"].command[1:] == ["-m", "api"] and services["worker"].command[1:] == ["-m", "worker"]
    assert services["backend"].env["AUTEUR_API_PORT"] == "18000" and services["backend-2"].env["AUTEUR_API_PORT"] == "18001"
    assert "http://127.0.0.1:18001/health/live" in " ".join(services["backend-2"].health or [])
    assert "http://127.0.0.1:13000/health" in " ".join(services["frontend"].health or [])
    assert services["frontend"].env["AUTEUR_API_INTERNAL_URL"] == "http://127.0.0.1:18000"
    assert services["frontend"].depends_on == {"backend": "service_healthy"}
    assert services["controller"].health == [sys.executable, "-m", "controller", "health"]


def test_plan_uses_a_running_redis_and_scales_services(tmp_path):
    services = [s.name for s in plan(COMPOSE, layout(tmp_path, "redis://10.0.0.5:6400/2", worker=3))]
    assert services == ["controller", "worker", "worker-2", "worker-3", "backend", "backend-2", "frontend"]
    assert all(s.env["REDIS_URL"] == "redis://10.0.0.5:6400/2" for s in plan(COMPOSE, layout(tmp_path, "redis://10.0.0.5:6400/2")))


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30.0), ("1m30s", 90.0), ("500ms", 0.5), ("2", 2.0), (None, 7.0), ("1h", 3600.0)])
def test_compose_durations(text, seconds):
    assert duration(text, 7.0) == seconds


def make(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"}
    return subprocess.run(["make", "-s", "-C", str(ROOT), *args], env=env, capture_output=True, text=True, timeout=120)


def test_docker_targets_say_clearly_when_there_is_no_engine():
    if docker.engine_problem() is None:
        pytest.skip("a Docker engine answers here")
    for target in ("docker-health", "docker-up", "docker-logs"):
        done = make(target)
        assert done.returncode != 0, target
        assert "no Docker engine is available" in done.stderr and "make stack" in done.stderr, done.stderr


def test_the_make_targets_exist_and_stack_state_is_ignored():
    dry = subprocess.run(["make", "-n", "-C", str(ROOT), "stack", "stack-up", "stack-down", "docker-up", "docker-down", "docker-health",
                          "docker-logs", "docker-restart", "docker-test"], capture_output=True, text=True)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "-m launcher.stack run" in dry.stdout and "-m launcher.docker health" in dry.stdout
    assert "/.stack/" in (ROOT / ".gitignore").read_text().splitlines()
    assert "docker-compose" in (ROOT / ".ci/run").read_text()
