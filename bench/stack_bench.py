"""Redis-mode stack benchmark on Docker: event fan-out across two API replicas, and uploads with two workers.

    .venv/bin/python bench/stack_bench.py [fanout] [uploads] [--clients 500] [--drops 20] [--via api|spec]
                                          [--uploads 100] [--mib 10] [--concurrency 10]
    .venv/bin/python bench/stack_bench.py --quick     # small sizes, a smoke run

The stack is the compose stack on the Docker engine (compose v2 from ``.venv``), as its own
project ``auteurstackbench``: ``docker-compose.yml`` plus ``docker-compose.test.yml`` (the second
API replica, ``backend-2``; never its ``e2e`` service) plus a small override in the scratch folder
that publishes ``backend-2`` on 127.0.0.1:18501. Services redis, controller, two workers
(``--scale worker=2``), ``backend`` (API on port 18500) and ``backend-2``; no gallery. Images from
``python -m launcher.images``; ``AUTEUR_SPECS`` is a scratch folder (the host side of ``/specs``).
``down -v --remove-orphans`` at the end, always. The stack is driven the way
``container_bench.Containers`` drives it, and read only through the API.

* **fan-out**: WebSocket clients spread evenly over the two API replicas; a project is created
  through replica A (``POST /api/v1/projects``, answered once it is ready), or with ``--via spec``
  a spec file is dropped into the spec folder (atomic rename), and the time to the first event
  about that project is taken at every client (create -> spec file -> inotify -> controller ->
  journal -> Redis stream -> each replica -> each socket). Also the time to the ``ready`` event.
* **uploads**: N files of M MiB sent by C concurrent clients (one project each, replicas
  alternating from file to file, bodies streamed with ``sendfile``; ``--concurrency 1`` sends them one after the
  other), with two worker containers; the time runs from the first request until the
  ``upload.completed`` event of every upload has arrived on replica A's WebSocket (moved into the
  project and committed through Git LFS; the API's asset listing then confirms each file is
  committed). Baseline in the same run: ``git add`` with git-lfs of the same files, one after the
  other, in a fresh repository (and the final ``git commit``).

Prints numbers; never asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, percentile, wait
from container_bench import Containers, Events, image_env
from upload_bench import make_file, upload

STACK_ENV = {"COMPOSE_PROJECT_NAME": "auteurstackbench", "AUTEUR_API_PORT": "18500", "AUTEUR_WEB_PORT": "13500",
             "AUTEUR_WORKER_HEARTBEAT_SECONDS": "2"}  # fmt: skip
REPLICA_PORT = 18501
REPLICA_OVERRIDE = f'services:\n  backend-2:\n    ports: ["127.0.0.1:{REPLICA_PORT}:8000"]\n'
SERVICES = ["redis", "controller", "worker", "backend", "backend-2"]


class BenchStack(Containers):
    """The compose stack with two API replicas and ``workers`` workers (no gallery: not measured)."""

    def __init__(self, base: Path, images: dict[str, str], workers: int) -> None:
        super().__init__(base, images)  # the scratch folder, its spec folder as AUTEUR_SPECS, the images
        self.env.update(STACK_ENV)
        self.port, self.workers, self.specs = int(STACK_ENV["AUTEUR_API_PORT"]), workers, base / "specs"
        (base / "replica.yml").write_text(REPLICA_OVERRIDE)

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        files = ["-f", str(ROOT / "docker-compose.test.yml"), "-f", str(self.base / "replica.yml")]
        return super().compose(*files, *args, timeout=timeout)

    def api(self, replica: int) -> str:
        return f"http://127.0.0.1:{self.api_port(replica)}"

    def api_port(self, replica: int) -> int:
        return self.port if replica == 0 else REPLICA_PORT

    def start(self) -> None:
        self.compose("down", "-v", "--remove-orphans")  # a leftover of an interrupted run of this benchmark
        done = self.compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "300", "--scale", f"worker={self.workers}", *SERVICES)
        if done.returncode:
            raise RuntimeError(f"compose up exited {done.returncode}: {done.stderr[-2000:]}")
        # Compose v2 on a 20.10 engine can answer 0 although a container did not start: count and ask.
        workers = self.compose("ps", "-q", "--status", "running", "worker").stdout.split()
        if len(workers) != self.workers:
            raise RuntimeError(f"{len(workers)} worker container(s) running, not {self.workers}")
        for replica in (0, 1):
            wait(lambda r=replica: self.replica_healthy(r), 180, interval=0.2)

    def ingests_per_worker(self, ids: list[str]) -> str:
        """How many of these uploads each worker container ingested (its ``upload <id>: ..., attempt n`` lines)."""
        counts: dict[str, int] = {}
        for line in self.compose("logs", "--no-color", "worker").stdout.splitlines():
            container, _, text = line.partition("|")
            counts.setdefault(container.strip(), 0)
            counts[container.strip()] += any(f"upload {upload_id}: " in text and ", attempt " in text for upload_id in ids)
        return ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "no logs"

    def replica_healthy(self, replica: int) -> bool:
        try:
            return httpx.get(self.api(replica) + "/health", timeout=5).json().get("status") == "healthy"
        except (httpx.HTTPError, ValueError):
            return False


# -- fan-out ------------------------------------------------------------------


async def fanout(bench: BenchStack, clients: int, drops: int, via: str) -> None:
    first: dict[str, list[float]] = {}
    ready: dict[str, list[float]] = {}
    by_replica: tuple[list[float], list[float]] = ([], [])
    dropped: dict[str, float] = {}
    created: list[float] = []
    connected = 0

    async def client(index: int) -> None:
        nonlocal connected
        url = bench.api(index % 2).replace("http://", "ws://") + "/api/v1/events"
        async with websockets.connect(url, max_queue=None, open_timeout=120, ping_interval=None, max_size=None) as ws:
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
                    by_replica[index % 2].append(now - dropped[key])
                if frame["project"].get("status") == "ready" and key not in done:
                    done.add(key)
                    ready.setdefault(key, []).append(now - dropped[key])
                    if len(done) == drops:
                        return

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    while connected < clients:
        if failed := [t for t in tasks if t.done() and t.exception()]:
            raise RuntimeError(f"{len(failed)} WebSocket client(s) failed: {failed[0].exception()!r}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # every subscription registered with its replica's bus
    async with httpx.AsyncClient(base_url=bench.api(0), timeout=120) as http:  # async: the clients keep reading meanwhile
        for n in range(drops):
            key = f"fan-{n}"
            if via == "api":
                dropped[key] = time.perf_counter()
                answer = await http.post("/api/v1/projects", json={"name": key})
                created.append(time.perf_counter() - dropped[key])
                if answer.status_code not in (201, 202):
                    raise RuntimeError(f"create {key}: HTTP {answer.status_code} {answer.text[:500]}")
            else:
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
    await asyncio.gather(*tasks, return_exceptions=True)
    got_first = [v for values in first.values() for v in values]
    got_ready = [v for values in ready.values() for v in values]
    expected = clients * drops
    action = "creates through replica A" if via == "api" else "spec drops"
    print(f"event fan-out: {clients} WebSocket clients over 2 API replicas, {drops} {action} ({expected} deliveries expected)")
    print(f"  first event about the project: {_stats(got_first)}  (target p99 <= 200 ms)")
    print(f"  its 'ready' event:             {_stats(got_ready)}")
    for replica, name in enumerate(("backend", "backend-2")):
        print(f"  first event, clients on {name + ':':<11}{_stats(by_replica[replica])}")
    if created:
        print(f"  the create's own answer (201): {_stats(created)}")
    per_drop = [max(values) for values in first.values() if values]
    if per_drop:
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
    concurrency = max(1, min(concurrency, count))
    http = httpx.Client(timeout=120)
    projects = [f"up-{c}" for c in range(concurrency)]
    for key in projects:
        answer = http.post(bench.api(0) + "/api/v1/projects", json={"name": key})
        assert answer.status_code in (201, 202), answer.text
    # Replicas alternate from file to file (and so from client to client); every replica carries
    # every event, so one socket sees them all.
    ids, stored, total, finished = upload_all(bench.api(0), lambda n: bench.api_port(n % 2), projects, files)
    failed = [kind for _, kind in finished if kind != "upload.completed"]
    committed = 0
    for key in projects:  # what the API says is in git now
        listed = http.get(f"{bench.api(0)}/api/v1/projects/{key}/assets").json()
        committed += sum(1 for asset in listed if asset["path"].endswith(".wav") and asset["committed"] and asset["lfs"])
    http.close()
    mb = count * size / 1e6
    clients = f"{concurrency} concurrent clients" if concurrency > 1 else "one client, one after the other"
    print(f"uploads: {count} x {size / (1 << 20):g} MiB from {clients}, 2 API replicas, {bench.workers} workers")
    print(f"  all stored (200) after {stored:.2f}s; all ingested and committed after {total:.2f}s: {mb / total:.0f} MB/s"
          + (f"; {len(failed)} FAILED" if failed else ", all completed")
          + f"; {committed} of {count} committed through LFS per the API")  # fmt: skip
    print(f"  ingests per worker (from their logs): {bench.ingests_per_worker(ids)}")
    add_s, commit_s = git_add_sequence(base, files)
    print(
        f"  git add with git-lfs, same files in sequence: {add_s:.2f}s ({mb / add_s:.0f} MB/s); "
        f"+ git commit: {commit_s:.2f}s ({mb / commit_s:.0f} MB/s)"
    )
    print(f"  ratio: Auteur {add_s / total:.2f}x the throughput of git add, {commit_s / total:.2f}x of git add + commit "
          "(target >= 1x)")  # fmt: skip


def upload_all(events_url: str, port_of: Callable[[int], int], projects: list[str], files: list[Path]
               ) -> tuple[list[str], float, float, list[tuple[float, str]]]:  # fmt: skip
    """``files`` from one client per project at once (file n to ``port_of(n)``), until each
    upload's final event arrives on ``events_url``'s WebSocket: (upload ids, seconds until all
    were stored, seconds until all were finished, each one's (time, final event type))."""
    concurrency = len(projects)
    ids: list[str] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        for n in range(c, len(files), concurrency):
            _, answer = upload(port_of(n), projects[c], files[n], "audio")
            with lock:
                ids.append(answer["uploads"][0]["upload_id"])

    events = Events(events_url)
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(client, range(concurrency)))
        stored = time.perf_counter() - started
        finished = [events.wait(upload_id, 1800) for upload_id in ids]
    finally:
        events.ws.close()
    return ids, stored, max(at for at, _ in finished) - started, finished


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
    parser.add_argument("--drops", type=int, default=20, help="projects created (or spec files dropped) one at a time")
    parser.add_argument("--via", choices=["api", "spec"], default="api", help="create through replica A, or drop a spec file")
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--mib", "--size-mib", dest="mib", type=float, default=10, help="size of each upload")
    parser.add_argument("--concurrency", type=int, default=10, help="upload clients (1: one upload after the other)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="50 clients, 5 drops, 20 uploads of 2 MiB")
    parser.add_argument("--tmp", default=os.environ.get("BENCH_TMP", "/var/tmp"))
    args = parser.parse_args()
    if args.quick:
        args.clients, args.drops, args.uploads, args.mib = 50, 5, 20, 2
    parts = args.parts or ["fanout", "uploads"]
    if set(parts) - {"fanout", "uploads"}:
        parser.error(f"unknown part(s): {sorted(set(parts) - {'fanout', 'uploads'})}")
    if args.clients < 1 or args.drops < 1 or args.uploads < 1 or args.mib <= 0 or args.workers < 1:
        parser.error("--clients, --drops, --uploads, --mib and --workers must be positive")
    images = image_env()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill runs the finally below: the stack goes down too
    base = Path(tempfile.mkdtemp(prefix="auteur-stack-bench-", dir=args.tmp))
    bench = BenchStack(base / "stack", images, workers=args.workers)
    try:
        started = time.monotonic()
        try:
            bench.start()
        except BaseException:
            print(f"the stack did not come up; its logs:\n{bench.logs()}", file=sys.stderr)
            raise
        print(f"stack: compose project {STACK_ENV['COMPOSE_PROJECT_NAME']}: {', '.join(SERVICES)} (worker x{args.workers}); "
              f"API {bench.api(0)} and {bench.api(1)}; healthy in {time.monotonic() - started:.1f} s", flush=True)  # fmt: skip
        if "fanout" in parts:
            asyncio.run(fanout(bench, args.clients, args.drops, args.via))
        if "uploads" in parts:
            uploads(bench, base, args.uploads, int(args.mib * (1 << 20)), args.concurrency)
        return 0
    finally:
        bench.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
