"""Driving the stack of ``docker-compose.yml`` as local processes (``python -m launcher.stack run``),
joined by a real redis-server that the test starts and stops on a free port.

``StackRun`` drives the real runner as a subprocess, exactly as ``make stack`` does,
and reaches its services through their pid files and logs in the state folder.
Timings are shortened through the environment (resync, worker heartbeat, settle
and grace periods) so faults are noticed in seconds; every wait polls with a
generous deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from helpers import wait_for
from redisserver import free_port
from websockets.sync.client import connect

from auteur.uploads import UploadStore
from launcher.processes import alive, kill_tree

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("controller", "worker", "backend", "backend-2", "frontend")


def free_port_pair() -> int:
    """A port whose next port is free too (the second API replica listens there)."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


class StackRun:
    """One ``launcher.stack run`` subprocess and what it runs."""

    def __init__(self, base: Path, redis_url: str, **env: str) -> None:
        self.base = base
        self.state = base / "stack"
        self.workspace = base / "workspace"
        self.specs = base / "specs"
        self.api_port, self.web_port = free_port_pair(), free_port()
        self.env = dict(
            os.environ,
            REDIS_URL=redis_url,
            AUTEUR_WORKSPACE=str(self.workspace),
            AUTEUR_SPECS=str(self.specs),
            AUTEUR_API_PORT=str(self.api_port),
            AUTEUR_WEB_PORT=str(self.web_port),
            AUTEUR_STACK_DIR=str(self.state),
            AUTEUR_RESYNC_SECONDS="2",
            AUTEUR_WORKER_HEARTBEAT_SECONDS="1",
            AUTEUR_SETTLE_SECONDS="0.3",
            AUTEUR_GRACE_SECONDS="0.3",
            PYTHONUNBUFFERED="1",
        )
        self.env.update(env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.output = base / "stack.out"

    # -- lifecycle ---------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> StackRun:
        with open(self.output, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "launcher.stack", "run"], cwd=ROOT, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        wait_for(lambda: "all services healthy" in self.text() or self.proc.poll() is not None, timeout, 0.2, what="the stack healthy")
        assert self.proc.poll() is None, f"the stack runner exited:\n{self.text()[-5000:]}"
        return self

    def make(self, target: str, timeout: float = 180.0) -> str:
        """``make <target>`` with this stack's environment; its output."""
        env = {k: v for k, v in self.env.items() if k != "MAKEFLAGS"}
        done = subprocess.run(["make", "-s", "-C", str(ROOT), target], env=env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"make {target} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def up(self, timeout: float = 120.0) -> StackRun:
        """``make stack-up``: the runner in the background, its output in the state folder."""
        self.output = self.state / "stack.log"
        assert "stack starting in the background" in self.make("stack-up")
        wait_for(lambda: "all services healthy" in self.text(), timeout, 0.2, what="the background stack healthy")
        return self

    def down(self) -> str:
        """``make stack-down``; every service must be gone after."""
        pids = {name: self.pid(name) for name in SERVICES}
        assert all(pids.values()), pids
        out = self.make("stack-down")
        assert not [name for name, pid in pids.items() if alive(pid)], "a service outlived make stack-down"
        return out

    def stop(self, timeout: float = 90.0) -> int:
        """SIGTERM the runner, as Ctrl-C would; every service must be gone after."""
        assert self.proc is not None
        pids = {name: self.pid(name) for name in SERVICES}
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        left = [name for name, pid in pids.items() if alive(pid)]
        for name in left:
            kill_tree(pids[name])  # type: ignore[arg-type]
        assert not left, f"still running after the stack stopped: {left}"
        return code

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def log(self, name: str) -> str:
        path = self.state / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def pid(self, name: str) -> int | None:
        try:
            pid = int((self.state / f"{name}.pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def kill(self, name: str) -> int:
        """``kill -9`` of the service's whole process tree (a crashed container dies whole)."""
        pid = self.pid(name)
        assert pid is not None, f"{name} is not running"
        kill_tree(pid, signal.SIGKILL)
        wait_for(lambda: not alive(pid), 10, what=f"{name} dead")
        return pid

    def restarted(self, name: str, old_pid: int, timeout: float = 60.0) -> int:
        """Wait until the runner has started ``name`` again (its restart policy)."""
        return wait_for(lambda: (pid := self.pid(name)) not in (None, old_pid) and pid, timeout, 0.1, what=f"{name} restarted")

    def control(self, action: str, name: str) -> None:
        """``launcher.stack stop|start <service>`` (like ``docker compose stop|start``)."""
        subprocess.run([sys.executable, "-m", "launcher.stack", action, name], cwd=ROOT, env=self.env, check=True, capture_output=True)

    # -- the services ------------------------------------------------------------

    def api(self, replica: int = 0) -> str:
        return f"http://127.0.0.1:{self.api_port + replica}"

    def ws(self, replica: int = 0, since: str | None = None) -> str:
        url = self.api(replica).replace("http://", "ws://") + "/api/v1/events"
        return url if since is None else f"{url}?since={since}"

    def live(self, replica: int = 0) -> bool:
        try:
            return httpx.get(self.api(replica) + "/health/live", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def health(self, replica: int = 0) -> dict:
        return httpx.get(self.api(replica) + "/health", timeout=30).json()

    def upload(self, project_id: str, filename: str, data: bytes, replica: int = 0, asset_type: str = "audio") -> dict:
        answer = httpx.post(f"{self.api(replica)}/api/v1/projects/{project_id}/assets", params={"asset_type": asset_type},
                            files=[("files", (filename, data))], timeout=60)  # fmt: skip
        assert answer.status_code == 200, answer.text
        return answer.json()["uploads"][0]

    def create(self, name: str, replica: int = 0) -> dict:
        answer = httpx.post(f"{self.api(replica)}/api/v1/projects", json={"name": name}, timeout=60)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def record(self, upload_id: str):
        return UploadStore(self.workspace / ".auteur").read(upload_id)

    def status(self, project_id: str) -> dict | None:
        try:
            return json.loads((self.workspace / ".auteur" / "status" / f"{project_id}.json").read_bytes())
        except (OSError, ValueError):
            return None


class Events:
    """A WebSocket client collecting every frame (keepalives aside) in a thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: list[dict] = []
        self.ws = connect(url, open_timeout=30, legacy=True)  # read in a thread, closed by close()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for message in self.ws:
                frame = json.loads(message)
                if frame["type"] != "keepalive":
                    self.frames.append(frame)
        except Exception:
            return

    def of(self, kind_prefix: str) -> list[dict]:
        return [f for f in list(self.frames) if f["type"].startswith(kind_prefix)]

    def wait(self, predicate, timeout: float = 30.0, what: str = "an event") -> dict:
        return wait_for(lambda: next((f for f in list(self.frames) if predicate(f)), None), timeout, 0.05, what=what)

    def close(self) -> None:
        self.ws.close()
        self.thread.join(10)


def project_ready(run: StackRun, project_id: str) -> bool:
    status = run.status(project_id)
    return bool(status and status.get("status") == "ready" and not status.get("is_dirty"))


def wait_ready(run: StackRun, project_ids, timeout: float = 60.0) -> None:
    wait_for(lambda: all(project_ready(run, key) for key in project_ids), timeout, 0.1, what=f"projects ready: {sorted(project_ids)}")


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
