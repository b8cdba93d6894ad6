"""Driving the Swarm stack on the real engine from the host, as an operator would: the make
targets, ``docker service``/``docker`` itself, HTTP and WebSockets through the proxy's
published port, and the real git and git-lfs inside a task's container as judges."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
from helpers import wait_for

from launcher import images
from tests.container.dockerstack import run_docker, run_make

API = "http://127.0.0.1:8000"
SERVICE_UID = "10001"


class SwarmStack:
    def __init__(self, base: Path) -> None:
        self.name = images.checkout_project() + "sw"
        self.specs = base / "specs"
        self.env = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"}
        self.env.update(AUTEUR_STACK=self.name, AUTEUR_SPECS=str(self.specs), AUTEUR_RESYNC_SECONDS="5",
                        AUTEUR_WORKER_HEARTBEAT_SECONDS="2", AUTEUR_SETTLE_SECONDS="0.5", AUTEUR_GRACE_SECONDS="0.5",
                        AUTEUR_PROBE_INTERVAL="2s")  # fmt: skip
        self.volumes = [f"{self.name}_workspace", f"{self.name}_redis-data"]

    def make(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return run_make(self.env, *args, check=check, timeout=timeout)

    def docker(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        return run_docker(*args, check=check, timeout=timeout)

    def service(self, name: str) -> str:
        return f"{self.name}_{name}"

    def containers(self, service: str) -> list[str]:
        """The running containers of a service's tasks (short ids: each one's hostname)."""
        return self.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={self.service(service)}",
                           "--filter", "status=running").split()  # fmt: skip

    def exec(self, service: str, *command: str, check: bool = True) -> str:
        return self.docker("exec", "--user", SERVICE_UID, self.containers(service)[0], *command, check=check)

    def git(self, folder: str, *args: str) -> str:
        return self.exec("worker", "git", "-C", f"/workspace/{folder}", *args)

    def assert_clean(self, folder: str) -> None:
        assert self.git(folder, "status", "--porcelain") == ""
        self.git(folder, "fsck", "--no-progress")
        self.git(folder, "lfs", "fsck")

    def redis(self, *command: str) -> str:
        return self.docker("exec", self.containers("redis")[0], "redis-cli", *command).strip()

    def leader(self) -> str | None:
        """The container (its hostname) whose controller holds the lease."""
        value = self.redis("get", "auteur:controller:lease")
        return value.split(":", 1)[0] if value else None

    def replicas(self, service: str) -> int:
        return len(self.containers(service))

    def remove(self) -> None:
        """The stack and its volumes (what an interrupted earlier run left, or this run at the end)."""
        self.make("swarm-down", check=False)
        for volume in self.volumes:
            wait_for(lambda v=volume: subprocess.run(["docker", "volume", "rm", "-f", v], capture_output=True).returncode == 0,
                     timeout=60, interval=0.5, what=f"volume {volume} removed")  # fmt: skip

    # -- the API through the proxy -------------------------------------------------

    def create(self, name: str, timeout: float = 60) -> dict:
        answer = httpx.post(API + "/api/v1/projects", json={"name": name}, timeout=timeout)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def project(self, key: str) -> dict | None:
        answer = httpx.get(f"{API}/api/v1/projects/{key}", timeout=30)
        return answer.json() if answer.status_code == 200 else None

    def wait_ready(self, keys, timeout: float = 90) -> None:
        wait_for(lambda: all((p := self.project(k)) is not None and p["status"] == "ready" for k in keys), timeout, 0.5,
                 what=f"projects ready: {sorted(keys)}")  # fmt: skip


class RequestLoop(threading.Thread):
    """Requests through the proxy in a loop until stopped (reads, and a create every few): every
    answer that is not a success, and every failed connection, is kept as a failure."""

    def __init__(self, prefix: str, create_every: int = 5) -> None:
        super().__init__(daemon=True)
        self.prefix, self.create_every = prefix, create_every
        self.stopping = threading.Event()
        self.requests = 0
        self.created: list[str] = []
        self.failures: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=API, timeout=30) as http:
            n = 0
            while not self.stopping.is_set():
                n += 1
                try:
                    if n % self.create_every == 0:
                        name = f"{self.prefix}-{n}"
                        answer = http.post("/api/v1/projects", json={"name": name, "process_async": True})
                        if answer.status_code in (201, 202):
                            self.created.append(answer.json()["id"])
                    else:
                        answer = http.get("/api/v1/projects", params={"limit": 5})
                    if answer.status_code >= 300:
                        self.failures.append(f"{time.strftime('%X')} {answer.request.method} {answer.status_code} {answer.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{time.strftime('%X')} {exc!r}")
                self.requests += 1
                time.sleep(0.02)

    def stop(self) -> None:
        self.stopping.set()
        self.join(60)


class EventFollower(threading.Thread):
    """The live events through the proxy, as a client that reconnects with ``since`` (the last id
    it saw) whenever its WebSocket closes: what a browser does across a rolling update."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stopping = threading.Event()
        self.events: list[dict] = []
        self.connections = 0
        self.last_id: str | None = None

    def run(self) -> None:
        from websockets.sync.client import connect

        while not self.stopping.is_set():
            url = API.replace("http", "ws") + "/api/v1/events" + (f"?since={self.last_id}" if self.last_id else "")
            try:
                with connect(url, open_timeout=10, close_timeout=2) as ws:
                    self.connections += 1
                    while not self.stopping.is_set():
                        try:
                            frame = json.loads(ws.recv(timeout=0.5))
                        except TimeoutError:
                            continue
                        if frame["type"] != "keepalive":
                            self.events.append(frame)
                            if frame["id"]:
                                self.last_id = frame["id"]
            except Exception:  # closed by a stopping replica, or none answered yet: reconnect
                time.sleep(0.2)

    def ready(self, key: str) -> bool:
        return any(e.get("project", {}).get("id") == key and e["project"].get("status") == "ready" for e in list(self.events))

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)
