"""Benchmark of the media integrity pass (issue 12, item 3): ``auteur fsck`` and the controller's
background pass over many projects, against the disk's own sequential read speed.

    .venv/bin/python bench/integrity_bench.py [--projects 1000] [--gib 10] [--creates 200] [--rounds 3] [--keep]

1. ``--projects`` projects are converged by a real controller; each gets one large media file
   and a few small ones (random bytes, so nothing compresses), ``--gib`` in all, committed to
   LFS by the controller's snapshots. Everything lives under /var/tmp and is removed afterwards.
2. Baseline: the page cache is dropped (``echo 3 > /proc/sys/vm/drop_caches``, needs root) and
   every LFS object is read once with ``cat`` (sequential reads of the same files).
3. ``auteur fsck`` after dropping the cache again: throughput against the baseline just before
   it, and its peak RSS (the kernel's high-water mark of the process and its children,
   ``ru_maxrss``). Steps 2 and 3 alternate ``--rounds`` times; the median ratio is the figure.
4. The controller's background pass, unthrottled, from a cold cache: its throughput and the
   controller's peak RSS.
5. Create latency (spec rename -> ready, one at a time), each time from a freshly started
   controller and a cold cache, timed from ``SETTLE`` seconds after its start (and, with the
   pass, once the pass has recorded its first project): without the pass; while another process only reads the LFS
   objects at ``--rate`` bytes/s (what that much disk reading costs by itself); while it reads
   and hashes them (the same work as the pass's, at normal priority); then while the pass runs
   at ``--rate``.

Prints numbers; never asserts on time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, ControllerProcess, ready_count, status_ready, summary, wait

SMALL_FILES = 3
SETTLE = 5.0  # seconds after the controller starts before creates are timed: its start-up is not the pass
SMALL_BYTES = 64 * 1024
# Runs a command as its only child and prints the child's peak RSS (KiB; git's included) last on stderr.
_MEASURED = (
    "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(done.returncode)"
)


def drop_caches() -> bool:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        print(f"could not drop the page cache ({exc}): figures below are warm", file=sys.stderr)
        return False
    return True


def write_random(path: Path, size: int, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 * 1024 * 1024))
            f.write(chunk)
            left -= len(chunk)
    os.utime(path, (mtime, mtime))


def build(ctl: ControllerProcess, projects: int, total: int) -> int:
    """Converge ``projects`` projects and fill them with ``total`` bytes of media; bytes in LFS."""
    names = [f"scrub-{i:05d}" for i in range(projects)]
    for name in names:
        (ctl.specs / f"{name}.yaml").write_text(f"name: {name}\n")
    status = ctl.workspace / ".auteur" / "status"
    wait(lambda: status.is_dir() and ready_count(status) >= projects, 1800, interval=0.2)
    large = total // projects - SMALL_FILES * SMALL_BYTES
    past = time.time() - 60  # settled: the next snapshot takes them at once
    for name in names:
        root = ctl.workspace / name
        write_random(root / "assets" / "styles" / "plate.exr", large, past)
        for k in range(SMALL_FILES):
            write_random(root / "assets" / "storyboards" / f"board-{k}.png", SMALL_BYTES, past)
    wait(lambda: all(status_ready(status / f"{n}.json") and _lfs_count(ctl.workspace / n) == 1 + SMALL_FILES for n in names),
         1800, interval=1.0)  # fmt: skip
    return sum(p.stat().st_size for p in _lfs_objects(ctl.workspace))


def _lfs_count(root: Path) -> int:
    return sum(1 for _ in (root / ".git" / "lfs" / "objects").rglob("*") if _.is_file()) if (root / ".git" / "lfs").is_dir() else 0


def _lfs_objects(workspace: Path) -> list[Path]:
    return sorted(p for p in workspace.glob("*/.git/lfs/objects/*/*/*") if p.is_file())


def baseline_read(workspace: Path, total: int) -> float:
    """Bytes/s of ``cat`` reading every LFS object once, from a cold cache."""
    files = [str(p) for p in _lfs_objects(workspace)]
    drop_caches()
    started = time.perf_counter()
    for i in range(0, len(files), 500):
        subprocess.run(["cat", *files[i : i + 500]], stdout=subprocess.DEVNULL, check=True)
    return total / (time.perf_counter() - started)


def fsck_run(ctl: ControllerProcess) -> tuple[float, int, float, str]:
    """(seconds, bytes read, peak RSS MB, summary line) of ``auteur fsck`` from a cold cache."""
    drop_caches()
    started = time.perf_counter()
    command = [sys.executable, "-c", _MEASURED, sys.executable, "-m", "controller", "fsck"]
    done = subprocess.run(command, env=ctl.env, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    peak = int(done.stderr.strip().splitlines()[-1]) / 1024
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    read = int(last.rsplit(";", 1)[-1].split()[0]) if "bytes read" in last else 0
    return elapsed, read, peak, f"exit {done.returncode}: {last}"


def creates(ctl: ControllerProcess, prefix: str, count: int, until: Callable[[], bool] | None = None) -> list[float]:
    """Latency of spec rename -> ready, one project at a time (stopping early once ``until()``)."""
    status = ctl.workspace / ".auteur" / "status"
    latencies = []
    for i in range(count):
        name = f"{prefix}-{i:04d}"
        (ctl.specs / f".{name}.tmp").write_text(f"name: {name}\n")
        started = time.perf_counter()
        os.rename(ctl.specs / f".{name}.tmp", ctl.specs / f"{name}.yaml")
        wait(lambda n=name: status_ready(status / f"{n}.json"), 60, interval=0.0005)
        latencies.append(time.perf_counter() - started)
        if until is not None and until():
            break
    return latencies


_READER = """
import hashlib, os, sys, time
rate, hashing, files = int(sys.argv[1]), sys.argv[2] == "hash", sys.argv[3:]
started, done = time.monotonic(), 0
for path in files:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(1 << 20):
            if hashing:
                digest.update(chunk)
            done += len(chunk)
            ahead = done / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
"""


def creates_while_reading(ctl: ControllerProcess, env: dict[str, str], count: int, rate: int, hashing: bool) -> list[float]:
    """Creates from a fresh controller (no pass) while another process, at normal priority, reads
    the LFS objects at ``rate`` bytes/s (and hashes them, if ``hashing``): what that much disk
    reading (and sha256 on top) costs the creates by itself."""
    ctl.env.update(env)
    drop_caches()
    ctl.start()
    files = [str(p) for p in _lfs_objects(ctl.workspace)]
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(rate), "hash" if hashing else "read", *files])
    try:
        time.sleep(SETTLE)
        return creates(ctl, f"r{int(time.time() * 1000) % 10**8}", count)
    finally:
        reader.kill()
        reader.wait()
        ctl.stop()


def pass_finished(state: Path) -> bool:
    try:
        return b'"finished_at":null' not in (state / "integrity.json").read_bytes()
    except FileNotFoundError:
        return False


def controller_pass(ctl: ControllerProcess, env: dict[str, str], count: int) -> tuple[float, list[float], float, bool]:
    """Start the controller from a cold cache with ``env``; time ``count`` creates (0: none) and
    its first integrity pass (none when the interval is 0). (pass seconds, create latencies,
    peak RSS MB, whether the pass was still running after the last create)."""
    state = ctl.workspace / ".auteur"
    (state / "integrity.json").unlink(missing_ok=True)
    ctl.env.update(env)
    drop_caches()
    started = time.perf_counter()
    ctl.start()
    if count:
        time.sleep(SETTLE)
        if env["AUTEUR_INTEGRITY_INTERVAL_SECONDS"] != "0":
            wait(lambda: (state / "integrity.json").exists(), 60, interval=0.05)  # under way: a project recorded
    latencies = creates(ctl, f"c{int(time.time() * 1000) % 10**8}", count) if count else []
    running = not pass_finished(state)
    took = 0.0
    if env["AUTEUR_INTEGRITY_INTERVAL_SECONDS"] != "0":
        wait(lambda: pass_finished(state), 3600, interval=0.1)
        took = time.perf_counter() - started
    rss = max(ctl.peak_rss_mb().values(), default=0.0)
    ctl.stop()
    return took, latencies, rss, running


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--gib", type=float, default=10.0)
    parser.add_argument("--creates", type=int, default=200, help="creates timed with and without the pass")
    parser.add_argument("--rate", type=int, default=100 * 1024**2, help="AUTEUR_INTEGRITY_RATE_BYTES while creates are timed")
    parser.add_argument("--keep", action="store_true", help="leave the workspace in place")
    parser.add_argument("--rounds", type=int, default=3, help="cat then fsck, this many times")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="auteur-integrity-", dir="/var/tmp"))
    off = {"AUTEUR_INTEGRITY_INTERVAL_SECONDS": "0", "AUTEUR_RESYNC_SECONDS": "3600", "AUTEUR_SETTLE_SECONDS": "0.2"}
    scrub = dict(off, AUTEUR_INTEGRITY_INTERVAL_SECONDS="1000000", AUTEUR_INTEGRITY_RATE_BYTES="0",
                 AUTEUR_INTEGRITY_PAUSE_SECONDS="0", AUTEUR_INTEGRITY_RECHECK_SECONDS="0")  # fmt: skip
    try:
        ctl = ControllerProcess(base, **off)
        ctl.start()
        started = time.perf_counter()
        total = build(ctl, args.projects, int(args.gib * 1024**3))
        ctl.stop()
        print(f"setup: {args.projects} projects, {total / 1024**3:.2f} GiB in LFS, in {time.perf_counter() - started:.0f}s")

        ratios, speeds = [], []
        for _ in range(args.rounds):  # the disk's own speed moves by 2x within minutes here
            read_speed = baseline_read(ctl.workspace, total)
            seconds, read, peak, line = fsck_run(ctl)
            speeds.append(read_speed)
            ratios.append(read / seconds / read_speed)
            print(f"baseline: cat of every LFS object, cold cache: {read_speed / 1e6:.0f} MB/s")
            print(f"fsck: {line}")
            print(f"fsck: {read / seconds / 1e6:.0f} MB/s in {seconds:.1f}s = {ratios[-1]:.2f}x the baseline; peak RSS {peak:.0f} MB")
        read_speed = statistics.median(speeds)
        print(f"fsck against the cat before it, {args.rounds} round(s): median {statistics.median(ratios):.2f}x "
              f"({', '.join(f'{r:.2f}' for r in ratios)}); cat median {read_speed / 1e6:.0f} MB/s")  # fmt: skip

        took, _, rss, _ = controller_pass(ctl, scrub, 0)
        print(f"pass, unthrottled, nothing else to do: controller start -> pass done {took:.1f}s: {total / took / 1e6:.0f} MB/s "
              f"= {total / took / read_speed:.2f}x the baseline; controller peak RSS {rss:.0f} MB")  # fmt: skip
        _, quiet, _, _ = controller_pass(ctl, off, args.creates)
        reading = creates_while_reading(ctl, off, args.creates, args.rate, hashing=False)
        hashing = creates_while_reading(ctl, off, args.creates, args.rate, hashing=True)
        took, busy, rss, running = controller_pass(ctl, dict(scrub, AUTEUR_INTEGRITY_RATE_BYTES=str(args.rate)), args.creates)
        print(f"pass at AUTEUR_INTEGRITY_RATE_BYTES={args.rate}: {took:.1f}s ({total / took / 1e6:.0f} MB/s); "
              f"controller peak RSS {rss:.0f} MB; still running after the last create: {running}")  # fmt: skip
        print(f"create, fresh controller, cold cache, no pass:  {summary(quiet)}")
        print(f"create, fresh controller, cold cache, another process reads at the same rate: {summary(reading)}")
        print(f"create, fresh controller, cold cache, another process reads and hashes at the same rate: {summary(hashing)}")
        print(f"create, fresh controller, cold cache, pass runs: {summary(busy)}")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
