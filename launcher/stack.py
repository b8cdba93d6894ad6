"""``make stack``: run the services of ``docker-compose.yml`` as local processes.

There is no Docker engine on the studio's development machines, so the compose file
must not be dead text: ``launcher.compose`` reads it, and this runs each service's
command, environment and health check here, like ``docker compose up`` would:
dependencies first (waiting for ``service_healthy`` where the file says so), logs
prefixed with the service name (and kept per service in the state folder, with a
pid file per service), a service that exits restarted as its ``restart`` policy
says, and SIGTERM or Ctrl-C stopping every process gracefully, dependents first,
each within its ``stop_grace_period``.

    python -m launcher.stack run        # foreground (make stack)
    python -m launcher.stack up | down  # background (make stack-up / stack-down)
    python -m launcher.stack status     # pids of a running stack's services
    python -m launcher.stack stop|start SERVICE   # like `docker compose stop|start`

A service stopped on purpose stays stopped (``restart: unless-stopped``) until it is
started again: ``stop`` leaves a ``<service>.stopped`` marker in the state folder,
which the runner honours and ``start`` removes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import BinaryIO

from launcher.compose import Layout, Service, plan
from launcher.processes import alive, kill_tree

ROOT = Path(__file__).resolve().parents[1]
STOPPED = ".stopped"
# A service that crashes again and again is restarted at most this often.
MAX_RESTART_DELAY = 10.0
# ...and its delay is reset once it has stayed up this long.
STABLE_SECONDS = 30.0


class Running:
    """A service's current process, its log file and its restart bookkeeping."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.restart_delay = 1.0
        self.restart_at: float | None = None
        self.restarts = 0
        self.healthy: bool | None = None
        self.checked_at = 0.0


class Stack:
    """The services of one stack; ``state`` holds a pid file and a log per service."""

    def __init__(self, services: list[Service], state: Path, *, echo: bool = True) -> None:
        self.running = {s.name: Running(s) for s in services}
        self.state = state
        self.echo = echo
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        state.mkdir(parents=True, exist_ok=True)

    def say(self, text: str) -> None:
        self._write(b"[stack] ", (text + "\n").encode())

    def _write(self, prefix: bytes, line: bytes, log: BinaryIO | None = None) -> None:
        with self._lock:
            if log is not None:
                log.write(line)
                log.flush()
            if self.echo:
                sys.stdout.buffer.write(prefix + line)
                sys.stdout.buffer.flush()

    # -- one service ------------------------------------------------------------

    def spawn(self, name: str) -> None:
        run = self.running[name]
        service = run.service
        self.say(f"starting {name}: {' '.join(service.command)}")
        run.proc = subprocess.Popen(
            service.command, cwd=ROOT, env={**os.environ, **service.env},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        run.started_at, run.restart_at, run.healthy = time.monotonic(), None, None
        (self.state / f"{name}.pid").write_text(f"{run.proc.pid}\n")
        threading.Thread(target=self._pump, args=(name, run.proc), name=f"log-{name}", daemon=True).start()

    def _pump(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        prefix = f"[{name}] ".encode()
        with open(self.state / f"{name}.log", "ab") as log:
            for line in iter(proc.stdout.readline, b""):
                self._write(prefix, line, log)

    def pid(self, name: str) -> int | None:
        proc = self.running[name].proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the service's whole process tree (rq's work horse included)."""
        pid = self.pid(name)
        if pid is not None:
            kill_tree(pid, sig)

    def check(self, name: str) -> bool:
        """Run the service's health check once (a running process without one is healthy)."""
        service = self.running[name].service
        if self.pid(name) is None:
            return False
        if not service.health:
            return True
        try:
            done = subprocess.run(service.health, env={**os.environ, **service.env}, capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0

    # -- the whole stack --------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        """Start every service in order, each once its dependencies are up (or healthy)."""
        for name, run in self.running.items():
            for dep, condition in run.service.depends_on.items():
                if dep not in self.running:
                    continue  # e.g. redis, when REDIS_URL names one already running
                deadline = time.monotonic() + timeout
                while not (self.check(dep) if condition == "service_healthy" else self.pid(dep)):
                    if time.monotonic() > deadline or self.stopping.is_set():
                        raise RuntimeError(f"{dep} did not become healthy; see {self.state / (dep + '.log')}")
                    time.sleep(0.25)
            self.spawn(name)

    def wait_healthy(self, timeout: float = 120.0, names: list[str] | None = None) -> bool:
        pending = set(names or self.running)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline and not self.stopping.is_set():
            pending = {name for name in pending if not self.check(name)}
            if pending:
                time.sleep(0.25)
        return not pending

    def supervise(self) -> None:
        """One pass: restart what exited, as its policy says (like Docker's restart policies)."""
        now = time.monotonic()
        for name, run in self.running.items():
            proc = run.proc
            held = (self.state / f"{name}{STOPPED}").exists()
            if proc is None or proc.poll() is None:
                if proc is not None and now - run.started_at > STABLE_SECONDS:
                    run.restart_delay = 1.0
                if proc is None and run.restart_at is not None and now >= run.restart_at and not held and not self.stopping.is_set():
                    run.restarts += 1
                    self.spawn(name)
                continue
            code = proc.returncode
            run.proc = None
            (self.state / f"{name}.pid").unlink(missing_ok=True)
            policy = run.service.restart
            if held:
                self.say(f"{name} stopped (exit status {code}); `start {name}` starts it again")
                run.restart_at, run.restart_delay = now, 1.0
                continue
            if self.stopping.is_set() or policy == "no" or (policy == "on-failure" and code == 0):
                self.say(f"{name} exited with {code}")
                continue
            self.say(f"{name} exited with {code}; restarting in {run.restart_delay:.0f}s (restart: {policy})")
            run.restart_at = now + run.restart_delay
            run.restart_delay = min(run.restart_delay * 2, MAX_RESTART_DELAY)

    def watch_health(self) -> None:
        """Log health changes, each service at its compose ``interval``."""
        now = time.monotonic()
        for name, run in self.running.items():
            if run.proc is None or now - run.checked_at < run.service.health_interval:
                continue
            run.checked_at = now
            healthy = self.check(name)
            if healthy != run.healthy and run.healthy is not None:
                self.say(f"{name} is {'healthy again' if healthy else 'unhealthy'}")
            run.healthy = healthy

    def stop(self) -> None:
        """SIGTERM each service, dependents first; SIGKILL what outlives its grace period."""
        self.stopping.set()
        for name in reversed(list(self.running)):
            run = self.running[name]
            proc = run.proc
            if proc is not None and proc.poll() is None:
                self.say(f"stopping {name}")
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(run.service.grace)
                except subprocess.TimeoutExpired:
                    self.say(f"{name} did not stop within {run.service.grace:.0f}s: killing it")
                    kill_tree(proc.pid, signal.SIGKILL)
                    proc.wait()
            run.proc = None
            (self.state / f"{name}.pid").unlink(missing_ok=True)
        self.say("stopped")

    def run_forever(self) -> int:
        def on_signal(signum: int, frame: object) -> None:
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        (self.state / "stack.pid").write_text(f"{os.getpid()}\n")
        for marker in self.state.glob(f"*{STOPPED}"):  # left by an earlier run
            marker.unlink()
        try:
            self.start()
            if self.wait_healthy():
                self.say("all services healthy")
            elif not self.stopping.is_set():
                sick = [name for name in self.running if not self.check(name)]
                self.say(f"not healthy after 120s: {', '.join(sick)} (see their logs in {self.state}/); still running")
            while not self.stopping.wait(0.5):
                self.supervise()
                self.watch_health()
        except RuntimeError as exc:
            self.say(f"error: {exc}")
            return 1
        finally:
            self.stop()
            (self.state / "stack.pid").unlink(missing_ok=True)
        return 0


def layout_from_env(state: Path, scale: dict[str, int]) -> Layout:
    env = os.environ
    return Layout(
        workspace=Path(env.get("AUTEUR_WORKSPACE", ROOT / "workspace")).absolute(),
        specs=Path(env.get("AUTEUR_SPECS", ROOT / "specs")).absolute(),
        redis_url=env.get("REDIS_URL") or None,
        api_port=int(env.get("AUTEUR_API_PORT", "8000")),
        web_port=int(env.get("AUTEUR_WEB_PORT", "3000")),
        redis_dir=state / "redis",
        scale=scale,
    )


def _scale(values: list[str]) -> dict[str, int]:
    scale = {"backend": 2}
    for value in values:
        name, _, count = value.partition("=")
        scale[name] = int(count)
    return scale


def cmd_up(args: argparse.Namespace, state: Path) -> int:
    if alive(_read_pid(state / "stack.pid")):
        print(f"a stack is running already (pid {_read_pid(state / 'stack.pid')}); `make stack-down` stops it")
        return 1
    state.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "launcher.stack", "run", "--compose", args.compose, "--state", str(state)]
    argv += [f"--scale={s}" for s in args.scale]
    with open(state / "stack.log", "ab") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    (state / "stack.pid").write_text(f"{proc.pid}\n")
    print(f"stack starting in the background (pid {proc.pid}); logs in {state}/, `make stack-down` stops it")
    return 0


def cmd_down(state: Path, timeout: float = 90.0) -> int:
    pid = _read_pid(state / "stack.pid")
    if alive(pid):
        assert pid is not None
        os.kill(pid, signal.SIGTERM)  # the runner stops its services, dependents first
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    left = 0
    for pidfile in state.glob("*.pid"):  # a runner that was killed leaves its services behind
        service_pid = _read_pid(pidfile)
        if alive(service_pid) and pidfile.name != "stack.pid":
            assert service_pid is not None
            kill_tree(service_pid, signal.SIGKILL)
            left += 1
        pidfile.unlink(missing_ok=True)
    print("stack stopped" + (f" ({left} leftover process(es) killed)" if left else "") if pid or left else "no stack running")
    return 0


def cmd_status(state: Path) -> int:
    pid = _read_pid(state / "stack.pid")
    if not alive(pid):
        print("no stack running")
        return 1
    print(f"stack: running (pid {pid}); logs in {state}/")
    for pidfile in sorted(state.glob("*.pid")):
        if pidfile.name != "stack.pid":
            service_pid = _read_pid(pidfile)
            print(f"  {pidfile.stem}: {'running' if alive(service_pid) else 'exited'} (pid {service_pid})")
    return 0


def cmd_stop(state: Path, name: str, timeout: float = 60.0) -> int:
    """Stop one service and keep it stopped (the runner does not restart it)."""
    (state / f"{name}{STOPPED}").touch()
    pid = _read_pid(state / f"{name}.pid")
    if alive(pid):
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            kill_tree(pid, signal.SIGKILL)
    print(f"{name} stopped")
    return 0


def cmd_start(state: Path, name: str, timeout: float = 30.0) -> int:
    """Let the runner start a stopped service again."""
    (state / f"{name}{STOPPED}").unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    while not alive(_read_pid(state / f"{name}.pid")):
        if time.monotonic() > deadline:
            print(f"{name} did not start (is the stack running?)", file=sys.stderr)
            return 1
        time.sleep(0.1)
    print(f"{name} started")
    return 0


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("action", choices=["run", "up", "down", "status", "plan", "stop", "start"], nargs="?", default="run")
    parser.add_argument("service", nargs="?", help="for stop and start")
    parser.add_argument("--compose", default=str(ROOT / "docker-compose.yml"))
    parser.add_argument("--state", default=os.environ.get("AUTEUR_STACK_DIR", str(ROOT / ".stack")),
                        help="pid files and logs (default: $AUTEUR_STACK_DIR or .stack/)")  # fmt: skip
    parser.add_argument("--scale", action="append", default=[], metavar="SERVICE=N", help="replicas (backend=2 by default)")
    args = parser.parse_args(argv)
    state = Path(args.state).absolute()
    if args.action == "up":
        return cmd_up(args, state)
    if args.action == "down":
        return cmd_down(state)
    if args.action == "status":
        return cmd_status(state)
    if args.action in ("stop", "start"):
        if not args.service:
            parser.error(f"{args.action} needs a service name")
        return cmd_stop(state, args.service) if args.action == "stop" else cmd_start(state, args.service)
    running = _read_pid(state / "stack.pid")
    if args.action == "run" and alive(running) and running != os.getpid():
        print(f"a stack already runs from {state} (pid {running}); stop it first (`make stack-down`)", file=sys.stderr)
        return 1
    layout = layout_from_env(state, _scale(args.scale))
    if layout.redis_url is None and shutil.which("redis-server") is None:
        print("redis-server is not installed and REDIS_URL is not set (Debian: apt-get install redis-server)", file=sys.stderr)
        return 2
    services = plan(Path(args.compose), layout)
    if args.action == "plan":
        for service in services:
            print(f"{service.name}: {' '.join(service.command)}")
        return 0
    layout.workspace.mkdir(parents=True, exist_ok=True)
    layout.specs.mkdir(parents=True, exist_ok=True)
    return Stack(services, state).run_forever()


if __name__ == "__main__":
    sys.exit(main())
