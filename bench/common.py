"""Helpers shared by the benchmarks: temp workspaces, a controller process, statistics.

Benchmarks print numbers; they never assert on wall-clock time.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

# The checkout whose code is measured: this one, or AUTEUR_BENCH_ROOT (bench/regress.py runs
# these same scripts against an older checkout that way, so both are timed by one harness).
ROOT = Path(os.environ.get("AUTEUR_BENCH_ROOT") or Path(__file__).resolve().parents[1]).resolve()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    return (
        f"n={len(values)} median={statistics.median(values) * scale:.1f}{unit} "
        f"p90={percentile(values, 90) * scale:.1f}{unit} p99={percentile(values, 99) * scale:.1f}{unit} "
        f"max={max(values) * scale:.1f}{unit}"
    )


class ControllerProcess:
    """``python -m controller run`` on a scratch workspace."""

    def __init__(self, base: Path, **env: str) -> None:
        self.specs = base / "specs"
        self.workspace = base / "workspace"
        self.specs.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, AUTEUR_SPECS=str(self.specs), AUTEUR_WORKSPACE=str(self.workspace), PYTHONPATH=str(ROOT))
        self.env.update(env)
        self.log = open(base / "controller.log", "w")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait_heartbeat: bool = True) -> None:
        beat = self.workspace / ".auteur" / "heartbeat.json"
        if beat.exists():
            beat.unlink()
        self.proc = subprocess.Popen([sys.executable, "-m", "controller", "run"], env=self.env, stdout=self.log, stderr=self.log)
        if wait_heartbeat:
            wait(lambda: beat.exists(), 120)

    def heartbeat(self) -> dict:
        return json.loads((self.workspace / ".auteur" / "heartbeat.json").read_bytes())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(120)

    def pids(self) -> list[int]:
        """The controller and its pool processes."""
        assert self.proc is not None
        try:
            return [self.proc.pid, *(child.pid for child in psutil.Process(self.proc.pid).children(recursive=True))]
        except psutil.NoSuchProcess:
            return [self.proc.pid]

    def peak_rss_mb(self) -> dict[int, float]:
        # The kernel's high-water mark (VmHWM): psutil reports only the current RSS.
        out = {}
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        out[pid] = int(line.split()[1]) / 1024
            except OSError:
                pass
        return out

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.NoSuchProcess:
                continue
            # with the children it has waited for (git, git-lfs): their CPU is its cost too
            total += times.user + times.system + times.children_user + times.children_system
        return total


def wait(predicate, timeout: float, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s")


def ready_count(status_dir: Path) -> int:
    n = 0
    for name in os.listdir(status_dir):
        if name.startswith("."):
            continue
        try:
            if b'"status":"ready"' in (status_dir / name).read_bytes():
                n += 1
        except FileNotFoundError:
            pass
    return n


def status_ready(path: Path) -> bool:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return False
    return b'"status":"ready"' in data and b'"is_dirty":false' in data
