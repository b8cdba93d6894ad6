"""Driving the compose stack on the real engine from the host, as an operator would:
make targets, ``docker compose``, ``docker`` itself, HTTP on the published ports, and the
real git and git-lfs inside a service container as judges of every repository."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
from helpers import wait_for

from auteur.names import project_id
from launcher import docker as launcher_docker
from launcher import images

ROOT = Path(__file__).resolve().parents[2]
API = "http://127.0.0.1:8000"
WEB = "http://127.0.0.1:3000"
SERVICES = ("redis", "controller", "worker", "backend", "frontend")


def engine_problem() -> str | None:
    return launcher_docker.engine_problem()


def run_make(env: dict[str, str], *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """``make -s ARGS`` in the checkout with ``env``; asserts it succeeded unless ``check`` is off."""
    done = subprocess.run(["make", "-s", "-C", str(ROOT), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"make {' '.join(args)} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def run_docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    """``docker ARGS``' output; asserts it succeeded unless ``check`` is off."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"docker {' '.join(args)} exited {done.returncode}: {done.stderr[-3000:]}"
    return done.stdout


class DockerStack:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.name = images.checkout_project() + "test"
        self.env = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"}
        self.specs = base / "specs"  # the stack's spec folder on the host: the tests' own
        self.env.update(COMPOSE_PROJECT_NAME=self.name, AUTEUR_SPECS=str(self.specs), AUTEUR_RESYNC_SECONDS="5",
                        AUTEUR_WORKER_HEARTBEAT_SECONDS="2", AUTEUR_SETTLE_SECONDS="0.5", AUTEUR_GRACE_SECONDS="0.5",
                        AUTEUR_PROBE_INTERVAL="2s")  # fmt: skip
        self.compose_cmd = launcher_docker.compose_command()
        assert self.compose_cmd, "compose v2 is installed by make install"

    # -- commands ------------------------------------------------------------------

    def make(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return run_make(self.env, *args, check=check, timeout=timeout)

    def compose(self, *args: str, check: bool = True, test: bool = False, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        files = launcher_docker.TEST_FILES if test else launcher_docker.FILES
        done = subprocess.run([*self.compose_cmd, *files, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert done.returncode == 0, f"compose {' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        return run_docker(*args, check=check, timeout=timeout)

    def container(self, service: str) -> str:
        ids = self.compose("ps", "-a", "-q", service).stdout.split()
        assert ids, f"no container for {service}"
        return ids[0]

    def inspect(self, service: str, fmt: str) -> str:
        return self.docker("inspect", "-f", fmt, self.container(service)).strip()

    def exec(self, service: str, *command: str, user: str = "10001", check: bool = True) -> str:
        done = subprocess.run(["docker", "exec", "--user", user, self.container(service), *command], capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        if check:
            assert done.returncode == 0, f"{service}: {' '.join(command)} exited {done.returncode}: {done.stdout}{done.stderr}"
        return done.stdout

    def exists(self, path: str) -> bool:
        """Whether ``/workspace/<path>`` exists, looked at inside the stack."""
        return subprocess.run(["docker", "exec", "--user", "10001", self.container("worker"), "test", "-e", f"/workspace/{path}"],
                              timeout=60).returncode == 0  # fmt: skip

    def git(self, folder: str, *args: str) -> str:
        """The real git (and git-lfs) of the image, as the services' user, in ``/workspace/<folder>``."""
        return self.exec("worker", "git", "-C", f"/workspace/{folder}", *args)

    def assert_clean(self, folder: str) -> None:
        self.git(folder, "fsck", "--strict", "--no-progress")
        assert self.git(folder, "status", "--porcelain", "--untracked-files=no") == "", f"{folder}: git status not clean"
        assert "OK" in self.git(folder, "lfs", "fsck")

    def read_json(self, path: str) -> dict | None:
        """A file on the workspace volume, read inside the stack (None when absent or unreadable)."""
        done = subprocess.run(["docker", "exec", "--user", "10001", self.container("worker"), "cat", f"/workspace/{path}"],
                              capture_output=True, timeout=60)  # fmt: skip
        if done.returncode:
            return None
        try:
            return json.loads(done.stdout)
        except ValueError:
            return None

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", service).stdout

    # -- lifecycle -----------------------------------------------------------------

    def states(self) -> dict[str, str]:
        found = {}
        for service in SERVICES:
            ids = self.compose("ps", "-a", "-q", service).stdout.split()
            found[service] = self.docker("inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}",
                                         ids[0]).strip() if ids else "absent"  # fmt: skip
        return found

    def healthy(self) -> bool:
        return all(state == "healthy" for state in self.states().values())

    def ensure_up(self) -> None:
        if not self.healthy():
            self.up()

    def up(self) -> float:
        """``make docker-up``; the seconds it took."""
        started = time.monotonic()
        out = self.make("docker-up").stdout
        took = time.monotonic() - started
        assert "all services healthy" in out, out
        return took

    def remove(self) -> None:
        """Everything of the tests' project, volumes too."""
        self.compose("--profile", "e2e", "down", "-v", "--remove-orphans", "--timeout", "10", check=False, test=True)

    # -- the API -------------------------------------------------------------------

    def health(self) -> tuple[int, dict]:
        answer = httpx.get(API + "/health", timeout=30)
        return answer.status_code, answer.json()

    def create(self, name: str, timeout: float = 60) -> dict:
        answer = httpx.post(API + "/api/v1/projects", json={"name": name}, timeout=timeout)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def upload(self, key: str, filename: str, body, asset_type: str = "audio", timeout: float = 600) -> dict:
        answer = httpx.post(f"{API}/api/v1/projects/{key}/assets", params={"asset_type": asset_type},
                            files=[("files", (filename, body))], timeout=timeout)  # fmt: skip
        assert answer.status_code == 200, answer.text
        return answer.json()["uploads"][0]

    def upload_record(self, upload_id: str) -> dict | None:
        return self.read_json(f".auteur/uploads/{upload_id}.json")

    def upload_records(self) -> dict[str, dict]:
        """Every upload record on the volume, read in one call inside the stack."""
        script = (
            "import json, pathlib; folder = pathlib.Path('/workspace/.auteur/uploads'); "
            "print(json.dumps({p.stem: json.loads(p.read_bytes()) for p in folder.glob('*.json')}))"
        )
        out = self.exec("worker", "python", "-c", script, check=False)
        try:
            return json.loads(out)
        except ValueError:
            return {}

    def wait_ingested(self, upload_ids, timeout: float = 120) -> None:
        wanted = set(upload_ids)
        seen: dict[str, dict] = {}

        def done() -> bool:
            seen.update(self.upload_records())
            failed = {u: seen[u].get("error") for u in wanted if u in seen and seen[u]["status"] == "failed"}
            assert not failed, f"uploads failed: {failed}"
            return all(u in seen and seen[u]["status"] == "completed" for u in wanted)

        try:
            wait_for(done, timeout, 0.5, what="uploads ingested")
        except AssertionError as exc:
            states = {u: seen.get(u, {}).get("status", "no record") for u in sorted(wanted)}
            raise AssertionError(f"{exc}: {states}") from None

    def project(self, key: str) -> dict | None:
        answer = httpx.get(f"{API}/api/v1/projects/{key}", timeout=30)
        return answer.json() if answer.status_code == 200 else None

    def wait_ready(self, keys, timeout: float = 90) -> None:
        def ready() -> bool:
            return all((p := self.project(k)) is not None and p["status"] == "ready" for k in keys)

        wait_for(ready, timeout, 0.5, what=f"projects ready: {sorted(keys)}")


class Load(threading.Thread):
    """Creates projects and uploads into them through the API until stopped; keeps what was acknowledged."""

    def __init__(self, prefix: str) -> None:
        super().__init__(daemon=True)
        self.prefix, self.stopping = prefix, threading.Event()
        self.created: list[str] = []
        self.uploads: list[str] = []
        self.errors: list[str] = []

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            name = f"{self.prefix} {n}"
            n += 1
            try:
                answer = httpx.post(API + "/api/v1/projects", json={"name": name}, timeout=60)
                if answer.status_code in (201, 202):
                    self.created.append(name)
                else:
                    self.errors.append(f"create {name}: {answer.status_code} {answer.text}")
                    continue
                answer = httpx.post(f"{API}/api/v1/projects/{project_id(name)}/assets", params={"asset_type": "audio"},
                                    files=[("files", ("cue.wav", os.urandom(300_000)))], timeout=60)  # fmt: skip
                if answer.status_code == 200:
                    self.uploads.append(answer.json()["uploads"][0]["upload_id"])
            except httpx.HTTPError as exc:
                self.errors.append(f"{name}: {exc!r}")
            time.sleep(0.2)
