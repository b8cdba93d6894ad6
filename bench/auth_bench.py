"""What the credential check costs (issue: people and permissions).

    .venv/bin/python bench/auth_bench.py [--projects 10000] [--rounds 4] [--creates 100] [--requests 200]

One workspace filled with ``--projects`` projects, then the embedded stack (``python -m
launcher``) started on it in turn with ``AUTEUR_AUTH=off`` and ``AUTEUR_AUTH=on`` (a bearer
token made with ``auteur token create``), alternating which goes first, ``--rounds`` times.
Each run times sequential creates, the whole list, and one project's GET (the lightest read,
where a per-request cost shows most). Printed: each run, then per mode the median of the
runs' p50 and p99, and the difference on versus off.
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
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_bench import Launcher, fill, time_creates
from common import ROOT, percentile


def timed(http: httpx.Client, path: str, n: int) -> list[float]:
    took = []
    for _ in range(n):
        started = time.perf_counter()
        answer = http.get(path)
        _ = answer.content
        took.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text
    return took


def run(base: Path, mode: str, token: str, round_: int, args: argparse.Namespace) -> dict[str, list[float]]:
    stack = Launcher(base)
    stack.env["AUTEUR_AUTH"] = mode
    headers = {"Authorization": f"Bearer {token}"} if mode == "on" else {}
    with stack, httpx.Client(base_url=stack.url, timeout=120, headers=headers) as http:
        timed(http, "/api/v1/projects/listed-00000", 20)  # warm: the token's one argon2 check is here
        creates, misses = time_creates(http, f"{mode}-{round_}", args.creates)
        assert misses == 0, f"{misses} creates did not answer 201 ready"
        listing = timed(http, "/api/v1/projects", args.requests)
        one = timed(http, "/api/v1/projects/listed-00000", args.requests * 5)
    return {"create": creates, "list": listing, "get one": one}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--creates", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="auteur-auth-bench-"))
    print(f"auth bench: {os.cpu_count()} CPUs, scratch {base}")
    try:
        with Launcher(base) as stack:
            fill(stack, args.projects)
        made = subprocess.run([sys.executable, "-m", "controller", "token", "create", "bench", "--role", "editor"],
                              cwd=ROOT, env=Launcher(base).env, capture_output=True, text=True, check=True)  # fmt: skip
        token = made.stdout.strip()
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for round_ in range(args.rounds):
            for mode in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
                for what, took in run(base, mode, token, round_, args).items():
                    ms = [t * 1000 for t in took]
                    p50, p99 = percentile(ms, 50), percentile(ms, 99)
                    results.setdefault((what, mode), []).append((p50, p99))
                    print(f"round {round_ + 1} auth {mode}: {what}: n={len(ms)} p50={p50:.2f}ms p99={p99:.2f}ms", flush=True)
        print()
        print("| request | auth off: p50 / p99 (median of runs) | auth on: p50 / p99 | on - off at p50 | on - off at p99 |")
        print("| --- | --- | --- | --- | --- |")
        for what in ("create", "list", "get one"):
            off = [statistics.median(v) for v in zip(*results[what, "off"], strict=True)]
            on = [statistics.median(v) for v in zip(*results[what, "on"], strict=True)]
            print(f"| {what} | {off[0]:.2f} / {off[1]:.2f} ms | {on[0]:.2f} / {on[1]:.2f} ms | "
                  f"{on[0] - off[0]:+.2f} ms | {on[1] - off[1]:+.2f} ms |")  # fmt: skip
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
