"""Benchmarks of the reconciler core (issue: the reconciler core).

    .venv/bin/python bench/controller_bench.py [bulk|latency|steady|media|all] [--quick]

Each figure is compared against a baseline measured in the same run on this machine.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ControllerProcess, ready_count, status_ready, summary, wait


def _drop_specs(specs: Path, names: list[str]) -> None:
    for name in names:
        (specs / f".{name}.tmp").write_text(f"name: {name}\n")


def _rename_specs(specs: Path, names: list[str]) -> None:
    for name in names:
        os.rename(specs / f".{name}.tmp", specs / f"{name}.yaml")


def baseline(base: Path, n: int) -> float:
    """Seconds per project for the git CLI script."""
    started = time.perf_counter()
    subprocess.run(["bash", str(Path(__file__).resolve().parent / "baseline.sh"), str(base / "baseline"), str(n)], check=True)
    return (time.perf_counter() - started) / n


def bulk(base: Path, n: int, baseline_n: int) -> None:
    per_base = baseline(base, baseline_n)
    ctl = ControllerProcess(base / "bulk")
    ctl.start()
    names = [f"bulk-{i:05d}" for i in range(n)]
    _drop_specs(ctl.specs, names)
    started = time.perf_counter()
    _rename_specs(ctl.specs, names)
    status = ctl.workspace / ".auteur" / "status"
    wait(lambda: status.is_dir() and ready_count(status) >= n, 1800, interval=0.05)
    elapsed = time.perf_counter() - started
    cpu = ctl.cpu_seconds()
    ctl.stop()
    ours = elapsed / n
    print(f"bulk: baseline git CLI script: {per_base * 1000:.1f} ms/project ({1 / per_base:.1f} projects/s, {baseline_n} projects)")
    print(f"bulk: {n} specs dropped at once -> all ready in {elapsed:.2f}s: {ours * 1000:.2f} ms/project ({n / elapsed:.1f} projects/s)")
    print(f"bulk: throughput ratio vs baseline: {per_base / ours:.1f}x (target >= 8x)")
    print(f"bulk: controller CPU (user + system, start included): {cpu / n * 1000:.2f} ms/project")


def latency(base: Path, n: int) -> None:
    ctl = ControllerProcess(base / "latency")
    ctl.start()
    names = [f"lat-{i:04d}" for i in range(n)]
    _drop_specs(ctl.specs, names)
    status = ctl.workspace / ".auteur" / "status"
    latencies = []
    for name in names:
        target = status / f"{name}.json"
        started = time.perf_counter()
        os.rename(ctl.specs / f".{name}.tmp", ctl.specs / f"{name}.yaml")
        while not status_ready(target):
            time.sleep(0.0005)
            if time.perf_counter() - started > 60:
                raise TimeoutError(name)
        latencies.append(time.perf_counter() - started)
    ctl.stop()
    print(f"latency: spec rename -> status ready, one at a time: {summary(latencies)} (target p99 <= 50ms)")


def steady(base: Path, n: int) -> None:
    ctl = ControllerProcess(base / "steady", AUTEUR_RESYNC_SECONDS="15")
    ctl.start()
    names = [f"st-{i:05d}" for i in range(n)]
    _drop_specs(ctl.specs, names)
    _rename_specs(ctl.specs, names)
    status = ctl.workspace / ".auteur" / "status"
    started = time.perf_counter()
    wait(lambda: ready_count(status) >= n, 3600, interval=0.5)
    print(f"steady: {n} projects converged in {time.perf_counter() - started:.1f}s")
    ctl.stop()
    # a fresh controller on the converged workspace: startup, resync passes, memory, idle CPU
    ctl.start()
    started = time.perf_counter()
    wait(lambda: ctl.heartbeat().get("resyncs", 0) >= 1 and ctl.heartbeat().get("queue", 1) == 0, 600, interval=0.2)
    print(f"steady: restart -> first resync done and queue empty in {time.perf_counter() - started:.1f}s")
    wait(lambda: ctl.heartbeat().get("resyncs", 0) >= 3, 120, interval=0.5)
    beat = ctl.heartbeat()
    resync_times = []
    for _ in range(3):
        count = ctl.heartbeat()["resyncs"]
        wait(lambda c=count: ctl.heartbeat()["resyncs"] > c, 60, interval=0.2)
        time.sleep(5.5)  # the heartbeat is written every 5 s
        resync_times.append(ctl.heartbeat()["resync_last_seconds"])
    print(f"steady: full resync pass over {n} projects: median {statistics.median(resync_times):.2f}s "
          f"max {max(resync_times):.2f}s (target <= 3s); watches: {beat['watches']}")  # fmt: skip
    # idle: a 5 s window between two resync passes. The period here is 15 s and the
    # heartbeat that reports a finished pass is written every 5 s, so a window that
    # starts when the report is seen ends at most 10 s after the pass: before the next.
    count = ctl.heartbeat()["resyncs"]
    wait(lambda c=count: ctl.heartbeat()["resyncs"] > c, 60, interval=0.05)
    cpu_before = ctl.cpu_seconds()
    time.sleep(5)
    cpu_idle = ctl.cpu_seconds() - cpu_before
    print(f"steady: CPU while nothing changes (5 s window between resync passes): {cpu_idle:.2f}s")
    count = ctl.heartbeat()["resyncs"]
    wait(lambda c=count: ctl.heartbeat()["resyncs"] > c, 60, interval=0.05)
    cpu_before = ctl.cpu_seconds()
    count = ctl.heartbeat()["resyncs"]
    wait(lambda c=count: ctl.heartbeat()["resyncs"] > c, 60, interval=0.05)
    per_pass = ctl.cpu_seconds() - cpu_before
    print(
        f"steady: CPU per resync period ({per_pass:.2f}s of CPU per pass; with the default 60 s period "
        f"that is {per_pass / 60 * 100:.1f}% of one core on average)"
    )
    rss = ctl.peak_rss_mb()
    print(f"steady: peak RSS: controller {rss.get(ctl.proc.pid, 0):.0f} MB; all processes {sum(rss.values()):.0f} MB "
          f"(target <= 300 MB)")  # fmt: skip
    limit = Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
    print(f"steady: inotify max_user_watches on this machine: {limit}")
    ctl.stop()


def _floor(path: Path, dest: Path) -> float:
    started = time.perf_counter()
    digest = hashlib.sha256()
    buf = bytearray(4 << 20)
    view = memoryview(buf)
    with open(path, "rb") as src, open(dest, "wb") as out:
        while n := src.readinto(buf):
            digest.update(view[:n])
            out.write(view[:n])
        out.flush()
        os.fsync(out.fileno())
    return time.perf_counter() - started


def media(base: Path, size_mb: int) -> None:
    work = base / "media"
    work.mkdir(parents=True)
    src = work / "render.mov"
    with open(src, "wb") as out:
        block = os.urandom(1 << 20)
        for _ in range(size_mb):
            out.write(block)
    size = src.stat().st_size
    mib = size / (1 << 20)
    # baseline: git add with git-lfs
    repo = work / "gitrepo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "lfs", "install", "--local"], cwd=repo, check=True, capture_output=True)
    (repo / ".gitattributes").write_text("*.mov filter=lfs diff=lfs merge=lfs -text\n")
    shutil.copyfile(src, repo / "render.mov")
    subprocess.run(["sync"], check=True)
    started = time.perf_counter()
    subprocess.run(["git", "add", "render.mov"], cwd=repo, check=True)
    git_add = time.perf_counter() - started
    floor = _floor(src, work / "floor.copy")
    (work / "floor.copy").unlink()
    # ours: the running controller commits the file dropped into outputs/renders
    ctl = ControllerProcess(work / "auteur", AUTEUR_SETTLE_SECONDS="0.2")
    ctl.start()
    (ctl.specs / "media.yaml").write_text("name: media\n")
    status = ctl.workspace / ".auteur" / "status" / "media.json"
    wait(lambda: status_ready(status), 60)
    staged = ctl.workspace / "media" / "temp" / "render.mov"
    shutil.copyfile(src, staged)
    past = time.time() - 60
    os.utime(staged, (past, past))
    subprocess.run(["sync"], check=True)
    before = ctl.peak_rss_mb()
    started = time.perf_counter()
    os.rename(staged, ctl.workspace / "media" / "outputs" / "renders" / "render.mov")
    wait(lambda: status_ready(status) and b'"lfs_files":1' in status.read_bytes(), 600, interval=0.01)
    ours = time.perf_counter() - started
    rss = ctl.peak_rss_mb()
    ctl.stop()
    print(f"media: {mib:.0f} MiB file. git add with git-lfs: {git_add:.2f}s ({mib / git_add:.0f} MiB/s)")
    print(f"media: floor (one streaming pass: sha256 + copy + fsync): {floor:.2f}s ({mib / floor:.0f} MiB/s)")
    print(f"media: auteur drop -> committed through LFS: {ours:.2f}s ({mib / ours:.0f} MiB/s); "
          f"{git_add / ours:.2f}x git add (target >= 2x), {floor / ours:.2f}x the floor")  # fmt: skip
    print(f"media: peak RSS per controller process before {before} after {rss} MB (target <= 100 MB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", nargs="*", default=["all"])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    which = set(args.which)
    if "all" in which:
        which = {"bulk", "latency", "steady", "media"}
    with tempfile.TemporaryDirectory(prefix="auteur-bench-", dir=os.environ.get("BENCH_TMP")) as tmp:
        base = Path(tmp)
        if "bulk" in which:
            bulk(base, 100 if args.quick else 1000, 20 if args.quick else 100)
        if "latency" in which:
            latency(base, 20 if args.quick else 200)
        if "steady" in which:
            steady(base, 300 if args.quick else 10_000)
        if "media" in which:
            media(base, 64 if args.quick else 1024)


if __name__ == "__main__":
    main()
