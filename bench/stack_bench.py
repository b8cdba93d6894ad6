"""Redis-mode stack benchmark: event fan-out across API replicas, and uploads with two workers.

    .venv/bin/python bench/stack_bench.py [fanout] [uploads] [--clients 500] [--drops 20]
                                          [--uploads 100] [--size-mib 10] [--concurrency 10]
    .venv/bin/python bench/stack_bench.py --quick     # small sizes, a smoke run

The stack is ``docker-compose.yml`` run as local processes by ``launcher.stack``
(its own redis-server on a free port, the controller, workers, two API replicas),
on scratch folders.

* **fan-out**: WebSocket clients spread evenly over the two API replicas; a spec file
  is dropped (atomic rename) and the time to the first event about that project is
  taken at every client (spec drop -> inotify -> controller -> journal -> Redis
  stream -> each replica -> each socket). Also the time to the ``ready`` event.
* **uploads**: N files of M MiB sent by C concurrent clients (one project each,
  replicas alternating, bodies streamed with ``sendfile``), with two worker
  processes; the time runs from the first request until every upload record says
  ``completed`` (moved into the project and committed through Git LFS). Baseline in
  the same run: ``git add`` with git-lfs of the same files, one after the other, in
  a fresh repository (and the final ``git commit``).

Prints numbers; never asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import percentile, wait
from upload_bench import make_file, upload

from launcher.compose import Layout, free_port, plan
from launcher.stack import Stack

ROOT = Path(__file__).resolve().parents[1]


class BenchStack:
    """The compose services as local processes on scratch folders (no gallery: not measured)."""

    def __init__(self, base: Path, workers: int) -> None:
        self.base = base
        self.workspace, self.specs = base / "workspace", base / "specs"
        self.specs.mkdir(parents=True)
        port = free_port()
        while True:  # two consecutive free ports for the two replicas
            try:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port + 1))
                break
            except OSError:
                port = free_port()
        self.api_port = port
        layout = Layout(self.workspace, self.specs, None, port, free_port(), base / "redis", {"backend": 2, "worker": workers})
        services = [s for s in plan(ROOT / "docker-compose.yml", layout) if s.name != "frontend"]
        for service in services:
            service.env.update(AUTEUR_WORKER_HEARTBEAT_SECONDS="2")
        self.stack = Stack(services, base / "stack", echo=False)

    def __enter__(self) -> BenchStack:
        self.stack.start()
        if not self.stack.wait_healthy(180):
            raise RuntimeError(f"the stack did not become healthy; logs in {self.base / 'stack'}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.stop()

    def api(self, replica: int) -> str:
        return f"http://127.0.0.1:{self.api_port + replica}"


# -- fan-out ------------------------------------------------------------------


async def fanout(bench: BenchStack, clients: int, drops: int) -> None:
    first: dict[str, list[float]] = {}
    ready: dict[str, list[float]] = {}
    dropped: dict[str, float] = {}
    connected = 0

    async def client(index: int) -> None:
        nonlocal connected
        url = bench.api(index % 2).replace("http://", "ws://") + "/api/v1/events"
        async with websockets.connect(url, max_queue=None, open_timeout=120, ping_interval=None) as ws:
            connected += 1
            seen, done = set(), set()
            async for message in ws:
                now = time.perf_counter()
                frame = json.loads(message)
                key = (frame.get("project") or {}).get("id")
                if key not in dropped:
                    continue
                if key not in seen:
                    seen.add(key)
                    first.setdefault(key, []).append(now - dropped[key])
                if frame["project"].get("status") == "ready" and key not in done:
                    done.add(key)
                    ready.setdefault(key, []).append(now - dropped[key])
                    if len(done) == drops:
                        return

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    while connected < clients:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # every subscription registered with its replica's bus
    for n in range(drops):
        key = f"fan-{n}"
        tmp = bench.specs / f".{key}.tmp"
        tmp.write_text(f"name: {key}\n")
        dropped[key] = time.perf_counter()
        os.rename(tmp, bench.specs / f"{key}.yaml")
        deadline = time.monotonic() + 60
        while len(ready.get(key, [])) < clients and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # let the stack settle between drops
    await asyncio.wait(tasks, timeout=30)
    for task in tasks:
        task.cancel()
    got_first = [v for values in first.values() for v in values]
    got_ready = [v for values in ready.values() for v in values]
    expected = clients * drops
    print(f"event fan-out: {clients} WebSocket clients over 2 API replicas, {drops} spec drops ({expected} deliveries expected)")
    print(f"  first event about the project: {_stats(got_first)}  (target p99 <= 200 ms)")
    print(f"  its 'ready' event:             {_stats(got_ready)}")
    per_drop = [max(values) for values in first.values() if values]
    print(f"  slowest client per drop: median {percentile(per_drop, 50) * 1000:.1f} ms, max {max(per_drop) * 1000:.1f} ms")
    if len(got_first) < expected:
        print(f"  MISSING: {expected - len(got_first)} deliveries never arrived")


def _stats(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (f"n={len(values)} p50={percentile(values, 50) * 1000:.1f} ms p90={percentile(values, 90) * 1000:.1f} ms "
            f"p99={percentile(values, 99) * 1000:.1f} ms max={max(values) * 1000:.1f} ms")  # fmt: skip


# -- uploads ------------------------------------------------------------------


def uploads(bench: BenchStack, base: Path, count: int, size: int, concurrency: int) -> None:
    sources = base / "sources"
    sources.mkdir()
    files = [sources / f"take-{n:03d}.wav" for n in range(count)]
    for path in files:
        make_file(path, size)
    http = httpx.Client(timeout=120)
    projects = [f"up-{c}" for c in range(concurrency)]
    for key in projects:
        answer = http.post(bench.api(0) + "/api/v1/projects", json={"name": key})
        assert answer.status_code in (201, 202), answer.text
    records = bench.workspace / ".auteur" / "uploads"
    ids: list[str] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        for path in files[c::concurrency]:
            _, answer = upload(bench.api_port + c % 2, projects[c], path, "audio")
            with lock:
                ids.append(answer["uploads"][0]["upload_id"])

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(client, range(concurrency)))
    stored = time.perf_counter() - started
    statuses = wait(lambda: _all_finished(records, ids), 1800, 0.05)
    total = time.perf_counter() - started
    failed = [s for s in statuses if s != "completed"]
    mb = count * size / 1e6
    print(f"uploads: {count} x {size >> 20} MiB from {concurrency} concurrent clients, 2 API replicas, 2 workers")
    print(f"  all stored (200) after {stored:.2f}s; all ingested and committed after {total:.2f}s: {mb / total:.0f} MB/s"
          + (f"; {len(failed)} FAILED" if failed else ", all completed"))  # fmt: skip
    add_s, commit_s = git_add_sequence(base, files)
    print(
        f"  git add with git-lfs, same files in sequence: {add_s:.2f}s ({mb / add_s:.0f} MB/s); "
        f"+ git commit: {commit_s:.2f}s ({mb / commit_s:.0f} MB/s)"
    )
    print(f"  ratio: Auteur {add_s / total:.2f}x the throughput of git add (target >= 1x)")


def _all_finished(records: Path, ids: list[str]) -> list[str] | None:
    out = []
    for upload_id in ids:
        try:
            status = json.loads((records / f"{upload_id}.json").read_bytes())["status"]
        except (FileNotFoundError, ValueError):
            return None
        if status not in ("completed", "failed"):
            return None
        out.append(status)
    return out


def git_add_sequence(base: Path, files: list[Path]) -> tuple[float, float]:
    repo = base / "git-baseline"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("lfs", "install", "--local")
    (repo / ".gitattributes").write_text("*.wav filter=lfs diff=lfs merge=lfs -text\n")
    git("add", ".gitattributes")
    git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init")
    for path in files:
        os.link(path, repo / path.name)  # the same bytes, the same page cache
    started = time.perf_counter()
    for path in files:
        git("add", path.name)
    added = time.perf_counter() - started
    git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "add")
    return added, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="*", metavar="fanout|uploads", help="what to run (default: both)")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--drops", type=int, default=20)
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--size-mib", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="50 clients, 5 drops, 20 uploads of 2 MiB")
    parser.add_argument("--tmp", default=os.environ.get("BENCH_TMP"))
    args = parser.parse_args()
    if args.quick:
        args.clients, args.drops, args.uploads, args.size_mib = 50, 5, 20, 2
    parts = args.parts or ["fanout", "uploads"]
    if set(parts) - {"fanout", "uploads"}:
        parser.error(f"unknown part(s): {sorted(set(parts) - {'fanout', 'uploads'})}")
    base = Path(tempfile.mkdtemp(prefix="auteur-stack-bench-", dir=args.tmp))
    try:
        with BenchStack(base, workers=2) as bench:
            print(f"stack: {', '.join(bench.stack.running)} (logs in {base / 'stack'} while it runs)")
            if "fanout" in parts:
                asyncio.run(fanout(bench, args.clients, args.drops))
            if "uploads" in parts:
                uploads(bench, base, args.uploads, args.size_mib << 20, args.concurrency)
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
