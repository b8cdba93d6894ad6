"""The stack on Docker Swarm: upload throughput by number of workers, and the controller's fail-over.

    .venv/bin/python bench/swarm_bench.py [--uploads 100] [--mib 10] [--concurrency 10] [--workers 1,2,3]
                                          [--failovers 10]

The stack is ``make swarm-up``'s (``python -m launcher.swarm``: docker-compose.yml plus
docker-stack.yml, two backends behind the haproxy proxy), deployed as its own stack
``auteurbench`` with the proxy on ports 18600 (API) and 18601 (gallery), on a one-node swarm
(initialised and left again when the engine was in none). Removed with its volumes at the end.

* **uploads**: for each worker count (``docker service scale``, waited on), N files of M MiB
  (random bytes, new for each file) sent by C concurrent clients, each into its own new
  project, through the proxy; the time runs from the first request until the
  ``upload.completed`` event of every upload has arrived on the API's WebSocket (moved into the
  project, committed through Git LFS). Also the time until every upload was stored (answered
  200). Baseline in the same run: one ``git add`` with git-lfs of the same files, one after the
  other, and its ``git commit`` (``stack_bench.git_add_sequence``).
* **fail-over**: K times, the active controller (the Redis lease's holder) is killed with
  ``docker kill -s KILL``; the time until the lease names the other replica, read from Redis
  every 50 ms. Swarm replaces the killed replica before the next trial.

Prints numbers; never asserts on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, percentile
from stack_bench import git_add_sequence, upload_all
from upload_bench import make_file

STACK = "auteurbench"
API_PORT, WEB_PORT = 18600, 18601
API = f"http://127.0.0.1:{API_PORT}"


def env(specs: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"}
    values.update(AUTEUR_STACK=STACK, AUTEUR_SPECS=str(specs), AUTEUR_API_PORT=str(API_PORT), AUTEUR_WEB_PORT=str(WEB_PORT))
    return values


def swarm(action: str, *args: str, environ: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "launcher.swarm", action, *args], cwd=ROOT, env=environ, check=True,
                   stdout=subprocess.DEVNULL if action != "up" else None)  # fmt: skip


def containers(service: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_{service}",
                          "--filter", "status=running"], capture_output=True, text=True, check=True).stdout  # fmt: skip
    return out.split()


def leader() -> str | None:
    out = subprocess.run(["docker", "exec", containers("redis")[0], "redis-cli", "get", "auteur:controller:lease"],
                         capture_output=True, text=True).stdout.strip()  # fmt: skip
    return out.split(":", 1)[0] if out else None


def uploads(base: Path, workers: int, count: int, size: int, concurrency: int) -> dict[str, float]:
    sources = base / f"sources-{workers}"
    sources.mkdir()
    files = [sources / f"take-{n:03d}.wav" for n in range(count)]
    for path in files:
        make_file(path, size)
    http = httpx.Client(base_url=API, timeout=120)
    projects = [f"w{workers}-{c}" for c in range(concurrency)]
    for key in projects:
        answer = http.post("/api/v1/projects", json={"name": key})
        assert answer.status_code in (201, 202), answer.text
    _, stored, total, finished = upload_all(API, lambda n: API_PORT, projects, files)
    failed = sum(1 for _, kind in finished if kind != "upload.completed")
    http.close()
    for path in files:
        path.unlink()
    mib = count * size / (1 << 20)
    return {"workers": workers, "stored_s": stored, "total_s": total, "stored_mibs": mib / stored, "committed_mibs": mib / total,
            "failed": failed}  # fmt: skip


def failover(trials: int) -> list[float]:
    taken: list[float] = []
    for trial in range(trials):
        deadline = time.monotonic() + 120
        while not (len(containers("controller")) == 2 and leader() in containers("controller")):
            if time.monotonic() > deadline:
                raise RuntimeError("two controllers with one leader were not back within 120 s")
            time.sleep(0.5)
        old = leader()
        subprocess.run(["docker", "kill", "-s", "KILL", old], check=True, capture_output=True)
        killed = time.monotonic()
        while (now := leader()) in (None, old):
            time.sleep(0.05)
        taken.append(time.monotonic() - killed)
        print(f"  fail-over {trial + 1}: {old} killed, {now} leads {taken[-1]:.2f} s later", flush=True)
    return taken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--mib", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--failovers", type=int, default=10)
    parser.add_argument("--tmp", default=os.environ.get("BENCH_TMP", "/var/tmp"))
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="auteur-swarm-bench-", dir=args.tmp))
    environ = env(base / "specs")
    state = subprocess.run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"], capture_output=True, text=True).stdout.strip()
    results = []
    try:
        swarm("up", environ=environ)
        for workers in [int(w) for w in args.workers.split(",") if w]:
            swarm("scale", f"worker={workers}", environ=environ)
            row = uploads(base, workers, args.uploads, args.mib << 20, args.concurrency)
            results.append(row)
            print(f"  {workers} worker(s): stored {row['stored_mibs']:.0f} MiB/s ({row['stored_s']:.1f} s), ingested and committed "
                  f"{row['committed_mibs']:.0f} MiB/s ({row['total_s']:.1f} s), {row['failed']} failed", flush=True)  # fmt: skip
        swarm("scale", "worker=2", environ=environ)
        times = failover(args.failovers) if args.failovers else []
        files = [base / "baseline" / f"take-{n:03d}.wav" for n in range(args.uploads)]
        files[0].parent.mkdir()
        for path in files:
            make_file(path, args.mib << 20)
        add_s, commit_s = git_add_sequence(base, files)
    finally:
        subprocess.run([sys.executable, "-m", "launcher.swarm", "down"], cwd=ROOT, env=environ, capture_output=True)
        for volume in (f"{STACK}_workspace", f"{STACK}_redis-data"):
            for _ in range(60):
                if subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True).returncode == 0:
                    break
                time.sleep(0.5)
        if state == "inactive":
            subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True)
        subprocess.run(["rm", "-rf", str(base)])
    mib = args.uploads * args.mib
    print(f"\nuploads: {args.uploads} x {args.mib} MiB from {args.concurrency} concurrent clients through the proxy, 2 API replicas")
    print(f"{'workers':>8} {'stored MiB/s':>13} {'committed MiB/s':>16} {'vs 1 worker':>12}")
    first = results[0]["committed_mibs"] if results else 0.0
    for row in results:
        print(f"{row['workers']:>8} {row['stored_mibs']:>13.0f} {row['committed_mibs']:>16.0f} {row['committed_mibs'] / first:>11.2f}x")
    print(f"baseline, same files: git add with git-lfs in sequence {mib / add_s:.0f} MiB/s; + git commit {mib / commit_s:.0f} MiB/s")
    if times:
        print(f"controller fail-over over {len(times)} trials: median {statistics.median(times):.2f} s, "
              f"p90 {percentile(times, 90):.2f} s, max {max(times):.2f} s, min {min(times):.2f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
