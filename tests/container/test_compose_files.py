"""The compose files as both compose versions read them, and the make targets around them.
(The stack itself runs on the real engine in ``tests/container``.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from launcher import docker, images

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
AUTEUR_SERVICES = ("controller", "worker", "backend", "frontend")


def compose_binaries() -> list[list[str]]:
    v2 = docker.compose_command()
    v1 = shutil.which("docker-compose")
    assert v2 and "compose" in " ".join(v2), "make install puts compose v2 into .venv"
    assert v1, "Debian's docker-compose (v1) is installed by scripts/host.sh"
    return [v2, [v1]]


@pytest.mark.parametrize("files", [["docker-compose.yml"], ["docker-compose.yml", "docker-compose.test.yml"]])
def test_compose_v2_and_v1_both_read_the_files(files):
    args = [part for name in files for part in ("-f", str(ROOT / name))]
    for binary in compose_binaries():
        done = subprocess.run([*binary, *args, "config", "-q"], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, f"{binary}: {done.stderr}"


def test_the_compose_file_declares_what_each_service_needs_in_keys_swarm_reads_too():
    body = yaml.safe_load(COMPOSE.read_text())
    assert body["version"] == "3.8"
    services = body["services"]
    assert set(services) == {"frontend", "backend", "controller", "worker", "redis"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        assert service["restart"] and service["stop_grace_period"], name
        limits = service["deploy"]["resources"]["limits"]
        assert limits["memory"] and limits["cpus"], name
        assert "mem_limit" not in service and "cpus" not in service, f"{name}: deploy.resources.limits, which Swarm reads"
    for name in ("backend", "controller", "worker"):
        assert "workspace:/workspace" in services[name]["volumes"], name
    for name in ("backend", "controller"):
        assert "${AUTEUR_SPECS:-./specs}:/specs" in services[name]["volumes"], name
    assert services["backend"]["ports"] == ["${AUTEUR_API_PORT:-8000}:8000"]
    assert services["frontend"]["ports"] == ["${AUTEUR_WEB_PORT:-3000}:3000"]
    assert all(services[name]["image"] == "auteur:latest" for name in AUTEUR_SERVICES), "one image for every service"
    assert services["redis"]["image"] == "${AUTEUR_REDIS_IMAGE:-redis:7-alpine}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE=python:3.11-slim" in dockerfile and "--no-index" in dockerfile


def test_the_project_name_is_one_that_compose_v1_and_v2_agree_on(tmp_path):
    name = images.checkout_project(tmp_path / "Some Checkout-dir")
    assert name.isalnum() and name.islower() and name.startswith("auteur")
    assert images.checkout_project(tmp_path / "a") != images.checkout_project(tmp_path / "b")


def test_requirements_come_from_pyproject_without_the_compose_binary():
    runtime, dev = images.requirements()
    assert any(r.startswith("falcon") for r in runtime) and any(r.startswith("pytest") for r in dev)
    assert not any("compose" in r for r in dev), "the compose binary stays on the host"


def make(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"} | env
    return subprocess.run(["make", "-s", "-C", str(ROOT), *args], env=full, capture_output=True, text=True, timeout=120)


def test_docker_targets_say_clearly_when_the_engine_does_not_answer():
    for target in ("docker-health", "docker-logs", "docker-restart"):
        done = make(target, DOCKER_HOST="unix:///nonexistent/docker.sock")
        assert done.returncode != 0, target
        assert "no Docker engine is available" in done.stderr, done.stderr


def test_the_make_targets_exist_and_stack_is_the_compose_stack():
    dry = subprocess.run(["make", "-n", "-C", str(ROOT), "stack", "stack-up", "stack-down", "stack-status", "docker-up", "docker-down",
                          "docker-health", "docker-logs", "docker-restart", "docker-test"], capture_output=True, text=True)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "-m launcher.docker up" in dry.stdout and "-m launcher.docker health" in dry.stdout
    assert "launcher.stack" not in dry.stdout
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "/.docker/" in ignored and "/.env" in ignored
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_wheels_the_images_python_needs_beyond_the_hosts_are_found(tmp_path):
    """A requirement whose marker holds for the image's Python but not for the host's
    (redis wants async-timeout before 3.11.3) must be built too."""
    import zipfile

    with zipfile.ZipFile(tmp_path / "demo-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("demo-1.0.dist-info/METADATA", "\n".join([
            "Metadata-Version: 2.1", "Name: demo", "Version: 1.0",
            'Requires-Dist: always-needed>=1',
            'Requires-Dist: old-python-only>=4.0.3; python_full_version == "3.11.99"',
            'Requires-Dist: never-here; python_version < "3"',
            'Requires-Dist: extra-only; extra == "fancy"',
        ]))  # fmt: skip
    assert images.marker_gaps(tmp_path, "3.11.99") == ["old-python-only>=4.0.3"]
    assert images.marker_gaps(tmp_path, "3.12.0") == []
