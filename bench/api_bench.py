"""Benchmarks of the REST API through uvicorn (issue: the REST API).

    .venv/bin/python bench/api_bench.py [create|list|all] [--projects 10000] [--creates 200] [--requests 200]

The embedded stack runs as ``python -m launcher`` in a subprocess on scratch
folders and a free port; this process is the client (httpx, one keep-alive
connection). ``create`` times 200 sequential ``POST /api/v1/projects`` until the
201 with a ready project (target p99 <= 100 ms). ``list`` brings the workspace to
10,000 real projects (spec files dropped by hand, converged by the controller) and
times ``GET /api/v1/projects`` (target p99 <= 50 ms). Prints numbers, asserts none.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, percentile, ready_count, wait


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Launcher:
    """``python -m launcher`` (controller + API + jobs in one process) on scratch folders."""

    def __init__(self, base: Path) -> None:
        self.specs, self.workspace = base / "specs", base / "workspace"
        self.port = free_port()
        self.env = dict(os.environ, AUTEUR_SPECS=str(self.specs), AUTEUR_WORKSPACE=str(self.workspace),
                        AUTEUR_API_PORT=str(self.port), AUTEUR_WEB_PORT=str(free_port()), PYTHONPATH=str(ROOT))  # fmt: skip
        self.log = open(base / "launcher.log", "w")
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Launcher:
        self.proc = subprocess.Popen([sys.executable, "-m", "launcher"], env=self.env, cwd=ROOT, stdout=self.log, stderr=self.log)
        wait(self._up, 120, interval=0.1)
        return self

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"the launcher exited with {self.proc.returncode}; see {self.log.name}")
        try:
            return httpx.get(f"{self.url}/health", timeout=2).json().get("controller") == "running"
        except (httpx.HTTPError, ValueError):
            return False

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(120)
        self.log.close()

    def cpu_seconds(self) -> float:
        """CPU of the launcher and its children, those running and those it has waited for."""
        assert self.proc is not None
        process = psutil.Process(self.proc.pid)
        total = sum(process.cpu_times()[:4])
        for child in process.children(recursive=True):
            try:
                total += sum(child.cpu_times()[:2])
            except psutil.NoSuchProcess:
                continue
        return total

    def peak_rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def figures(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"n={len(ms)} p50={percentile(ms, 50):.1f}ms p90={percentile(ms, 90):.1f}ms "
            f"p99={percentile(ms, 99):.1f}ms max={max(ms):.1f}ms")  # fmt: skip


def time_creates(http: httpx.Client, prefix: str, n: int) -> tuple[list[float], int]:
    """Seconds per POST until its 201 with a ready project; and how many were not 201 + ready."""
    took, misses = [], 0
    for i in range(n):
        started = time.perf_counter()
        resp = http.post("/api/v1/projects", json={"name": f"{prefix}-{i:04d}"})
        took.append(time.perf_counter() - started)
        if resp.status_code != 201 or resp.json().get("status") != "ready":
            misses += 1
    return took, misses


def bench_create(stack: Launcher, http: httpx.Client, n: int, label: str = "create") -> None:
    time_creates(http, f"{label}-warmup", 5)
    cpu = stack.cpu_seconds()
    took, misses = time_creates(http, label, n)
    cpu = stack.cpu_seconds() - cpu
    print(f"{label}: {n} sequential POST /api/v1/projects -> 201 ready: {figures(took)} (target p99 <= 100 ms)")
    print(f"{label}: server CPU (user + system): {cpu / n * 1000:.2f} ms per create")
    if misses:
        print(f"{label}: {misses} answers were not 201 with a ready project")


def fill(stack: Launcher, total: int) -> None:
    """Drop spec files by hand (atomically) until ``total`` projects exist, and wait until all are ready."""
    existing = len([n for n in os.listdir(stack.specs) if n.endswith(".yaml")])
    names = [f"listed-{i:05d}" for i in range(total - existing)]
    for name in names:
        (stack.specs / f".{name}.tmp").write_text(f"name: {name}\n")
    started = time.perf_counter()
    for name in names:
        os.rename(stack.specs / f".{name}.tmp", stack.specs / f"{name}.yaml")
    status = stack.workspace / ".auteur" / "status"
    wait(lambda: ready_count(status) >= total, 3600, interval=0.5)
    print(f"list: {len(names)} specs dropped -> {total} projects ready in {time.perf_counter() - started:.1f}s")


def bench_list(stack: Launcher, http: httpx.Client, total: int, requests: int) -> None:
    fill(stack, total)

    def listed() -> bool:
        resp = http.get("/api/v1/projects")
        return resp.headers.get("x-total-count") == str(total) and all(p["status"] == "ready" for p in resp.json())

    wait(listed, 300, interval=0.5)
    for _ in range(5):
        http.get("/api/v1/projects")
    took, size = [], 0
    for _ in range(requests):
        started = time.perf_counter()
        resp = http.get("/api/v1/projects")
        body = resp.content
        took.append(time.perf_counter() - started)
        size = len(body)
    print(f"list: GET /api/v1/projects with {total} projects ({size / 1e6:.1f} MB): {figures(took)} (target p99 <= 50 ms)")
    took = []
    for i in range(requests):
        started = time.perf_counter()
        http.get("/api/v1/projects", params={"limit": 50, "offset": (i * 50) % total})
        took.append(time.perf_counter() - started)
    print(f"list: GET /api/v1/projects?limit=50&offset=... with {total} projects: {figures(took)}")
    took = []
    for i in range(requests):
        started = time.perf_counter()
        http.get(f"/api/v1/projects/listed-{i:05d}")
        took.append(time.perf_counter() - started)
    print(f"list: GET /api/v1/projects/{{id}} with {total} projects: {figures(took)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", nargs="?", default="all", choices=("create", "list", "all"))
    parser.add_argument("--projects", type=int, default=10_000, help="projects in the workspace for the list benchmark")
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="auteur-api-bench-"))
    print(f"api bench: {os.cpu_count()} CPUs, scratch {base}")
    try:
        with Launcher(base) as stack, httpx.Client(base_url=stack.url, timeout=120) as http:
            if args.which in ("create", "all"):
                bench_create(stack, http, args.creates)
            if args.which in ("list", "all"):
                bench_list(stack, http, args.projects, args.requests)
                bench_create(stack, http, min(args.creates, 50), label=f"create-at-{args.projects}")
            print(f"api bench: embedded process peak RSS {stack.peak_rss_mb():.0f} MB")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
