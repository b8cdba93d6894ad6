"""``make docker-*``: the compose stack on a Docker engine, and a clear word when there is none.

    python -m launcher.docker check              # exit 1, saying why, without a reachable engine
    python -m launcher.docker compose ARGS...    # docker compose (or docker-compose) -f docker-compose.yml ARGS
    python -m launcher.docker compose --test ARGS...   # ... -f docker-compose.test.yml too
    python -m launcher.docker health             # "All services healthy", or which are not (exit 1)

Works with the compose plugin (``docker compose``) or Debian's ``docker-compose``.
The studio's development machines have no engine: ``make stack`` runs the same file
as local processes there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ["-f", str(ROOT / "docker-compose.yml")]
TEST_FILES = [*FILES, "-f", str(ROOT / "docker-compose.test.yml")]
NO_ENGINE_HINT = "`make stack` runs the same services as local processes without Docker."


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    docker = shutil.which("docker")
    if docker:
        info = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
        if info.returncode == 0:
            return None
        last = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"no Docker engine is available (docker info: {last})"
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return None  # a remote engine: compose itself will say if it cannot reach it
    path = host[len("unix://") :]
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(path)
    except OSError as exc:
        return f"no Docker engine is available (the docker CLI is not installed and {path} does not answer: {exc.strerror})"
    return None


def check() -> int:
    problem = engine_problem()
    if problem is None and compose_command() is None:
        problem = "neither `docker compose` nor `docker-compose` is installed"
    if problem:
        print(f"{problem}.\n{NO_ENGINE_HINT}", file=sys.stderr)
        return 1
    return 0


def compose(args: list[str]) -> int:
    if check():
        return 1
    files = TEST_FILES if args[:1] == ["--test"] else FILES
    args = args[1:] if args[:1] == ["--test"] else args
    command = compose_command()
    assert command is not None
    return subprocess.call([*command, *files, *args], cwd=ROOT)


def service_states(command: list[str]) -> dict[str, list[str]]:
    """Each service's containers' states: ``healthy``, ``starting``, ``unhealthy``, ``running`` (no
    health check) or ``exited``."""
    names = subprocess.run([*command, *FILES, "config", "--services"], capture_output=True, text=True, check=True, cwd=ROOT)
    docker = shutil.which("docker")
    states: dict[str, list[str]] = {}
    for name in names.stdout.split():
        ids = subprocess.run([*command, *FILES, "ps", "-q", name], capture_output=True, text=True, cwd=ROOT).stdout.split()
        states[name] = []
        for container in ids:
            if docker:
                fmt = "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"
                out = subprocess.run([docker, "inspect", "--format", fmt, container], capture_output=True, text=True)
                states[name].append(out.stdout.strip() or "unknown")
            else:  # docker-compose v1 alone: its ps prints "Up (healthy)"
                row = subprocess.run([*command, *FILES, "ps", name], capture_output=True, text=True, cwd=ROOT).stdout
                states[name].append(next((s for s in ("unhealthy", "healthy", "starting") if f"({s})" in row), "running"))
    return states


def health() -> int:
    if check():
        return 1
    command = compose_command()
    assert command is not None
    states = service_states(command)
    fine = ("healthy", "running")
    bad = {name: found or ["not created"] for name, found in states.items() if not found or any(s not in fine for s in found)}
    for name, found in sorted(states.items()):
        print(f"  {name}: {', '.join(found) or 'not created'}")
    if bad:
        print("Not healthy: " + ", ".join(f"{name} ({', '.join(found)})" for name, found in sorted(bad.items())))
        return 1
    print("All services healthy")
    return 0


def main(argv: list[str]) -> int:
    action, rest = (argv[1], argv[2:]) if len(argv) > 1 else ("check", [])
    if action == "check":
        return check()
    if action == "compose":
        return compose(rest)
    if action == "health":
        return health()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
