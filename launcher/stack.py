"""``make stack``: run the services of ``docker-compose.yml`` as local processes.

There is no Docker engine on the studio's development machines, so the compose file
must not be dead text: this reads it and runs each service's command, environment
and health check here. The named volume becomes ``AUTEUR_WORKSPACE``; ``redis`` is a
local ``redis-server`` unless ``REDIS_URL`` is set; ports come from the usual
variables; a second API replica listens on the next port. Logs are prefixed with the
service name. SIGTERM or Ctrl-C stops every process gracefully, dependents first.

    python -m launcher.stack run            # foreground (make stack)
    python -m launcher.stack up | down      # background, pids and logs in .stack/
    python -m launcher.stack status
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Service:
    name: str
    command: list[str]
    env: dict[str, str]
    health: list[str] | None
    depends_on: dict[str, str] = field(default_factory=dict)
    grace: float = 10.0
    proc: subprocess.Popen[bytes] | None = None


def _duration(text: str | None, default: float) -> float:
    if not text:
        return default
    text = str(text)
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    if text.endswith("m"):
        return float(text[:-1]) * 60
    return float(text.rstrip("s"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _local(command: list[str]) -> list[str]:
    """``python`` in the compose file is this interpreter (the project's virtualenv)."""
    if command and command[0] in ("python", "python3"):
        return [sys.executable, *command[1:]]
    return command


def plan(
    compose: Path, workspace: Path, specs: Path, redis_url: str | None, api_port: int, web_port: int, replicas: int = 2
) -> list[Service]:
    """The services to start, in dependency order, mapped onto this machine."""
    spec = yaml.safe_load(compose.read_text())
    services: list[Service] = []
    local_redis = redis_url or f"redis://127.0.0.1:{free_port()}/0"
    for name, body in spec["services"].items():
        env = {k: str(v) for k, v in (body.get("environment") or {}).items()}
        env.update(
            REDIS_URL=local_redis,
            AUTEUR_WORKSPACE=str(workspace),
            AUTEUR_SPECS=str(specs),
            AUTEUR_API_PORT=str(api_port),
            AUTEUR_WEB_PORT=str(web_port),
            AUTEUR_API_URL=os.environ.get("AUTEUR_API_URL", f"http://localhost:{api_port}"),
            AUTEUR_API_INTERNAL_URL=f"http://127.0.0.1:{api_port}",
        )
        depends = {dep: (cond or {}).get("condition", "service_started") for dep, cond in (body.get("depends_on") or {}).items()}
        test = (body.get("healthcheck") or {}).get("test")
        health = _local(test[1:]) if test and test[0] in ("CMD", "CMD-SHELL") else None
        if test and test[0] == "CMD-SHELL":
            health = ["sh", "-c", test[1]]
        command = body.get("command")
        command = shlex.split(command) if isinstance(command, str) else list(command or [])
        grace = _duration(body.get("stop_grace_period"), 10.0)
        if name == "redis":
            if redis_url:
                continue  # an existing Redis is used as it is
            port = local_redis.rsplit(":", 1)[1].split("/")[0]
            command = ["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            health = ["redis-cli", "-p", port, "ping"]
        services.append(Service(name, _local(command), env, health, depends, grace))
        if name == "backend":
            for replica in range(2, replicas + 1):
                port = api_port + replica - 1
                extra_env = {**env, "AUTEUR_API_PORT": str(port)}
                extra_health = [part.replace(f":{8000}/", f":{port}/") for part in (health or [])] or None
                services.append(Service(f"backend-{replica}", _local(command), extra_env, extra_health, depends, grace))
    for service in services:  # health checks in the file name the container ports
        if service.health:
            service.health = [
                part.replace(":8000/", f":{service.env['AUTEUR_API_PORT']}/").replace(":3000/", f":{web_port}/") for part in service.health
            ]
    return services


class Stack:
    def __init__(self, services: list[Service], log_dir: Path | None = None) -> None:
        self.services = services
        self.log_dir = log_dir
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _pump(self, service: Service) -> None:
        assert service.proc is not None and service.proc.stdout is not None
        prefix = f"[{service.name}] ".encode()
        for line in iter(service.proc.stdout.readline, b""):
            with self._lock:
                sys.stdout.buffer.write(prefix + line)
                sys.stdout.buffer.flush()

    def healthy(self, service: Service) -> bool:
        if service.proc is None or service.proc.poll() is not None:
            return False
        if not service.health:
            return True
        try:
            return subprocess.run(service.health, env={**os.environ, **service.env}, capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def start(self) -> None:
        by_name = {s.name: s for s in self.services}
        for service in self.services:
            for dep, condition in service.depends_on.items():
                target = by_name.get(dep)
                if target is None:
                    continue
                deadline = time.monotonic() + 120
                while condition == "service_healthy" and not self.healthy(target):
                    if time.monotonic() > deadline or self._stop.is_set():
                        raise RuntimeError(f"{dep} did not become healthy; see its log")
                    time.sleep(0.2)
            print(f"[stack] starting {service.name}: {' '.join(service.command)}", flush=True)
            service.proc = subprocess.Popen(
                service.command, cwd=ROOT, env={**os.environ, **service.env},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            threading.Thread(target=self._pump, args=(service,), daemon=True).start()

    def wait_healthy(self, timeout: float = 120) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.healthy(s) for s in self.services):
                return True
            time.sleep(0.3)
        return False

    def stop(self) -> None:
        self._stop.set()
        for service in reversed(self.services):
            if service.proc and service.proc.poll() is None:
                service.proc.send_signal(signal.SIGTERM)
                try:
                    service.proc.wait(service.grace)
                except subprocess.TimeoutExpired:
                    service.proc.kill()
                    service.proc.wait()
        print("[stack] stopped", flush=True)

    def run_forever(self) -> int:
        def on_signal(signum: int, frame: object) -> None:
            self._stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            self.start()
            if self.wait_healthy():
                print("[stack] all services healthy", flush=True)
            while not self._stop.is_set():
                for service in self.services:
                    if service.proc and service.proc.poll() is not None:
                        print(f"[stack] {service.name} exited with {service.proc.returncode}", flush=True)
                        service.proc = None
                self._stop.wait(1.0)
        finally:
            self.stop()
        return 0


def _settings_from_env() -> tuple[Path, Path, str | None, int, int]:
    workspace = Path(os.environ.get("AUTEUR_WORKSPACE", ROOT / "workspace")).absolute()
    specs = Path(os.environ.get("AUTEUR_SPECS", ROOT / "specs")).absolute()
    return (
        workspace,
        specs,
        os.environ.get("REDIS_URL") or None,
        int(os.environ.get("AUTEUR_API_PORT", "8000")),
        int(os.environ.get("AUTEUR_WEB_PORT", "3000")),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("action", choices=["run", "up", "down", "status"], nargs="?", default="run")
    parser.add_argument("--compose", default=str(ROOT / "docker-compose.yml"))
    parser.add_argument("--state", default=str(ROOT / ".stack"), help="pid file and logs for up/down")
    args = parser.parse_args(argv)
    state = Path(args.state)
    pidfile = state / "stack.pid"
    if args.action == "up":
        state.mkdir(parents=True, exist_ok=True)
        log = open(state / "stack.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "launcher.stack", "run", "--compose", args.compose], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        pidfile.write_text(str(proc.pid))
        print(f"stack started (pid {proc.pid}); logs in {state / 'stack.log'}")
        return 0
    if args.action == "down":
        try:
            pid = int(pidfile.read_text())
        except (FileNotFoundError, ValueError):
            print("no stack running")
            return 0
        try:
            os.kill(pid, signal.SIGTERM)
            while True:
                os.kill(pid, 0)
                time.sleep(0.2)
        except ProcessLookupError:
            pass
        pidfile.unlink(missing_ok=True)
        print("stack stopped")
        return 0
    workspace, specs, redis_url, api_port, web_port = _settings_from_env()
    workspace.mkdir(parents=True, exist_ok=True)
    specs.mkdir(parents=True, exist_ok=True)
    if redis_url is None and shutil.which("redis-server") is None:
        print("redis-server is not installed and REDIS_URL is not set", file=sys.stderr)
        return 2
    services = plan(Path(args.compose), workspace, specs, redis_url, api_port, web_port)
    if args.action == "status":
        for service in services:
            print(f"{service.name}: {' '.join(service.command)}")
        return 0
    return Stack(services).run_forever()


if __name__ == "__main__":
    sys.exit(main())
